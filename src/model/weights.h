// ModelWeights: every tensor of a model, bound once from the files, shape-checked against the config.
//
// Large matrices stay in the memory-mapped files (WeightMatrix points into them); only small vectors
// (norm weights, biases, the router bias) are converted to owned float arrays.
//
// The binder in weights.cpp is the one table of tensor names, shapes and roles: load_weights() runs it
// against files, list_tensors() runs it with no files to enumerate what a checkpoint holds (the
// synthesizer writes from that list). The GGUF reader and the trainer bind into these same structs.
#pragma once

#include <vector>

#include "formats/model_dir.h"
#include "kernels/cpu/ops.h"
#include "model/config.h"

namespace r1 {

using Vec = std::vector<float>;

struct Linear {
  WeightMatrix w;
  Vec bias;  // empty when the layer has none
  const float* bias_ptr() const { return bias.empty() ? nullptr : bias.data(); }
};

// DeepSeek Multi-head Latent Attention.
struct MlaWeights {
  Linear q_a, q_b;  // q-LoRA: c_q = RMSNorm(W_qa x) [q_lora_rank]; q = W_qb c_q [n_h * (d_h + d_h^R)]
  Vec q_a_norm;
  Linear q;         // direct W_q when q_lora_rank is 0
  Linear kv_a;      // [d_c + d_h^R, d]: latent c_kv and the shared rope key
  Vec kv_a_norm;    // [d_c]
  WeightMatrix kv_b;  // [n_h * (d_h + d_v), d_c]: per head W_UK rows then W_UV rows
  // Current GGUF files store kv_b split (then kv_b is empty): W_UK transposed per head and W_UV.
  WeightMatrix k_b_t;  // [n_h * d_c, d_h]
  WeightMatrix v_b;    // [n_h * d_v, d_c]
  Linear o;         // [d, n_h * d_v]
};

// Grouped-query attention (Qwen2, Llama, Qwen3).
struct GqaWeights {
  Linear q, k, v, o;
  Vec q_norm, k_norm;  // Qwen3: per-head RMSNorm weights [head_dim]
};

struct MlpWeights {  // SwiGLU: down(silu(gate(x)) * up(x))
  Linear gate, up, down;
};

struct MoeWeights {
  WeightMatrix router;  // `mlp.gate.weight` [n_routed_experts, d]
  Vec score_bias;       // `e_score_correction_bias` (noaux_tc), selection only
  std::vector<MlpWeights> experts;
  MlpWeights shared;    // n_shared_experts experts fused into one MLP (empty when none)
  bool has_shared = false;
};

struct LayerWeights {
  Vec attn_norm, ffn_norm;
  MlaWeights mla;
  GqaWeights gqa;
  bool is_moe = false;
  MlpWeights mlp;  // dense layers
  MoeWeights moe;  // MoE layers
};

// DeepSeek-V3 multi-token prediction module; kept for speculative decoding.
struct MtpWeights {
  LayerWeights block;
  Vec enorm, hnorm, head_norm;
  WeightMatrix eh_proj, embed, head;  // embed/head may be absent (shared with the main model)
};

struct ModelWeights {
  WeightMatrix embed;  // [vocab, d]
  std::vector<LayerWeights> layers;
  Vec final_norm;
  WeightMatrix lm_head;  // aliases `embed` when tie_word_embeddings
  std::vector<MtpWeights> mtp;

  size_t matrix_bytes = 0;  // bytes of all bound weight matrices (mapped, not copied)
  int64_t param_count = 0;  // all parameters bound, MTP included
  int64_t mtp_param_count = 0;
};

// What a tensor is for; decides its dtype in official FP8 checkpoints and its synthetic init.
enum class TensorRole {
  Embedding,   // model.embed_tokens (also the MTP module's embed_tokens)
  Head,        // lm_head (also the MTP module's shared_head.head)
  Linear,      // projections: FP8-quantized in official checkpoints
  Router,      // mlp.gate.weight: BF16 in official FP8 checkpoints
  Norm,        // RMSNorm weights
  Bias,        // attention biases (Qwen2)
  RouterBias,  // e_score_correction_bias: F32 in official checkpoints
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  TensorRole role;
};

// Every tensor a checkpoint of this config holds (MTP layers included), in binding order.
std::vector<TensorSpec> list_tensors(const ModelConfig& cfg);

// Binds every tensor the config calls for. Throws r1::Error naming the file, tensor and the expected
// shape or dtype for anything missing or wrong.
ModelWeights load_weights(const ModelDir& dir, const ModelConfig& cfg);

}  // namespace r1
