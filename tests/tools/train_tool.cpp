// The trainer's model as tests/reference/check_train_grads.py sees it:
//
//   r1_train_tool init CONFIG.json OUT_DIR SEED          writes OUT_DIR/config.json + model.safetensors (F32)
//   r1_train_tool grad MODEL_DIR TOKENS TARGETS LAMBDA ALPHA F64|F32
//       prints {"loss": {...}, "logits": [[...]], "grads": {name: [...]}} for one sequence (TOKENS and
//       TARGETS comma-separated, target -1 = not counted), backward with scale 1.
//   r1_train_tool grpo-grad MODEL_DIR INPUT.json
//       GRPO's objective (train/grpo_loss.h) over a group of sequences, through the float64 model, as
//       the trainer computes it: INPUT {"alpha", "options": {clip_low, clip_high, kl_beta, length_norm,
//       max_tokens, advantage_std}, "sequences": [{tokens, targets, old_logp, ref_logp, reward}]}; the
//       completion is every counted target. Prints {"advantages", "logp", "loss", "kl", "clip_low_frac",
//       "clip_high_frac", "grads": {name: [...]}}.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/config.h"
#include "train/grpo_loss.h"
#include "train/model.h"

namespace {

std::vector<int32_t> ids(const std::string& text) {
  std::vector<int32_t> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(int32_t(std::stol(item)));
  return out;
}

r1::ModelConfig read_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) r1::fail("{}: cannot read", path);
  return r1::parse_model_config(nlohmann::json::parse(in), path);
}

template <class F>
int grad(const std::string& dir, const std::vector<int32_t>& tokens, const std::vector<int32_t>& targets,
         double lambda, double alpha) {
  const r1::ModelConfig cfg = read_config(dir + "/config.json");
  r1::train::TrainModel<F> m(cfg, int64_t(tokens.size()), {lambda, alpha});
  m.load(dir + "/model.safetensors");
  r1::ThreadPool pool(2);
  const r1::train::Losses l = m.forward(tokens.data(), targets.data(), int64_t(tokens.size()), pool);
  m.zero_grads();
  m.backward(1.0, pool);
  std::string out = fmt::format(R"({{"loss": {{"total": {:.17g}, "main": {:.17g}, "mtp": {:.17g}, "balance": {:.17g}}}, "logits": [)",
                                l.total, l.main, l.mtp, l.balance);
  const int64_t V = cfg.vocab_size;
  for (size_t t = 0; t < tokens.size(); ++t) {
    out += t ? ",[" : "[";
    for (int64_t v = 0; v < V; ++v) out += fmt::format("{}{:.17g}", v ? "," : "", double(m.logits()[int64_t(t) * V + v]));
    out += "]";
  }
  out += R"(], "grads": {)";
  bool first = true;
  for (const auto& p : m.params()) {
    out += fmt::format(R"({}"{}": [)", first ? "" : ", ", p.name);
    first = false;
    for (int64_t i = 0; i < p.size; ++i) out += fmt::format("{}{:.17g}", i ? "," : "", double(m.grads()[size_t(p.offset + i)]));
    out += "]";
  }
  out += "}}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

std::string numbers(const std::vector<double>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += fmt::format("{}{:.17g}", i ? "," : "", v[i]);
  return out + "]";
}

int grpo_grad(const std::string& dir, const std::string& input_path) {
  using namespace r1::train;
  std::ifstream in(input_path);
  const nlohmann::json input = nlohmann::json::parse(in);
  const nlohmann::json& o = input.at("options");
  GrpoLossOptions opt;
  opt.clip_low = o.at("clip_low");
  opt.clip_high = o.at("clip_high");
  opt.kl_beta = o.at("kl_beta");
  opt.length_norm = parse_length_norm(o.at("length_norm"));
  opt.max_tokens = o.at("max_tokens");
  const auto& seqs = input.at("sequences");
  std::vector<double> rewards;
  for (const auto& q : seqs) rewards.push_back(q.at("reward"));
  const std::vector<double> adv = group_advantages(rewards, o.at("advantage_std"));

  const r1::ModelConfig cfg = read_config(dir + "/config.json");
  TrainModel<double> m(cfg, 256, {0.0, input.at("alpha").get<double>()});
  m.load(dir + "/model.safetensors");
  r1::ThreadPool pool(2);
  m.zero_grads();
  int64_t all_tokens = 0;
  for (const auto& q : seqs) all_tokens += int64_t(q.at("old_logp").size());
  GrpoLossStats st;
  std::string logps = "[";
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto tokens = seqs[i].at("tokens").get<std::vector<int32_t>>();
    const auto targets = seqs[i].at("targets").get<std::vector<int32_t>>();
    const auto old_lp = seqs[i].at("old_logp").get<std::vector<double>>();
    const auto ref_lp = seqs[i].at("ref_logp").get<std::vector<double>>();
    m.forward(tokens.data(), targets.data(), int64_t(tokens.size()), pool);
    std::vector<double> all, lp, where;
    m.target_logprobs(all);
    for (size_t t = 0; t < targets.size(); ++t) {
      if (targets[t] >= 0) {
        lp.push_back(all[t]);
        where.push_back(double(t));
      }
    }
    logps += (i ? "," : "") + numbers(lp);
    std::vector<double> dlogp;
    grpo_sequence_loss({lp, old_lp, ref_lp, adv[i]}, opt,
                       sequence_weight(opt, int64_t(lp.size()), int64_t(seqs.size()), all_tokens), st, dlogp);
    std::vector<double> w(tokens.size(), 0.0);
    for (size_t k = 0; k < dlogp.size(); ++k) w[size_t(where[k])] = -dlogp[k];
    m.backward(1.0 / double(seqs.size()), w.data(), pool);
  }
  finish_stats(st);
  std::string out = fmt::format(R"({{"advantages": {}, "logp": {}], "loss": {:.17g}, "kl": {:.17g}, "clip_low_frac": {:.17g}, "clip_high_frac": {:.17g}, "grads": {{)",
                                numbers(adv), logps, st.loss, st.kl, st.clip_low_frac, st.clip_high_frac);
  bool first = true;
  for (const auto& p : m.params()) {
    out += fmt::format(R"({}"{}": )", first ? "" : ", ", p.name);
    first = false;
    out += numbers(std::vector<double>(m.grads().begin() + p.offset, m.grads().begin() + p.offset + p.size));
  }
  out += "}}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> a(argv + 1, argv + argc);
    if (a.size() == 4 && a[0] == "init") {
      const r1::ModelConfig cfg = read_config(a[1]);
      r1::train::TrainModel<float> m(cfg, 1);
      m.init(std::stoull(a[3]));
      std::ifstream in(a[1]);
      std::ofstream(a[2] + "/config.json") << in.rdbuf();
      m.save(a[2] + "/model.safetensors");
      return 0;
    }
    if (a.size() == 7 && a[0] == "grad") {
      const auto tokens = ids(a[2]), targets = ids(a[3]);
      if (tokens.size() != targets.size()) r1::fail("TOKENS and TARGETS differ in length");
      if (a[6] == "F64") return grad<double>(a[1], tokens, targets, std::stod(a[4]), std::stod(a[5]));
      return grad<float>(a[1], tokens, targets, std::stod(a[4]), std::stod(a[5]));
    }
    if (a.size() == 3 && a[0] == "grpo-grad") return grpo_grad(a[1], a[2]);
    std::fprintf(stderr, "usage: r1_train_tool init CONFIG OUT_DIR SEED | grad MODEL_DIR TOKENS TARGETS LAMBDA ALPHA F64|F32"
                         " | grpo-grad MODEL_DIR INPUT.json\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1_train_tool: %s\n", e.what());
    return 1;
  }
}
