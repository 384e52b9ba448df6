// Token sampling: penalties, temperature, top-k, top-p, min-p, then a draw from a seeded generator.
// The same seed and inputs give the same tokens on every run and machine (mt19937_64, 53-bit draws).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace r1 {

struct SamplingParams {
  float temperature = 1.0f;         // 0: greedy
  int top_k = 0;                    // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off; keep tokens with p >= min_p * p_max
  float repetition_penalty = 1.0f;  // CTRL-style: divide positive / multiply negative logits of seen tokens
  float presence_penalty = 0.0f;    // subtract once from every seen token
  float frequency_penalty = 0.0f;   // subtract per occurrence
  uint64_t seed = 0;
};

// Checks ranges; throws r1::Error naming the parameter.
void validate(const SamplingParams& p);

class Sampler {
 public:
  Sampler(const SamplingParams& params, int64_t vocab_size);

  // Picks the next token from logits[vocab] (modified in place). Allocates nothing.
  int32_t sample(float* logits);
  // Records a token of the context (prompt or generated) for the penalties.
  void accept(int32_t token);
  void reset();

 private:
  SamplingParams p_;
  int64_t vocab_;
  std::mt19937_64 rng_;
  std::vector<int32_t> counts_;  // occurrences per token id
  std::vector<int32_t> seen_;    // ids with counts_ > 0, to apply penalties without scanning the vocab
  std::vector<int32_t> order_;   // candidate ids
  std::vector<float> probs_;
};

}  // namespace r1
