#include "formats/gguf_model.h"

#include <cmath>
#include <cstring>
#include <map>

#include "core/error.h"

namespace r1 {

namespace {

struct NamePair {
  std::string_view gguf, hf;
};

// Per-layer tensors: "blk.N.<gguf>.weight|bias" <-> "model.layers.N.<hf>.weight|bias"
// (llama.cpp src/llama-arch.cpp names; HF modeling_deepseek / qwen2 / llama names).
constexpr NamePair kLayerNames[] = {
    {"attn_norm", "input_layernorm"},
    {"ffn_norm", "post_attention_layernorm"},
    {"attn_q_a", "self_attn.q_a_proj"},
    {"attn_q_a_norm", "self_attn.q_a_layernorm"},
    {"attn_q_b", "self_attn.q_b_proj"},
    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},
    {"attn_q_norm", "self_attn.q_norm"},
    {"attn_k_norm", "self_attn.k_norm"},
    {"attn_kv_a_mqa", "self_attn.kv_a_proj_with_mqa"},
    {"attn_kv_a_norm", "self_attn.kv_a_layernorm"},
    {"attn_kv_b", "self_attn.kv_b_proj"},
    {"attn_k_b", "self_attn.k_b_proj"},  // no HF counterpart: W_UK^T per head (see gguf_model.h)
    {"attn_v_b", "self_attn.v_b_proj"},
    {"attn_output", "self_attn.o_proj"},
    {"ffn_gate", "mlp.gate_proj"},
    {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
    {"ffn_gate_inp", "mlp.gate"},
    {"ffn_gate_shexp", "mlp.shared_experts.gate_proj"},
    {"ffn_up_shexp", "mlp.shared_experts.up_proj"},
    {"ffn_down_shexp", "mlp.shared_experts.down_proj"},
    {"nextn.eh_proj", "eh_proj"},
    {"nextn.embed_tokens", "embed_tokens"},
    {"nextn.enorm", "enorm"},
    {"nextn.hnorm", "hnorm"},
    {"nextn.shared_head_head", "shared_head.head"},
    {"nextn.shared_head_norm", "shared_head.norm"},
};
constexpr NamePair kGlobalNames[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};
// The noaux_tc routing bias has no ".weight" in HF.
constexpr std::string_view kGgufRouterBias = "exp_probs_b.bias", kHfRouterBias = "mlp.gate.e_score_correction_bias";
constexpr std::string_view kExpertNames[][2] = {{"ffn_gate_exps", "gate_proj"}, {"ffn_up_exps", "up_proj"}, {"ffn_down_exps", "down_proj"}};

// Splits "<prefix><layer>.<rest>" into layer and rest.
bool split_layer(const std::string& name, std::string_view prefix, int64_t& layer, std::string& rest) {
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t i = prefix.size(), j = i;
  while (j < name.size() && j - i < 7 && name[j] >= '0' && name[j] <= '9') ++j;
  if (j == i || j >= name.size() || name[j] != '.') return false;
  layer = std::stoll(name.substr(i, j - i));
  rest = name.substr(j + 1);
  return true;
}

bool split_suffix(const std::string& rest, std::string& base, std::string& suffix) {
  for (std::string_view s : {".weight", ".bias"}) {
    if (rest.size() > s.size() && rest.compare(rest.size() - s.size(), s.size(), s) == 0) {
      base = rest.substr(0, rest.size() - s.size());
      suffix = std::string(s);
      return true;
    }
  }
  return false;
}

// One direction of the name correspondence: `to_gguf` picks which side of each pair is looked up.
std::optional<std::string> translate_name(const std::string& name, bool to_gguf) {
  auto from = [to_gguf](const NamePair& p) { return to_gguf ? p.hf : p.gguf; };
  auto to = [to_gguf](const NamePair& p) { return to_gguf ? p.gguf : p.hf; };
  for (const auto& p : kGlobalNames) {
    if (name == from(p)) return std::string(to(p));
  }
  const NamePair layer_prefix{"blk.", "model.layers."}, router_bias{kGgufRouterBias, kHfRouterBias};
  int64_t layer;
  std::string rest, base, suffix;
  if (!split_layer(name, from(layer_prefix), layer, rest)) return std::nullopt;
  const std::string prefix = std::string(to(layer_prefix)) + std::to_string(layer) + ".";
  if (rest == from(router_bias)) return prefix + std::string(to(router_bias));
  if (!split_suffix(rest, base, suffix)) return std::nullopt;
  for (const auto& p : kLayerNames) {
    if (base == from(p)) return prefix + std::string(to(p)) + suffix;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> hf_name_of(const std::string& gguf_name) { return translate_name(gguf_name, false); }
std::optional<std::string> gguf_name_of(const std::string& hf_name) { return translate_name(hf_name, true); }

namespace {

// Builds config.json fields from `<arch>.*` keys.
class ConfigBuilder {
 public:
  ConfigBuilder(const GgufMetadata& m, std::string arch, const std::map<std::string, const GgufTensorInfo*>& tensors)
      : m_(m), arch_(std::move(arch)), tensors_(tensors) {}

  std::string key(const std::string& k) const { return arch_ + "." + k; }
  int64_t integer(const std::string& k) const { return m_.integer(key(k)); }
  std::optional<int64_t> integer_or(const std::string& k) const { return m_.integer_or(key(k)); }
  std::optional<double> number_or(const std::string& k) const { return m_.number_or(key(k)); }
  bool has_tensor(const std::string& n) const { return tensors_.count(n) != 0; }
  const GgufTensorInfo& tensor(const std::string& n) const {
    auto it = tensors_.find(n);
    if (it == tensors_.end()) fail("{}: missing tensor '{}'", m_.path(), n);
    return *it->second;
  }

  nlohmann::json common(const char* architecture) const {
    nlohmann::json c;
    c["architectures"] = {architecture};
    const GgufTensorInfo& embd = tensor("token_embd.weight");
    if (embd.ne.size() != 2) fail("{}: tensor 'token_embd.weight' has {} dimensions, expected 2", m_.path(), embd.ne.size());
    c["vocab_size"] = embd.ne[1];
    c["hidden_size"] = integer("embedding_length");
    c["num_attention_heads"] = integer("attention.head_count");
    c["max_position_embeddings"] = integer_or("context_length").value_or(4096);
    c["rms_norm_eps"] = number_or("attention.layer_norm_rms_epsilon").value_or(1e-6);
    c["rope_theta"] = number_or("rope.freq_base").value_or(10000.0);
    c["tie_word_embeddings"] = !has_tensor("output.weight");
    if (auto bos = m_.integer_or("tokenizer.ggml.bos_token_id")) c["bos_token_id"] = *bos;
    if (auto eos = m_.integer_or("tokenizer.ggml.eos_token_id")) c["eos_token_id"] = *eos;
    return c;
  }

  nlohmann::json deepseek2() const {
    const int64_t gating = integer_or("expert_gating_func").value_or(1);  // absent: softmax (older files)
    if (gating != 1 && gating != 2) fail("{}: metadata key '{}' is {}, expected 1 (softmax) or 2 (sigmoid)", m_.path(), key("expert_gating_func"), gating);
    const bool v3 = gating == 2;
    nlohmann::json c = common(v3 ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM");
    const int64_t blocks = integer("block_count");
    const int64_t nextn = integer_or("nextn_predict_layers").value_or(0);
    // Converters that keep the MTP module count it in block_count; its blocks carry nextn.* tensors.
    int64_t layers = blocks;
    if (nextn > 0 && nextn < blocks && (has_tensor(fmt::format("blk.{}.nextn.eh_proj.weight", blocks - nextn)) ||
                                       !has_tensor(fmt::format("blk.{}.attn_norm.weight", blocks - nextn)))) {
      layers = blocks - nextn;
    }
    c["num_hidden_layers"] = layers;
    c["num_nextn_predict_layers"] = layers == blocks ? 0 : nextn;
    c["num_key_value_heads"] = c["num_attention_heads"];
    c["intermediate_size"] = integer("feed_forward_length");
    c["q_lora_rank"] = integer_or("attention.q_lora_rank").value_or(0);
    const int64_t kv_lora = integer("attention.kv_lora_rank");
    const int64_t rope_dim = integer("rope.dimension_count");
    // Current files describe the absorbed (MQA-like) view in key_length/value_length and the per-head
    // sizes in *_mla; older files have only the per-head sizes.
    const int64_t qk = integer_or("attention.key_length_mla").value_or(integer("attention.key_length"));
    const int64_t v = integer_or("attention.value_length_mla").value_or(integer("attention.value_length"));
    if (qk <= rope_dim) fail("{}: metadata key '{}' is {}, expected more than rope.dimension_count {}", m_.path(), key("attention.key_length"), qk, rope_dim);
    c["kv_lora_rank"] = kv_lora;
    c["qk_rope_head_dim"] = rope_dim;
    c["qk_nope_head_dim"] = qk - rope_dim;
    c["v_head_dim"] = v;
    if (auto experts = integer_or("expert_count"); experts && *experts > 0) {
      c["n_routed_experts"] = *experts;
      c["n_shared_experts"] = integer_or("expert_shared_count").value_or(0);
      c["num_experts_per_tok"] = integer("expert_used_count");
      c["moe_intermediate_size"] = integer("expert_feed_forward_length");
      c["first_k_dense_replace"] = integer_or("leading_dense_block_count").value_or(0);
      const int64_t groups = integer_or("expert_group_count").value_or(1);
      c["n_group"] = groups;
      c["topk_group"] = integer_or("expert_group_used_count").value_or(groups);
      c["scoring_func"] = v3 ? "sigmoid" : "softmax";
      c["topk_method"] = v3 ? "noaux_tc" : (groups > 1 ? "group_limited_greedy" : "greedy");
      c["norm_topk_prob"] = m_.boolean(key("expert_weights_norm")).value_or(false);
      c["routed_scaling_factor"] = number_or("expert_weights_scale").value_or(1.0);
    }
    if (m_.has(key("rope.scaling.type"))) {
      const std::string type = m_.str(key("rope.scaling.type"));
      if (type == "yarn") {
        // llama.cpp keeps 0.1 * mscale_all_dim and assumes mscale == mscale_all_dim (true for every
        // released DeepSeek config), which makes RoPE's own YaRN magnitude cancel.
        const double mscale = number_or("rope.scaling.yarn_log_multiplier").value_or(0.0) / 0.1;
        c["rope_scaling"] = {{"type", "yarn"},
                             {"factor", m_.number(key("rope.scaling.factor"))},
                             {"original_max_position_embeddings", integer("rope.scaling.original_context_length")},
                             {"mscale", mscale},
                             {"mscale_all_dim", mscale},
                             {"beta_fast", number_or("rope.scaling.yarn_beta_fast").value_or(32.0)},
                             {"beta_slow", number_or("rope.scaling.yarn_beta_slow").value_or(1.0)}};
      } else if (type != "none") {
        fail("{}: metadata key '{}' is '{}', expected 'yarn' or 'none'", m_.path(), key("rope.scaling.type"), type);
      }
    }
    return c;
  }

  nlohmann::json dense(const char* architecture) const {
    nlohmann::json c = common(architecture);
    c["num_hidden_layers"] = integer("block_count");
    c["intermediate_size"] = integer("feed_forward_length");
    c["num_key_value_heads"] = integer_or("attention.head_count_kv").value_or(c["num_attention_heads"].get<int64_t>());
    if (auto hd = integer_or("attention.key_length")) c["head_dim"] = *hd;
    if (arch_ == "llama") {
      c["attention_bias"] = has_tensor("blk.0.attn_q.bias");
      if (m_.has(key("rope.scaling.type")) && m_.str(key("rope.scaling.type")) != "none") {
        fail("{}: metadata key '{}' is '{}': only Llama 3 scaling (a rope_freqs tensor) is supported", m_.path(),
             key("rope.scaling.type"), m_.str(key("rope.scaling.type")));
      }
    }
    return c;
  }

 private:
  const GgufMetadata& m_;
  std::string arch_;
  const std::map<std::string, const GgufTensorInfo*>& tensors_;
};

TensorView view_of(const GgufTensorInfo& t, std::string hf_name, const GgufFiles& files) {
  TensorView v;
  v.name = std::move(hf_name);
  v.file = files.path_of(t);
  v.dtype = t.dtype;
  // PyTorch order; tensors of three or more dims (attn_k_b / attn_v_b: one matrix per head) are seen
  // as their heads stacked along the rows.
  if (t.ne.size() == 1) {
    v.shape = {t.ne[0]};
  } else {
    int64_t rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) rows *= t.ne[d];
    v.shape = {rows, t.ne[0]};
  }
  v.data = files.data(t);
  v.nbytes = t.nbytes;
  return v;
}

}  // namespace

GgufModel translate_gguf(const GgufFiles& files, const std::string& path) {
  const GgufHeader& h = files.header;
  const GgufMetadata m(h, path);
  GgufModel out;
  out.arch = m.str("general.architecture");
  std::map<std::string, const GgufTensorInfo*> by_name;
  for (const auto& t : h.tensors) by_name[t.name] = &t;

  ConfigBuilder b(m, out.arch, by_name);
  if (out.arch == "deepseek2") out.config = b.deepseek2();
  else if (out.arch == "qwen2") out.config = b.dense("Qwen2ForCausalLM");
  else if (out.arch == "qwen3") out.config = b.dense("Qwen3ForCausalLM");
  else if (out.arch == "llama") out.config = b.dense("LlamaForCausalLM");
  else fail("{}: general.architecture is '{}', expected deepseek2, qwen2, qwen3 or llama", path, out.arch);
  // llama.cpp's Llama converter permutes q/k rows so that RoPE rotates adjacent pairs (as DeepSeek's does).
  out.quirks.rope_pairs_interleaved = out.arch == "llama";

  for (const auto& t : h.tensors) {
    if (t.name == "rope_freqs.weight") {
      if (t.dtype != DType::F32 || t.ne.size() != 1) fail("{}: tensor 'rope_freqs.weight' must be a 1-D F32 tensor", path);
      const uint8_t* p = files.data(t);
      for (int64_t i = 0; i < t.ne[0]; ++i) {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        if (!(f > 0.0f) || !std::isfinite(f)) fail("{}: tensor 'rope_freqs.weight': factor {} is {}, expected a positive number", path, i, f);
        out.quirks.rope_freq_factors.push_back(f);
      }
      continue;
    }
    int64_t layer;
    std::string rest;
    bool expert_tensor = false;
    if (split_layer(t.name, "blk.", layer, rest)) {
      for (const auto& [gguf, hf] : kExpertNames) {
        if (rest != std::string(gguf) + ".weight") continue;
        // ne = {in, out, n_expert}: one [out, in] matrix per expert, back to back.
        if (t.ne.size() != 3) fail("{}: tensor '{}' has {} dimensions, expected 3 (in, out, experts)", path, t.name, t.ne.size());
        const uint64_t per_expert = t.nbytes / uint64_t(t.ne[2]);
        for (int64_t e = 0; e < t.ne[2]; ++e) {
          TensorView v;
          v.name = fmt::format("model.layers.{}.mlp.experts.{}.{}.weight", layer, e, hf);
          v.file = files.path_of(t);
          v.dtype = t.dtype;
          v.shape = {t.ne[1], t.ne[0]};
          v.data = files.data(t) + uint64_t(e) * per_expert;
          v.nbytes = per_expert;
          out.tensors.push_back(std::move(v));
        }
        expert_tensor = true;
      }
    }
    if (expert_tensor) continue;
    const std::optional<std::string> hf = hf_name_of(t.name);
    if (!hf) fail("{}: tensor '{}' is not one r1 knows for architecture {}", path, t.name, out.arch);
    out.tensors.push_back(view_of(t, *hf, files));
  }
  return out;
}

}  // namespace r1
