#include "model/tensor_table.h"

namespace r1 {

namespace {

struct Lister {
  const ModelConfig& c;
  std::vector<TensorSpec>& out;
  bool mtp = false;

  void add(std::string name, std::vector<int64_t> shape, TensorRole role) { out.push_back({std::move(name), std::move(shape), role, mtp}); }
  void linear(const std::string& p, int64_t rows, int64_t cols, bool bias = false) {
    add(p + ".weight", {rows, cols}, TensorRole::Linear);
    if (bias) add(p + ".bias", {rows}, TensorRole::Bias);
  }
  void mlp(const std::string& p, int64_t width) {
    linear(p + ".gate_proj", width, c.hidden_size);
    linear(p + ".up_proj", width, c.hidden_size);
    linear(p + ".down_proj", c.hidden_size, width);
  }

  void layer(int64_t i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const int64_t d = c.hidden_size;
    add(p + "input_layernorm.weight", {d}, TensorRole::Norm);
    const std::string a = p + "self_attn.";
    if (c.is_mla) {
      const int64_t qk = c.qk_nope_head_dim + c.qk_rope_head_dim;
      if (c.q_lora_rank > 0) {
        linear(a + "q_a_proj", c.q_lora_rank, d);
        add(a + "q_a_layernorm.weight", {c.q_lora_rank}, TensorRole::Norm);
        linear(a + "q_b_proj", c.num_heads * qk, c.q_lora_rank);
      } else {
        linear(a + "q_proj", c.num_heads * qk, d);
      }
      linear(a + "kv_a_proj_with_mqa", c.kv_lora_rank + c.qk_rope_head_dim, d);
      add(a + "kv_a_layernorm.weight", {c.kv_lora_rank}, TensorRole::Norm);
      linear(a + "kv_b_proj", c.num_heads * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
      linear(a + "o_proj", d, c.num_heads * c.v_head_dim);
    } else {
      linear(a + "q_proj", c.num_heads * c.head_dim, d, c.attention_bias);
      linear(a + "k_proj", c.num_kv_heads * c.head_dim, d, c.attention_bias);
      linear(a + "v_proj", c.num_kv_heads * c.head_dim, d, c.attention_bias);
      linear(a + "o_proj", d, c.num_heads * c.head_dim, c.o_proj_bias);
      if (c.qk_norm) {
        add(a + "q_norm.weight", {c.head_dim}, TensorRole::Norm);
        add(a + "k_norm.weight", {c.head_dim}, TensorRole::Norm);
      }
    }
    add(p + "post_attention_layernorm.weight", {d}, TensorRole::Norm);
    if (!c.is_moe_layer(i)) {
      mlp(p + "mlp", c.intermediate_size);
      return;
    }
    add(p + "mlp.gate.weight", {c.n_routed_experts, d}, TensorRole::Router);
    if (c.router == Router::NoauxTC) add(p + "mlp.gate.e_score_correction_bias", {c.n_routed_experts}, TensorRole::RouterBias);
    for (int64_t e = 0; e < c.n_routed_experts; ++e) mlp(p + "mlp.experts." + std::to_string(e), c.moe_intermediate_size);
    if (c.n_shared_experts > 0) mlp(p + "mlp.shared_experts", c.n_shared_experts * c.moe_intermediate_size);
  }
};

}  // namespace

std::vector<TensorSpec> list_tensors(const ModelConfig& c) {
  std::vector<TensorSpec> out;
  Lister l{c, out};
  const int64_t d = c.hidden_size;
  l.add("model.embed_tokens.weight", {c.vocab_size, d}, TensorRole::Embedding);
  for (int64_t i = 0; i < c.num_layers; ++i) l.layer(i);
  l.add("model.norm.weight", {d}, TensorRole::Norm);
  if (!c.tie_word_embeddings) l.add("lm_head.weight", {c.vocab_size, d}, TensorRole::Head);
  l.mtp = true;
  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const int64_t i = c.num_layers + k;
    const std::string p = "model.layers." + std::to_string(i) + ".";
    l.add(p + "embed_tokens.weight", {c.vocab_size, d}, TensorRole::Embedding);
    l.add(p + "enorm.weight", {d}, TensorRole::Norm);
    l.add(p + "hnorm.weight", {d}, TensorRole::Norm);
    l.linear(p + "eh_proj", d, 2 * d);
    l.layer(i);
    l.add(p + "shared_head.norm.weight", {d}, TensorRole::Norm);
    l.add(p + "shared_head.head.weight", {c.vocab_size, d}, TensorRole::Head);
  }
  return out;
}

}  // namespace r1
