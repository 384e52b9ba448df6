// Completions from the inference engine, for GRPO's rollouts and for `r1 eval`: the model the trainer
// just wrote is loaded by the same code `r1 run` and `r1 serve` use, and every prompt runs through the
// continuous-batching Scheduler at once, so one pass over the weights serves all G x P sequences.
// A sequence's tokens depend only on its prompt, its sampling seed and the weights -- not on which
// other sequences share its steps -- so rollouts are reproducible.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "model/model.h"
#include "runtime/sampler.h"

namespace r1::train {

struct RolloutRequest {
  std::vector<int32_t> prompt;
  uint64_t seed = 0;  // the sampling seed (unused when greedy)
};

struct Rollout {
  std::vector<int32_t> tokens;   // the completion; ends with the stop token when `stopped`
  std::vector<float> logprobs;   // the engine's log p of each token (before temperature)
  bool stopped = false;          // ended by the stop token (else: max_tokens or the context)
};

struct RolloutOptions {
  float temperature = 1.0f;  // 0: greedy
  int64_t max_tokens = 256;
  int32_t stop_token = -1;
  int parallel = 64;         // sequences in one batch
};

// Runs every request to its end. Throws r1::Error when a sequence fails (e.g. non-finite logits).
std::vector<Rollout> generate_rollouts(const Model& model, ThreadPool& pool, const std::vector<RolloutRequest>& requests,
                                       const RolloutOptions& options);

}  // namespace r1::train
