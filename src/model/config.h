// ModelConfig: everything the engine needs from config.json, parsed once, validated early, then passed
// down read-only. Field names follow config.json; the DeepSeek-V2/V3 paper symbols are noted beside them
// (see docs/GLOSSARY.md).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace r1 {

// Limits the parser enforces so that per-token routing needs no allocation.
constexpr int64_t kMaxExperts = 4096;
constexpr int64_t kMaxExpertGroups = 256;

enum class Arch { DeepseekV2, DeepseekV3, Qwen2, Llama, Qwen3 };
enum class Router { Greedy, GroupLimitedGreedy, NoauxTC };  // config `topk_method`
enum class Scoring { Softmax, Sigmoid };                     // config `scoring_func`
enum class RopeScaling { None, Yarn, Llama3 };

struct RopeConfig {
  int dim = 0;               // rotated dims per head (d_h^R = qk_rope_head_dim for MLA, head_dim otherwise)
  bool interleaved = false;  // DeepSeek: pairs (2i, 2i+1); Qwen/Llama: halves (i, i + dim/2)
  double theta = 10000.0;
  RopeScaling scaling = RopeScaling::None;
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0, beta_slow = 1.0;                 // YaRN
  double mscale = 1.0, mscale_all_dim = 0.0;                // YaRN
  double low_freq_factor = 1.0, high_freq_factor = 4.0;     // Llama 3
  std::vector<double> freq_factors;  // GGUF Llama 3 `rope_freqs`: inv_freq[i] /= freq_factors[i] (empty: none)
};

struct ModelConfig {
  Arch arch = Arch::Llama;
  std::string arch_name;  // as written in config.json `architectures`

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;        // d
  int64_t intermediate_size = 0;  // dense SwiGLU width
  int64_t num_layers = 0;         // main decoder layers (MTP layers not included)
  int64_t num_heads = 0;          // n_h
  int64_t num_kv_heads = 0;       // GQA groups (dense models)
  int64_t head_dim = 0;           // dense models
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (Qwen2 always); o_proj bias for Llama/Qwen3 when set
  bool o_proj_bias = false;
  bool qk_norm = false;         // Qwen3 per-head RMSNorm of q and k

  // MLA (DeepSeek V2/V3)
  bool is_mla = false;
  int64_t q_lora_rank = 0;        // d_c' ; 0 = direct q_proj (V2-Lite, Moonlight)
  int64_t kv_lora_rank = 0;       // d_c
  int64_t qk_nope_head_dim = 0;   // d_h
  int64_t qk_rope_head_dim = 0;   // d_h^R
  int64_t v_head_dim = 0;

  // DeepSeekMoE
  int64_t n_routed_experts = 0;   // 0 = dense model
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  int64_t n_group = 1, topk_group = 1;
  Router router = Router::Greedy;
  Scoring scoring = Scoring::Softmax;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  int64_t num_nextn_predict_layers = 0;  // MTP modules shipped (kept for speculative decoding)

  // Official FP8 checkpoints (quantization_config.quant_method == "fp8")
  bool fp8 = false;
  int64_t fp8_block_rows = 128, fp8_block_cols = 128;
  bool fp8_ue8m0 = false;

  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;

  RopeConfig rope;
  double softmax_scale = 0.0;  // attention logit scale, YaRN magnitude correction included

  bool is_moe_layer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
  }
  bool is_deepseek() const { return arch == Arch::DeepseekV2 || arch == Arch::DeepseekV3; }
  // Elements stored per token per layer in the KV cache.
  int64_t kv_elements_per_token_layer() const {
    return is_mla ? kv_lora_rank + qk_rope_head_dim : 2 * num_kv_heads * head_dim;
  }
};

// Parses config.json (`source` names the file in error messages). Throws r1::Error on a missing field,
// a wrong type, an unknown architecture or inconsistent values.
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source);

std::string_view arch_label(Arch a);
std::string_view router_label(Router r);

}  // namespace r1
