// Every tensor a checkpoint of a given config holds, with its Hugging Face name, shape and role.
// The synthesizer writes from this list; `r1 info` summarizes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace r1 {

enum class TensorRole {
  Embedding,   // model.embed_tokens (also MTP embed_tokens)
  Head,        // lm_head (also MTP shared_head.head)
  Linear,      // projection weights: FP8-quantized in official checkpoints
  Router,      // mlp.gate.weight: kept in BF16 in official FP8 checkpoints
  Norm,        // RMSNorm weights
  Bias,        // attention biases (Qwen2)
  RouterBias,  // e_score_correction_bias: F32 in official checkpoints
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  TensorRole role;
  bool mtp = false;  // belongs to the multi-token-prediction module
};

std::vector<TensorSpec> list_tensors(const ModelConfig& cfg);

}  // namespace r1
