// The trainer's model as tests/reference/check_train_grads.py sees it:
//
//   r1_train_tool init CONFIG.json OUT_DIR SEED          writes OUT_DIR/config.json + model.safetensors (F32)
//   r1_train_tool grad MODEL_DIR TOKENS TARGETS LAMBDA ALPHA F64|F32
//       prints {"loss": {...}, "logits": [[...]], "grads": {name: [...]}} for one sequence (TOKENS and
//       TARGETS comma-separated, target -1 = not counted), backward with scale 1.
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
    std::fprintf(stderr, "usage: r1_train_tool init CONFIG OUT_DIR SEED | grad MODEL_DIR TOKENS TARGETS LAMBDA ALPHA F64|F32\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1_train_tool: %s\n", e.what());
    return 1;
  }
}
