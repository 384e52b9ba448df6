#include "model/weights.h"

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace r1 {

namespace {

// Walks the tensors a config calls for. With a ModelDir it binds and checks them; without one
// (`listing`) it only records their names, shapes and roles.
class Binder {
 public:
  Binder(const ModelDir& dir, const ModelConfig& cfg, ModelWeights& out) : dir_(&dir), cfg_(cfg), out_(out) {}
  Binder(const ModelConfig& cfg, ModelWeights& out, std::vector<TensorSpec>& listing)
      : cfg_(cfg), out_(out), listing_(&listing) {}

  bool listing() const { return listing_ != nullptr; }
  bool has(const std::string& name) const { return listing() || dir_->has(name); }

  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols, TensorRole role = TensorRole::Linear) {
    if (listing()) {
      listing_->push_back({name, {rows, cols}, role});
      WeightMatrix w;
      w.name = name;
      w.rows = rows;
      w.cols = cols;
      return w;
    }
    const TensorView& t = get(name, fmt::format("[{}, {}]", rows, cols));
    if (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols) {
      fail("{}: tensor '{}': shape {}, expected [{}, {}]", t.file, name, shape_str(t.shape), rows, cols);
    }
    // The kernels read F32/F16/BF16 weights in place, as arrays of their element type (block types
    // are read bytewise: their rows are not aligned in GGUF files anyway).
    if (!dtype_is_block(t.dtype) && reinterpret_cast<uintptr_t>(t.data) % dtype_size(t.dtype)) {
      fail("{}: tensor '{}': data is not {}-byte aligned (expected {} data at an offset that is a multiple of {})",
           t.file, name, dtype_size(t.dtype), dtype_name(t.dtype), dtype_size(t.dtype));
    }
    WeightMatrix w;
    w.name = name;
    w.dtype = t.dtype;
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    switch (t.dtype) {
      case DType::F32: case DType::F16: case DType::BF16: break;
      case DType::F8_E4M3: bind_fp8_scales(w, t); break;
      case DType::I32: case DType::I64: case DType::Q8_K:
        fail("{}: tensor '{}': dtype {} cannot be a weight matrix (expected a float, FP8 or GGML quantized type)", t.file, name, dtype_name(t.dtype));
      default: break;  // GGML block types: whole blocks per row, checked by the GGUF parser
    }
    count(rows * cols, w.bytes());
    return w;
  }

  Linear linear(const std::string& prefix, int64_t rows, int64_t cols, bool bias = false) {
    Linear l;
    l.w = matrix(prefix + ".weight", rows, cols);
    if (bias) l.bias = vec(prefix + ".bias", rows, TensorRole::Bias);
    return l;
  }

  Vec vec(const std::string& name, int64_t n, TensorRole role = TensorRole::Norm) {
    if (listing()) {
      listing_->push_back({name, {n}, role});
      return Vec(static_cast<size_t>(n), 1.0f);
    }
    const TensorView& t = get(name, fmt::format("[{}]", n));
    if (t.shape.size() != 1 || t.shape[0] != n) fail("{}: tensor '{}': shape {}, expected [{}]", t.file, name, shape_str(t.shape), n);
    Vec v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      switch (t.dtype) {
        case DType::F32: { float f; std::memcpy(&f, t.data + 4 * i, 4); v[i] = f; break; }
        case DType::BF16: { uint16_t h; std::memcpy(&h, t.data + 2 * i, 2); v[i] = bf16_to_f32(h); break; }
        case DType::F16: { uint16_t h; std::memcpy(&h, t.data + 2 * i, 2); v[i] = f16_to_f32(h); break; }
        default: fail("{}: tensor '{}': dtype {}, expected F32, F16 or BF16", t.file, name, dtype_name(t.dtype));
      }
      if (!std::isfinite(v[i])) fail("{}: tensor '{}': element {} is not finite", t.file, name, i);
    }
    count(n, 0);
    return v;
  }

  MlpWeights mlp(const std::string& prefix, int64_t width) {
    const int64_t d = cfg_.hidden_size;
    return {linear(prefix + ".gate_proj", width, d), linear(prefix + ".up_proj", width, d),
            linear(prefix + ".down_proj", d, width)};
  }

  LayerWeights layer(const std::string& p, int64_t index) {
    const ModelConfig& c = cfg_;
    const int64_t d = c.hidden_size;
    LayerWeights L;
    L.attn_norm = vec(p + "input_layernorm.weight", d);
    L.ffn_norm = vec(p + "post_attention_layernorm.weight", d);
    const std::string a = p + "self_attn.";
    if (c.is_mla) {
      const int64_t qk = c.qk_nope_head_dim + c.qk_rope_head_dim;
      if (c.q_lora_rank > 0) {
        L.mla.q_a = linear(a + "q_a_proj", c.q_lora_rank, d);
        L.mla.q_a_norm = vec(a + "q_a_layernorm.weight", c.q_lora_rank);
        L.mla.q_b = linear(a + "q_b_proj", c.num_heads * qk, c.q_lora_rank);
      } else {
        L.mla.q = linear(a + "q_proj", c.num_heads * qk, d);
      }
      L.mla.kv_a = linear(a + "kv_a_proj_with_mqa", c.kv_lora_rank + c.qk_rope_head_dim, d);
      L.mla.kv_a_norm = vec(a + "kv_a_layernorm.weight", c.kv_lora_rank);
      if (!listing() && dir_->has(a + "k_b_proj.weight")) {  // GGUF split layout
        L.mla.k_b_t = matrix(a + "k_b_proj.weight", c.num_heads * c.kv_lora_rank, c.qk_nope_head_dim);
        L.mla.v_b = matrix(a + "v_b_proj.weight", c.num_heads * c.v_head_dim, c.kv_lora_rank);
      } else {
        L.mla.kv_b = matrix(a + "kv_b_proj.weight", c.num_heads * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
      }
      L.mla.o = linear(a + "o_proj", d, c.num_heads * c.v_head_dim);
    } else {
      const int64_t hd = c.head_dim;
      L.gqa.q = linear(a + "q_proj", c.num_heads * hd, d, c.attention_bias);
      L.gqa.k = linear(a + "k_proj", c.num_kv_heads * hd, d, c.attention_bias);
      L.gqa.v = linear(a + "v_proj", c.num_kv_heads * hd, d, c.attention_bias);
      L.gqa.o = linear(a + "o_proj", d, c.num_heads * hd, c.o_proj_bias);
      if (c.qk_norm) {
        L.gqa.q_norm = vec(a + "q_norm.weight", hd);
        L.gqa.k_norm = vec(a + "k_norm.weight", hd);
      }
    }
    L.is_moe = c.is_moe_layer(index);
    if (!L.is_moe) {
      L.mlp = mlp(p + "mlp", c.intermediate_size);
      return L;
    }
    MoeWeights& m = L.moe;
    m.router = matrix(p + "mlp.gate.weight", c.n_routed_experts, d, TensorRole::Router);
    if (c.router == Router::NoauxTC) {
      m.score_bias = vec(p + "mlp.gate.e_score_correction_bias", c.n_routed_experts, TensorRole::RouterBias);
    }
    for (int64_t e = 0; e < c.n_routed_experts; ++e) {
      m.experts.push_back(mlp(p + "mlp.experts." + std::to_string(e), c.moe_intermediate_size));
    }
    if (c.n_shared_experts > 0) {
      m.shared = mlp(p + "mlp.shared_experts", c.n_shared_experts * c.moe_intermediate_size);
      m.has_shared = true;
    }
    return L;
  }

  // DeepSeek-V3 MTP module: embedding and head may be absent (shared with the main model).
  MtpWeights mtp(int64_t index) {
    const ModelConfig& c = cfg_;
    const int64_t d = c.hidden_size;
    const std::string p = "model.layers." + std::to_string(index) + ".";
    MtpWeights m;
    if (has(p + "embed_tokens.weight")) m.embed = matrix(p + "embed_tokens.weight", c.vocab_size, d, TensorRole::Embedding);
    m.enorm = vec(p + "enorm.weight", d);
    m.hnorm = vec(p + "hnorm.weight", d);
    m.eh_proj = matrix(p + "eh_proj.weight", d, 2 * d);
    m.block = layer(p, index);
    m.head_norm = vec(p + "shared_head.norm.weight", d);
    if (has(p + "shared_head.head.weight")) m.head = matrix(p + "shared_head.head.weight", c.vocab_size, d, TensorRole::Head);
    return m;
  }

  void model() {
    const ModelConfig& c = cfg_;
    ModelWeights& w = out_;
    w.embed = matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size, TensorRole::Embedding);
    if (!listing() && w.embed.dtype == DType::F8_E4M3) {
      fail("{}: tensor 'model.embed_tokens.weight': FP8 embeddings are not expected", dir_->path());
    }
    for (int64_t i = 0; i < c.num_layers; ++i) w.layers.push_back(layer("model.layers." + std::to_string(i) + ".", i));
    w.final_norm = vec("model.norm.weight", c.hidden_size);
    // As transformers ties them: the embedding wins over any lm_head.weight in the files.
    w.lm_head = c.tie_word_embeddings ? w.embed : matrix("lm_head.weight", c.vocab_size, c.hidden_size, TensorRole::Head);
    const int64_t before_mtp = w.param_count;
    for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
      // Some conversions drop the MTP layer although config.json still announces it.
      if (!has("model.layers." + std::to_string(c.num_layers + k) + ".eh_proj.weight")) break;
      w.mtp.push_back(mtp(c.num_layers + k));
    }
    w.mtp_param_count = w.param_count - before_mtp;
  }

 private:
  const TensorView& get(const std::string& name, const std::string& shape) {
    if (!dir_->has(name)) fail("{}: missing tensor '{}' (expected shape {} in a *.safetensors file)", dir_->path(), name, shape);
    return dir_->tensor(name);
  }

  void bind_fp8_scales(WeightMatrix& w, const TensorView& t) {
    const std::string sname = w.name.substr(0, w.name.size() - std::string("weight").size()) + "weight_scale_inv";
    if (!dir_->has(sname)) fail("{}: tensor '{}' is F8_E4M3 but its block scales '{}' are missing", t.file, w.name, sname);
    const TensorView& s = dir_->tensor(sname);
    const int64_t br = cfg_.fp8_block_rows, bc = cfg_.fp8_block_cols;
    const int64_t sr = (w.rows + br - 1) / br, sc = (w.cols + bc - 1) / bc;
    if (s.dtype != DType::F32 || s.shape.size() != 2 || s.shape[0] != sr || s.shape[1] != sc) {
      fail("{}: tensor '{}': {} {}, expected F32 [{}, {}] (one scale per {}x{} block of {})", s.file, sname,
           dtype_name(s.dtype), shape_str(s.shape), sr, sc, br, bc, w.name);
    }
    const float* scales = reinterpret_cast<const float*>(s.data);
    if (reinterpret_cast<uintptr_t>(scales) % alignof(float)) fail("{}: tensor '{}': data is not 4-byte aligned", s.file, sname);
    for (int64_t i = 0; i < sr * sc; ++i) {
      if (!std::isfinite(scales[i])) fail("{}: tensor '{}': scale {} is not finite", s.file, sname, i);
    }
    w.block_scale = scales;
    w.block_rows = br;
    w.block_cols = bc;
    w.scale_cols = sc;
    if (!cfg_.fp8) fail("{}: tensor '{}' is F8_E4M3 but config.json has no fp8 quantization_config", t.file, w.name);
  }

  void count(int64_t params, size_t bytes) {
    out_.param_count += params;
    out_.matrix_bytes += bytes;
  }

  const ModelDir* dir_ = nullptr;
  const ModelConfig& cfg_;
  ModelWeights& out_;
  std::vector<TensorSpec>* listing_ = nullptr;
};

}  // namespace

ModelWeights load_weights(const ModelDir& dir, const ModelConfig& cfg) {
  ModelWeights w;
  Binder(dir, cfg, w).model();
  return w;
}

std::vector<TensorSpec> list_tensors(const ModelConfig& cfg) {
  ModelWeights unused;
  std::vector<TensorSpec> specs;
  Binder(cfg, unused, specs).model();
  return specs;
}

}  // namespace r1
