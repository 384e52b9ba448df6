#include "train/stage.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "train/dataset.h"
#include "train/rng.h"

#include "r1_git_commit.h"  // generated at build time (cmake/git_commit.cmake)
#ifndef R1_BUILD_FLAGS
#define R1_BUILD_FLAGS "unknown"
#endif

namespace r1::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

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
          {"bos_token_id", kBos}, {"eos_token_id", kEos}, {"torch_dtype", "float32"}};
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

// The chat template renders a user turn exactly as training's prompt_text, so the trained model runs
// under `r1 chat` and `r1 serve` in the format it learnt.
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

double cpu_s() {  // user + system time of every thread of the process
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

}  // namespace

tok::Tokenizer training_tokenizer() {
  return tok::Tokenizer::from_json(tokenizer_json().dump(), tokenizer_config_json().dump(2), "r1 train tokenizer");
}

ojson default_train_config() {
  return {{"model", default_model()},
          {"data",
           {{"tasks", {{{"task", "arithmetic"}, {"count", 2000}, {"seed", 1}, {"eval_count", 100}, {"eval_seed", 2},
                        {"options", json::object()}}}}}},
          {"train",
           {{"seed", 1}, {"steps", 200}, {"batch", 8}, {"seq_len", 384}, {"lr", 3e-3}, {"min_lr", 3e-4},
            {"warmup", 20}, {"schedule", "cosine"}, {"decay_steps", 0}, {"weight_decay", 0.1}, {"beta1", 0.9},
            {"beta2", 0.95}, {"eps", 1e-8}, {"clip", 1.0}, {"mtp_lambda", 0.3}, {"balance_alpha", 1e-4},
            {"bias_gamma", 1e-3}, {"eval_every", 50}, {"eval_examples", 32}, {"checkpoint_every", 100},
            {"threads", 2}, {"init_from", ""}}},
          // GRPO (DeepSeekMath §4.1, R1 §2.2). The defaults are the original GRPO; Dr. GRPO is
          // advantage_std false + length_norm "constant"; DAPO is clip_high 0.28, kl_beta 0,
          // dynamic_sampling true, length_norm "token".
          {"grpo",
           {{"group_size", 8}, {"prompts_per_step", 8}, {"max_tokens", 256}, {"temperature", 1.0}, {"epochs", 1},
            {"clip_low", 0.2}, {"clip_high", 0.2}, {"kl_beta", 0.04}, {"ref_reset_every", 0},
            {"advantage_std", true}, {"length_norm", "sequence"}, {"dynamic_sampling", false},
            {"max_sample_rounds", 3}, {"reward", "rules"}, {"accuracy_weight", 1.0}, {"format_weight", 0.1},
            {"rollouts_logged", 64}}}};
}

// ---- the text format ------------------------------------------------------------------------------

std::vector<int32_t> prompt_tokens(const tok::Tokenizer& tok, const Problem& p) {
  std::vector<int32_t> ids = tok.encode("User: " + p.prompt + "\nAssistant: <think>", false);
  ids.insert(ids.begin(), kBos);
  return ids;
}

std::vector<int32_t> completion_tokens(const tok::Tokenizer& tok, const Problem& p) {
  // An empty solution is a direct answer: "<think>\n</think>" (the think block of a model not thinking).
  const std::string think = p.solution.empty() ? "\n" : "\n" + p.solution + "\n";
  std::vector<int32_t> ids = tok.encode(think + "</think>\n<answer>" + p.answer + "</answer>", false);
  ids.push_back(kEos);
  return ids;
}

std::string scored_text(const tok::Tokenizer& tok, const std::vector<int32_t>& completion) {
  std::vector<int32_t> ids(completion);
  if (!ids.empty() && ids.back() == kEos) ids.pop_back();
  return "<think>" + tok.decode(ids);
}

uint64_t stream_seed(uint64_t seed, int64_t step, int64_t slot, uint64_t k) {
  return seed ^ (uint64_t(step) * 0x9e3779b97f4a7c15ull) ^ (uint64_t(slot) * 0xbf58476d1ce4e5b9ull) ^
         (k * 0x94d049bb133111ebull);
}

size_t example_index(uint64_t seed, int64_t step, int64_t slot, size_t n) {
  Rng r(stream_seed(seed, step, slot));
  return size_t(r.below(n));
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot read", path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) fail("{}: cannot write", path.string());
}

// ---- the stage ------------------------------------------------------------------------------------

Stage::Stage(const TrainRequest& req)
    : req_(req),
      cfg_(default_train_config()),
      dir_(req.out_dir),
      tok_json_(tokenizer_json().dump()),
      tok_cfg_(tokenizer_config_json().dump(2)),
      tok_(training_tokenizer()),
      wall0_(seconds_now()),
      cpu0_(cpu_s()) {
  overlay(cfg_, req.config, "");
  if (req.threads > 0) cfg_["train"]["threads"] = req.threads;
  fs::create_directories(dir_ / "data");
  fs::create_directories(dir_ / "checkpoints");
  model_ = parse_model_config(json::parse(cfg_["model"].dump()), req.config_path + ": model");
  if (model_.vocab_size < 262) fail("training config: model.vocab_size must be at least 262 (256 bytes + 6 special tokens)");

  std::string manifest;
  static const std::set<std::string> kTaskKeys = {"task", "count", "seed", "eval_count", "eval_seed", "options",
                                                  "worked_fraction"};
  for (const auto& task : cfg_["data"]["tasks"]) {
    if (!task.is_object()) fail("training config: data.tasks: expected objects");
    for (const auto& [k, v] : task.items()) {
      if (!kTaskKeys.contains(k)) fail("training config: unknown key 'data.tasks[].{}'", k);
    }
    DataRequest d;
    d.task = task.value("task", "");
    d.options = json::parse(task.value("options", ojson::object()).dump());
    d.count = task.value("count", uint64_t(0));
    d.seed = task.value("seed", uint64_t(1));
    d.eval_count = task.value("eval_count", uint64_t(0));
    d.eval_seed = task.value("eval_seed", d.seed + 1);
    d.worked_fraction = task.value("worked_fraction", 1.0);
    d.out = (dir_ / "data" / (d.task + ".jsonl")).string();
    write_dataset(d);
    const auto train = read_jsonl(d.out);
    train_set_.insert(train_set_.end(), train.begin(), train.end());
    if (d.eval_count > 0) {
      const auto ev = read_jsonl(eval_path_for(d.out));
      eval_set_.insert(eval_set_.end(), ev.begin(), ev.end());
    }
  }
  if (train_set_.empty()) fail("training config: data.tasks produced no training examples");
  const json data_manifest = json::parse(read_file(dir_ / "data" / "manifest.json"));
  for (const auto& f : data_manifest.at("files")) manifest += f.dump() + "\n";
  manifest += ojson{{"file", "tokenizer.json"}, {"kind", "tokenizer"},
                    {"description", "byte-level BPE, 256 bytes + 6 special tokens, no merges"},
                    {"sha256", sha256_hex(tok_json_)}}.dump() + "\n";
  write_file(dir_ / "data" / "manifest.jsonl", manifest);
}

int64_t Stage::start(TrainModel<float>& m, std::vector<float>& opt_m, std::vector<float>& opt_v) const {
  opt_m.assign(m.weights().size(), 0.0f);
  opt_v.assign(m.weights().size(), 0.0f);
  if (!req_.resume.empty()) {
    const fs::path ck = req_.resume;
    m.load((ck / "model.safetensors").string());
    m.load((ck / "optimizer" / "m.safetensors").string(), opt_m);
    m.load((ck / "optimizer" / "v.safetensors").string(), opt_v);
    const json state = json::parse(read_file(ck / "state.json"));
    if (state.value("stage", "") != req_.stage) {
      fail("{}: a {} checkpoint cannot resume a {} run", (ck / "state.json").string(), state.value("stage", "?"), req_.stage);
    }
    return state.at("step").get<int64_t>();
  }
  const std::string from = train()["init_from"];
  if (!from.empty()) m.load((fs::path(from) / "model.safetensors").string());  // e.g. SFT after pre-training
  else m.init(train()["seed"].get<uint64_t>());
  return 0;
}

void Stage::write_run_json(const ojson& extra) {
  run_json_ = {{"stage", req_.stage}, {"config", cfg_}, {"config_file", req_.config_path}, {"resumed_from", req_.resume},
               {"git_commit", R1_GIT_COMMIT}, {"build", fmt::format("{} {}, {}", __VERSION__, __DATE__, R1_BUILD_FLAGS)},
               {"machine", machine()}, {"train_examples", train_set_.size()}, {"eval_examples", eval_set_.size()},
               {"data_order", "step s, slot b: example SplitMix64-seeded xoshiro(seed ^ s*0x9e3779b97f4a7c15 ^ "
                              "b*0xbf58476d1ce4e5b9).below(N)"}};
  for (const auto& [k, v] : extra.items()) run_json_[k] = v;
  write_file(dir_ / "run.json", run_json_.dump(2) + "\n");
}

void Stage::finish() {
  const double wall = seconds_now() - wall0_, cpu = cpu_s() - cpu0_;
  run_json_["timing"] = {{"wall_s", wall}, {"cpu_s", cpu}, {"cpu_hours", cpu / 3600.0},
                         {"note", "this invocation (a resumed run records its own part)"}};
  write_file(dir_ / "run.json", run_json_.dump(2) + "\n");
}

void Stage::write_model_dir(const TrainModel<float>& m, const fs::path& dir) const {
  fs::create_directories(dir);
  write_file(dir / "config.json", cfg_["model"].dump(2) + "\n");
  write_file(dir / "tokenizer.json", tok_json_);
  write_file(dir / "tokenizer_config.json", tok_cfg_);
  m.save((dir / "model.safetensors").string());
}

std::string Stage::write_checkpoint(const TrainModel<float>& m, const std::vector<float>& opt_m,
                                    const std::vector<float>& opt_v, int64_t step, const ExtraState& extra) const {
  const fs::path dir = dir_ / "checkpoints" / fmt::format("step-{}", step);
  write_model_dir(m, dir);
  // AdamW's moments, in the parameters' layout and names; in a folder of their own so the checkpoint
  // directory stays a model directory (every top-level *.safetensors there is weights).
  fs::create_directories(dir / "optimizer");
  m.save((dir / "optimizer" / "m.safetensors").string(), opt_m);
  m.save((dir / "optimizer" / "v.safetensors").string(), opt_v);
  write_file(dir / "state.json", ojson{{"step", step}, {"stage", req_.stage}, {"seed", train()["seed"]}}.dump() + "\n");
  std::vector<std::string> files = {"config.json", "model.safetensors", "optimizer/m.safetensors",
                                    "optimizer/v.safetensors", "state.json", "tokenizer.json", "tokenizer_config.json"};
  for (const auto& [name, values] : extra) {
    files.push_back("optimizer/" + name + ".safetensors");
    m.save((dir / files.back()).string(), *values);
  }
  std::string sums;
  for (const std::string& f : files) sums += sha256_hex(read_file(dir / f)) + "  " + f + "\n";
  write_file(dir / "SHA256SUMS", sums);
  return dir.string();
}

void Stage::link_final(const std::string& checkpoint) const {
  std::error_code ec;
  fs::remove(dir_ / "final", ec);
  fs::create_directory_symlink(fs::relative(checkpoint, dir_), dir_ / "final", ec);
}

// ---- the optimizer step -----------------------------------------------------------------------------

void add_load(std::vector<std::vector<int64_t>>& total, const std::vector<std::vector<int64_t>>& one) {
  if (total.empty()) {
    total = one;
    return;
  }
  for (size_t i = 0; i < one.size(); ++i) {
    for (size_t e = 0; e < one[i].size(); ++e) total[i][e] += one[i][e];
  }
}

UpdateResult optimizer_step(TrainModel<float>& m, std::vector<float>& opt_m, std::vector<float>& opt_v, const AdamW& adam,
                            int64_t step, double lr, double clip, double bias_gamma,
                            const std::vector<std::vector<int64_t>>& load) {
  UpdateResult r;
  std::vector<std::span<float>> grads;
  for (const ParamInfo& p : m.params()) {
    if (p.role != TensorRole::RouterBias) grads.emplace_back(m.grads().data() + p.offset, size_t(p.size));
  }
  r.grad_norm = clip_grad_norm(std::span<const std::span<float>>(grads), clip);
  for (const ParamInfo& p : m.params()) {
    if (p.role == TensorRole::RouterBias) continue;  // moved by the load rule below, not by gradients
    AdamW a = adam;
    if (p.role == TensorRole::Norm || p.role == TensorRole::Bias) a.weight_decay = 0;
    adamw_step(a, step + 1, lr, m.weights().data() + p.offset, m.grads().data() + p.offset, opt_m.data() + p.offset,
               opt_v.data() + p.offset, p.size);
  }
  // Auxiliary-loss-free balancing (V3 §2.1.2): nudge each expert's selection bias toward equal load.
  r.router_bias_range = ojson::array();
  const std::vector<std::string> names = m.router_bias_names();
  for (size_t i = 0; i < names.size() && i < load.size(); ++i) {
    float* bias = m.param(names[i]);
    double mean = 0;
    for (int64_t x : load[i]) mean += double(x);
    mean /= double(load[i].size());
    float lo = 1e30f, hi = -1e30f;
    for (size_t e = 0; e < load[i].size(); ++e) {
      const double diff = mean - double(load[i][e]);
      bias[e] += float(bias_gamma * (diff > 0 ? 1.0 : diff < 0 ? -1.0 : 0.0));
      lo = std::min(lo, bias[e]);
      hi = std::max(hi, bias[e]);
    }
    r.router_bias_range.push_back({lo, hi});
  }
  return r;
}

double learning_rate(const ojson& t, int64_t step) {
  const double lr = t["lr"], min_lr = t["min_lr"];
  const int64_t warmup = t["warmup"], steps = t["steps"];
  const std::string schedule = t["schedule"];
  if (schedule == "cosine") return CosineSchedule{lr, min_lr, warmup, steps}.at(step);
  if (schedule == "wsd") {
    int64_t decay = t["decay_steps"];
    if (decay <= 0) decay = std::max<int64_t>(1, steps / 5);
    return WsdSchedule{lr, min_lr, warmup, std::max<int64_t>(0, steps - warmup - decay), decay}.at(step);
  }
  if (schedule == "constant") return step < warmup ? lr * double(step + 1) / double(warmup) : lr;
  fail("training config: train.schedule '{}' (supported: cosine, wsd, constant)", schedule);
}

}  // namespace r1::train
