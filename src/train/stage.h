// What every training stage (pre-training, SFT, GRPO) shares: the configuration with its defaults, the
// tokenizer and text format, the materialised and recorded data, run.json with timing, the optimizer
// step with auxiliary-loss-free balancing, and checkpoints in the Hugging Face layout. The stages
// themselves (trainer.cpp, grpo.cpp) are only their loops.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "tokenizer/tokenizer.h"
#include "train/model.h"
#include "train/ops/optim.h"
#include "train/tasks.h"
#include "train/trainer.h"

namespace r1::train {

using ojson = nlohmann::ordered_json;

// ---- the text format ------------------------------------------------------------------------------
// Token ids: the 256 bytes, then <s> </s> <think> </think> <answer> </answer> (256..261).
inline constexpr int32_t kBos = 256, kEos = 257;
// The tokenizer every run writes into its checkpoints (the bytes, then the six special tokens).
tok::Tokenizer training_tokenizer();
// "User: Q\nAssistant: <think>": what a problem's prompt is; the chat template renders the same.
std::vector<int32_t> prompt_tokens(const tok::Tokenizer& tok, const Problem& p);
// "\nSOLUTION\n</think>\n<answer>A</answer></s>": the worked completion pre-training and SFT learn; with an
// empty solution (data.tasks[].worked_fraction) "\n</think>\n<answer>A</answer></s>", a direct answer.
std::vector<int32_t> completion_tokens(const tok::Tokenizer& tok, const Problem& p);
// What the rewards read of a completion: the generated text with the prompt's "<think>" in front.
std::string scored_text(const tok::Tokenizer& tok, const std::vector<int32_t>& completion);

// The seed of one random stream of a run: seed ^ step·φ ^ slot·c2 ^ k·c3 (odd 64-bit constants), fed to
// the SplitMix64-seeded xoshiro of train/rng.h. k tells apart several streams of one (step, slot).
uint64_t stream_seed(uint64_t seed, int64_t step, int64_t slot, uint64_t k = 0);
// The example of (step, slot) in a set of n: Rng(stream_seed(seed, step, slot)).below(n).
size_t example_index(uint64_t seed, int64_t step, int64_t slot, size_t n);

// Seconds on the monotonic clock, for step and stage timings.
double seconds_now();

// ---- a stage's run directory ----------------------------------------------------------------------
class Stage {
 public:
  // Reads the config (defaults + the user's keys), creates RUN_DIR, materialises the data and writes
  // data/manifest.jsonl. Throws r1::Error on a bad config.
  explicit Stage(const TrainRequest& request);

  const ojson& config() const { return cfg_; }
  const ojson& train() const { return cfg_["train"]; }
  const std::filesystem::path& dir() const { return dir_; }
  const std::string& name() const { return req_.stage; }
  const ModelConfig& model_config() const { return model_; }
  const tok::Tokenizer& tokenizer() const { return tok_; }
  const std::vector<Problem>& train_set() const { return train_set_; }
  const std::vector<Problem>& eval_set() const { return eval_set_; }
  bool resuming() const { return !req_.resume.empty(); }

  // Loads the weights (and optimizer moments) to start from: the resume checkpoint, else train.init_from,
  // else a fresh initialisation. Returns the step to start at.
  int64_t start(TrainModel<float>& m, std::vector<float>& opt_m, std::vector<float>& opt_v) const;

  // run.json: the whole config, seeds, commit, build, machine, threads, plus `extra`. Call once at the
  // start and again at the end (finish()), which adds wall-clock and CPU time of this invocation.
  void write_run_json(const ojson& extra);
  void finish();

  // checkpoints/step-N/: config.json, model.safetensors, tokenizer files, optimizer/{m,v}.safetensors,
  // state.json, SHA256SUMS. Returns the directory. write_model_dir: only what a model directory needs
  // (the rollout engine's copy of the policy).
  // `extra`: more values in the parameters' layout that the stage's state needs (GRPO's reference
  // policy), saved as optimizer/NAME.safetensors.
  using ExtraState = std::vector<std::pair<std::string, const std::vector<float>*>>;
  std::string write_checkpoint(const TrainModel<float>& m, const std::vector<float>& opt_m, const std::vector<float>& opt_v,
                               int64_t step, const ExtraState& extra = {}) const;
  void write_model_dir(const TrainModel<float>& m, const std::filesystem::path& dir) const;
  // Points RUN_DIR/final at a checkpoint.
  void link_final(const std::string& checkpoint) const;

 private:
  TrainRequest req_;
  ojson cfg_, run_json_;
  std::filesystem::path dir_;
  ModelConfig model_;
  std::string tok_json_, tok_cfg_;
  tok::Tokenizer tok_;
  std::vector<Problem> train_set_, eval_set_;
  double wall0_ = 0, cpu0_ = 0;
};

// ---- the optimizer step -----------------------------------------------------------------------------
struct UpdateResult {
  double grad_norm = 0;     // before clipping
  ojson router_bias_range;  // per MoE block [lo, hi] after the bias update
};

// Clips the gradients, takes an AdamW step on every parameter but the router biases (no decay on norms
// and biases), then moves each router bias by ±gamma toward equal expert load (V3 §2.1.2, the
// auxiliary-loss-free balancing), with `load` from the step's forward passes.
UpdateResult optimizer_step(TrainModel<float>& m, std::vector<float>& opt_m, std::vector<float>& opt_v, const AdamW& adam,
                            int64_t step, double lr, double clip, double bias_gamma,
                            const std::vector<std::vector<int64_t>>& load);

// Adds one sequence's expert load to a step's total.
void add_load(std::vector<std::vector<int64_t>>& total, const std::vector<std::vector<int64_t>>& one);

// The learning rate of a step from train.{lr, min_lr, warmup, schedule, decay_steps, steps}:
// "cosine", "wsd" (warm-up, constant, linear decay over decay_steps -- 0: the last 20 %) or "constant".
double learning_rate(const ojson& train, int64_t step);

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& bytes);

}  // namespace r1::train
