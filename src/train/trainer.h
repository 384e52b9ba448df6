// Pre-training, SFT and (train/grpo.h) GRPO of a tiny DeepSeek-V3-architecture model on generated,
// verifiable tasks, with everything on record. `r1 train pretrain|sft|grpo CONFIG.json --out RUN_DIR`
// runs a stage (train/stage.h holds what they share); RUN_DIR then holds:
//   run.json              the whole configuration with every default filled in, seeds, git commit, build,
//                         machine, threads
//   data/                 the materialised task files and manifest.jsonl (generator, version, seed,
//                         options, count, license, sha256; the tokenizer's sha256)
//   metrics.jsonl         one line per step: losses (main, MTP, balance), lr, grad norm, tokens/s, wall
//                         time, expert load per MoE block and the router-bias range
//   eval.jsonl            held-out loss at each evaluation step
//   checkpoints/step-N/   config.json, model.safetensors, tokenizer.json, tokenizer_config.json (a chat
//                         template in the training format), optimizer/{m,v}.safetensors, state.json,
//                         SHA256SUMS
//                         -- a Hugging Face model directory `r1 run / chat / serve` load as they are
//
// Data order: the example of step s, slot b is example (mix(seed, s, b) mod N): a function of the seed
// and the step only, so a resumed run reads exactly what an uninterrupted one would. With the same
// seed, machine and thread count, checkpoints are bit-identical (the kernels' partitioning does not
// change any sum's order).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace r1::train {

struct TrainRequest {
  std::string stage;       // "pretrain", "sft" (the loss on the answer only) or "grpo" (train/grpo.h)
  nlohmann::json config;   // the CONFIG.json contents
  std::string config_path;
  std::string out_dir;
  std::string resume;      // a checkpoint directory to continue from (empty: start fresh)
  int threads = 0;         // 0: the config's (default 2)
};

// Runs the stage; returns the final checkpoint's directory. Throws r1::Error (bad config, I/O).
std::string run_training(const TrainRequest& request);

// The defaults of every configuration key, as run.json records them.
nlohmann::ordered_json default_train_config();

}  // namespace r1::train
