#include "train/trainer.h"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "model/config.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"
#include "train/dataset.h"
#include "train/model.h"
#include "train/ops/optim.h"
#include "train/rng.h"

#ifndef R1_GIT_COMMIT
#define R1_GIT_COMMIT "unknown"
#endif
#ifndef R1_BUILD_FLAGS
#define R1_BUILD_FLAGS "unknown"
#endif

namespace r1::train {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

// ---- configuration --------------------------------------------------------------------------------

ojson default_model() {
  return {{"architectures", {"DeepseekV3ForCausalLM"}}, {"model_type", "deepseek_v3"}, {"vocab_size", 262},
          {"hidden_size", 64}, {"intermediate_size", 128}, {"moe_intermediate_size", 32},
          {"num_hidden_layers", 2}, {"num_attention_heads", 2}, {"num_key_value_heads", 2},
          {"q_lora_rank", 48}, {"kv_lora_rank", 32}, {"qk_nope_head_dim", 16}, {"qk_rope_head_dim", 8},
          {"v_head_dim", 16}, {"n_routed_experts", 4}, {"num_experts_per_tok", 2}, {"n_shared_experts", 1},
          {"first_k_dense_replace", 1}, {"moe_layer_freq", 1}, {"n_group", 1}, {"topk_group", 1},
          {"topk_method", "noaux_tc"}, {"scoring_func", "sigmoid"}, {"norm_topk_prob", true},
          {"routed_scaling_factor", 1.0}, {"num_nextn_predict_layers", 1}, {"tie_word_embeddings", false},
          {"max_position_embeddings", 1024}, {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0},
          {"bos_token_id", 256}, {"eos_token_id", 257}, {"torch_dtype", "float32"}};
}

// Recursively overlays `user` on `base`; a key the defaults do not have is an error (a typo would
// otherwise silently train with the default). The model section is taken as given: it is config.json.
void overlay(ojson& base, const json& user, const std::string& where) {
  for (const auto& [k, v] : user.items()) {
    if (!base.contains(k)) fail("{}: unknown key '{}{}'", "training config", where, k);
    if (base[k].is_object() && v.is_object() && k != "model") overlay(base[k], v, where + k + ".");
    else base[k] = v;
  }
}

// ---- the tokenizer: bytes plus the format's special tokens ------------------------------------------

const char* const kSpecials[] = {"<s>", "</s>", "<think>", "</think>", "<answer>", "</answer>"};

// The training text of a problem: the question, then the worked solution as thought and the answer.
// The chat template below renders exactly this prefix for a user message, so the trained model runs
// under `r1 chat` and `r1 serve` in the format it learnt.
std::string prompt_text(const Problem& p) { return "User: " + p.prompt + "\nAssistant: <think>"; }
std::string completion_text(const Problem& p) {
  return "\n" + p.solution + "\n</think>\n<answer>" + p.answer + "</answer>";
}

const char* kChatTemplate =
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}User: {{ m['content'] }}\n"
    "{% elif m['role'] == 'assistant' %}Assistant: {{ m['content'] }}{{ eos_token }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant: <think>{% endif %}";

json tokenizer_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[tok::bytes_to_byte_level(std::string(1, char(b)))] = b;
  json added = json::array();
  for (int i = 0; i < 6; ++i) {
    const bool special = i < 2;
    added.push_back({{"id", 256 + i}, {"content", kSpecials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", special}});
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}},
          {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                     {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                     {"vocab", vocab}, {"merges", json::array()}}}};
}

json tokenizer_config_json() {
  return {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"add_bos_token", true}, {"add_eos_token", false},
          {"model_max_length", 1024}, {"tokenizer_class", "PreTrainedTokenizerFast"}, {"chat_template", kChatTemplate}};
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) fail("{}: cannot write", path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot read", path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- examples -----------------------------------------------------------------------------------

struct Example {
  std::vector<int32_t> tokens, targets;  // targets[t]: the token after t, or -1 (not counted / padding)
};

Example make_example(const tok::Tokenizer& tok, const Problem& p, bool sft, int64_t seq_len) {
  std::vector<int32_t> prompt = tok.encode(prompt_text(p), false);
  prompt.insert(prompt.begin(), 256);  // <s>
  std::vector<int32_t> completion = tok.encode(completion_text(p), false);
  completion.push_back(257);  // </s>
  Example e;
  e.tokens = prompt;
  e.tokens.insert(e.tokens.end(), completion.begin(), completion.end());
  if (int64_t(e.tokens.size()) > seq_len + 1) e.tokens.resize(size_t(seq_len + 1));
  e.targets.assign(e.tokens.begin() + 1, e.tokens.end());
  e.tokens.pop_back();
  if (sft) {  // the prompt's next-token predictions are not counted: only the answer is learnt
    for (size_t t = 0; t + 1 < prompt.size() && t < e.targets.size(); ++t) e.targets[t] = -1;
  }
  return e;
}

// The example of (step, slot): SplitMix64 over seed, step and slot, reduced modulo the set size.
size_t example_index(uint64_t seed, int64_t step, int64_t slot, size_t n) {
  Rng r(seed ^ (uint64_t(step) * 0x9e3779b97f4a7c15ull) ^ (uint64_t(slot) * 0xbf58476d1ce4e5b9ull));
  return size_t(r.below(n));
}

std::string machine() {
  utsname u{};
  uname(&u);
  std::string cpu = "unknown";
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  return fmt::format("{} {} {}, {} ({} cpus)", u.sysname, u.release, u.machine, cpu, sysconf(_SC_NPROCESSORS_ONLN));
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

ojson default_train_config() {
  return {{"model", default_model()},
          {"data",
           {{"tasks", {{{"task", "arithmetic"}, {"count", 2000}, {"seed", 1}, {"eval_count", 100}, {"eval_seed", 2},
                        {"options", json::object()}}}}}},
          {"train",
           {{"seed", 1}, {"steps", 200}, {"batch", 8}, {"seq_len", 384}, {"lr", 3e-3}, {"min_lr", 3e-4},
            {"warmup", 20}, {"schedule", "cosine"}, {"weight_decay", 0.1}, {"beta1", 0.9}, {"beta2", 0.95},
            {"eps", 1e-8}, {"clip", 1.0}, {"mtp_lambda", 0.3}, {"balance_alpha", 1e-4}, {"bias_gamma", 1e-3},
            {"eval_every", 50}, {"eval_examples", 32}, {"checkpoint_every", 100}, {"threads", 2},
            {"init_from", ""}}}};
}

std::string run_training(const TrainRequest& req) {
  if (req.stage != "pretrain" && req.stage != "sft") fail("r1 train: stage '{}' (expected pretrain or sft)", req.stage);
  ojson cfg = default_train_config();
  overlay(cfg, req.config, "");
  if (req.threads > 0) cfg["train"]["threads"] = req.threads;
  const ojson& t = cfg["train"];
  const int64_t steps = t["steps"], batch = t["batch"], seq_len = t["seq_len"];
  const uint64_t seed = t["seed"];
  if (steps < 1 || batch < 1 || seq_len < 8) fail("training config: steps, batch must be >= 1 and seq_len >= 8");
  const bool sft = req.stage == "sft";

  const fs::path run = req.out_dir;
  fs::create_directories(run / "data");
  fs::create_directories(run / "checkpoints");
  const ModelConfig mc = parse_model_config(json::parse(cfg["model"].dump()), req.config_path + ": model");
  if (mc.vocab_size < 262) fail("training config: model.vocab_size must be at least 262 (256 bytes + 6 special tokens)");

  // Tokenizer and data, all recorded.
  const std::string tok_json = tokenizer_json().dump(), tok_cfg = tokenizer_config_json().dump(2);
  const tok::Tokenizer tok = tok::Tokenizer::from_json(tok_json, tok_cfg, "r1 train tokenizer");
  std::vector<Problem> train_set, eval_set;
  std::string manifest;
  for (const auto& task : cfg["data"]["tasks"]) {
    DataRequest d;
    d.task = task.value("task", "");
    d.options = json::parse(task.value("options", ojson::object()).dump());
    d.count = task.value("count", uint64_t(0));
    d.seed = task.value("seed", uint64_t(1));
    d.eval_count = task.value("eval_count", uint64_t(0));
    d.eval_seed = task.value("eval_seed", d.seed + 1);
    d.out = (run / "data" / (d.task + ".jsonl")).string();
    write_dataset(d);
    const auto train = read_jsonl(d.out);
    train_set.insert(train_set.end(), train.begin(), train.end());
    if (d.eval_count > 0) {
      const auto ev = read_jsonl(eval_path_for(d.out));
      eval_set.insert(eval_set.end(), ev.begin(), ev.end());
    }
  }
  if (train_set.empty()) fail("training config: data.tasks produced no training examples");
  const json data_manifest = json::parse(read_file(run / "data" / "manifest.json"));
  for (const auto& f : data_manifest.at("files")) manifest += f.dump() + "\n";
  manifest += ojson{{"file", "tokenizer.json"}, {"kind", "tokenizer"}, {"description", "byte-level BPE, 256 bytes + 6 special tokens, no merges"},
                    {"sha256", sha256_hex(tok_json)}}.dump() + "\n";
  write_file(run / "data" / "manifest.jsonl", manifest);

  std::vector<Example> train_ex, eval_ex;
  for (const auto& p : train_set) train_ex.push_back(make_example(tok, p, sft, seq_len));
  for (const auto& p : eval_set) eval_ex.push_back(make_example(tok, p, sft, seq_len));

  // The model and the optimizer.
  ThreadPool pool(t["threads"].get<int>());
  TrainModel<float> m(mc, seq_len, {double(t["mtp_lambda"]), double(t["balance_alpha"])});
  std::vector<float> opt_m(m.weights().size(), 0.0f), opt_v(m.weights().size(), 0.0f);
  int64_t start = 0;
  if (!req.resume.empty()) {
    const fs::path ck = req.resume;
    m.load((ck / "model.safetensors").string());
    const json state = json::parse(read_file(ck / "state.json"));
    start = state.at("step").get<int64_t>();
    m.load((ck / "optimizer" / "m.safetensors").string(), opt_m);
    m.load((ck / "optimizer" / "v.safetensors").string(), opt_v);
  } else if (!t["init_from"].get<std::string>().empty()) {  // e.g. SFT from a pre-trained checkpoint
    m.load((fs::path(t["init_from"].get<std::string>()) / "model.safetensors").string());
  } else {
    m.init(seed);
  }

  const double t0 = now_s();
  const std::string git = R1_GIT_COMMIT;
  ojson run_json = {{"stage", req.stage}, {"config", cfg}, {"config_file", req.config_path}, {"resumed_from", req.resume},
                    {"git_commit", git}, {"build", fmt::format("{} {}, {}", __VERSION__, __DATE__, R1_BUILD_FLAGS)},
                    {"machine", machine()}, {"threads", pool.size()}, {"parameters", m.weights().size()},
                    {"train_examples", train_ex.size()}, {"eval_examples", eval_ex.size()},
                    {"data_order", "step s, slot b: example SplitMix64-seeded xoshiro(seed ^ s*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9).below(N)"}};
  write_file(run / "run.json", run_json.dump(2) + "\n");

  AdamW adam{double(t["beta1"]), double(t["beta2"]), double(t["eps"]), double(t["weight_decay"])};
  const CosineSchedule cosine{double(t["lr"]), double(t["min_lr"]), int64_t(t["warmup"]), steps};
  if (t["schedule"] != "cosine") fail("training config: train.schedule '{}' (supported: cosine)", t["schedule"].dump());
  const std::vector<std::string> bias_names = m.router_bias_names();
  std::ofstream metrics(run / "metrics.jsonl", start > 0 ? std::ios::app : std::ios::trunc);
  std::ofstream evals(run / "eval.jsonl", start > 0 ? std::ios::app : std::ios::trunc);
  const int64_t eval_every = t["eval_every"], ckpt_every = t["checkpoint_every"];

  auto evaluate = [&](int64_t step) {
    if (eval_ex.empty()) return;
    const size_t n = std::min<size_t>(eval_ex.size(), size_t(int64_t(t["eval_examples"])));
    double loss = 0;
    int64_t counted = 0;
    for (size_t i = 0; i < n; ++i) {
      const Example& e = eval_ex[i];
      const Losses l = m.forward(e.tokens.data(), e.targets.data(), int64_t(e.tokens.size()), pool);
      loss += l.main * double(l.counted);
      counted += l.counted;
    }
    evals << ojson{{"step", step}, {"eval_loss", counted ? loss / double(counted) : 0.0}, {"examples", n}}.dump() << "\n";
    evals.flush();
  };
  auto checkpoint = [&](int64_t step) {
    const fs::path dir = run / "checkpoints" / fmt::format("step-{}", step);
    fs::create_directories(dir);
    write_file(dir / "config.json", cfg["model"].dump(2) + "\n");
    write_file(dir / "tokenizer.json", tok_json);
    write_file(dir / "tokenizer_config.json", tok_cfg);
    m.save((dir / "model.safetensors").string());
    // AdamW's moments, in the parameters' layout and names; in a folder of their own so the checkpoint
    // directory stays a model directory (every top-level *.safetensors there is weights).
    fs::create_directories(dir / "optimizer");
    m.save((dir / "optimizer" / "m.safetensors").string(), opt_m);
    m.save((dir / "optimizer" / "v.safetensors").string(), opt_v);
    write_file(dir / "state.json", ojson{{"step", step}, {"stage", req.stage}, {"seed", seed}}.dump() + "\n");
    std::string sums;
    for (const char* f : {"config.json", "model.safetensors", "optimizer/m.safetensors", "optimizer/v.safetensors",
                          "state.json", "tokenizer.json", "tokenizer_config.json"}) {
      sums += sha256_hex(read_file(dir / f)) + "  " + f + "\n";
    }
    write_file(dir / "SHA256SUMS", sums);
    return dir.string();
  };

  std::string last;
  for (int64_t step = start; step < steps; ++step) {
    const double ts = now_s();
    m.zero_grads();
    Losses sum;
    int64_t tokens = 0;
    std::vector<std::vector<int64_t>> load;
    for (int64_t b = 0; b < batch; ++b) {
      const Example& e = train_ex[example_index(seed, step, b, train_ex.size())];
      const int64_t T = int64_t(e.tokens.size());
      const Losses l = m.forward(e.tokens.data(), e.targets.data(), T, pool);
      m.backward(1.0 / double(batch), pool);
      sum.main += l.main / double(batch);
      sum.mtp += l.mtp / double(batch);
      sum.balance += l.balance / double(batch);
      sum.total += l.total / double(batch);
      tokens += T;
      const auto lb = m.expert_load();
      if (load.empty()) load = lb;
      else for (size_t i = 0; i < lb.size(); ++i) for (size_t e2 = 0; e2 < lb[i].size(); ++e2) load[i][e2] += lb[i][e2];
    }
    std::vector<std::span<float>> grads;
    for (const ParamInfo& p : m.params()) {
      if (p.role != TensorRole::RouterBias) grads.emplace_back(m.grads().data() + p.offset, size_t(p.size));
    }
    const double norm = clip_grad_norm(std::span<const std::span<float>>(grads), double(t["clip"]));
    const double lr = cosine.at(step);
    for (const ParamInfo& p : m.params()) {
      if (p.role == TensorRole::RouterBias) continue;  // moved by the load rule below, not by gradients
      AdamW a = adam;
      if (p.role == TensorRole::Norm || p.role == TensorRole::Bias) a.weight_decay = 0;
      adamw_step(a, step + 1, lr, m.weights().data() + p.offset, m.grads().data() + p.offset, opt_m.data() + p.offset,
                 opt_v.data() + p.offset, p.size);
    }
    // Auxiliary-loss-free balancing (V3 §2.1.2): nudge each expert's selection bias toward equal load.
    ojson bias_range = ojson::array();
    for (size_t i = 0; i < bias_names.size() && i < load.size(); ++i) {
      float* bias = m.param(bias_names[i]);
      double mean = 0;
      for (int64_t x : load[i]) mean += double(x);
      mean /= double(load[i].size());
      float lo = 1e30f, hi = -1e30f;
      for (size_t e2 = 0; e2 < load[i].size(); ++e2) {
        const double diff = mean - double(load[i][e2]);
        bias[e2] += float(double(t["bias_gamma"]) * (diff > 0 ? 1.0 : diff < 0 ? -1.0 : 0.0));
        lo = std::min(lo, bias[e2]);
        hi = std::max(hi, bias[e2]);
      }
      bias_range.push_back({lo, hi});
    }
    const double dt = now_s() - ts;
    metrics << ojson{{"step", step + 1}, {"loss", sum.total}, {"main_loss", sum.main}, {"mtp_loss", sum.mtp},
                     {"balance_loss", sum.balance}, {"lr", lr}, {"grad_norm", norm}, {"tokens", tokens},
                     {"tokens_per_s", double(tokens) / std::max(1e-9, dt)}, {"wall_s", now_s() - t0},
                     {"expert_load", load}, {"router_bias_range", bias_range}}.dump() << "\n";
    metrics.flush();
    if (eval_every > 0 && (step + 1) % eval_every == 0) evaluate(step + 1);
    if ((ckpt_every > 0 && (step + 1) % ckpt_every == 0) || step + 1 == steps) last = checkpoint(step + 1);
  }
  if (last.empty()) last = checkpoint(steps);
  std::error_code ec;
  fs::remove(run / "final", ec);
  fs::create_directory_symlink(fs::relative(last, run), run / "final", ec);
  return last;
}

}  // namespace r1::train
