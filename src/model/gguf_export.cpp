#include "model/gguf_export.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_tokenizer.h"
#include "kernels/cpu/quants.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

namespace {

// name, llama_ftype, base, output, sensitive
const QuantMix kMixes[] = {
    {"f32", 0, DType::F32, DType::F32, DType::F32},
    {"f16", 1, DType::F16, DType::F16, DType::F16},
    {"bf16", 32, DType::BF16, DType::BF16, DType::BF16},
    {"q8_0", 7, DType::Q8_0, DType::Q8_0, DType::Q8_0},
    {"q4_0", 2, DType::Q4_0, DType::Q6_K, DType::Q4_0},
    {"q4_1", 3, DType::Q4_1, DType::Q6_K, DType::Q4_1},
    {"q5_0", 8, DType::Q5_0, DType::Q6_K, DType::Q5_0},
    {"q5_1", 9, DType::Q5_1, DType::Q6_K, DType::Q5_1},
    {"q2_k", 10, DType::Q2_K, DType::Q6_K, DType::Q3_K},
    {"q3_k_s", 11, DType::Q3_K, DType::Q6_K, DType::Q3_K},
    {"q3_k_m", 12, DType::Q3_K, DType::Q6_K, DType::Q4_K},
    {"q4_k_s", 14, DType::Q4_K, DType::Q6_K, DType::Q4_K},
    {"q4_k_m", 15, DType::Q4_K, DType::Q6_K, DType::Q6_K},
    {"q5_k_s", 16, DType::Q5_K, DType::Q6_K, DType::Q5_K},
    {"q5_k_m", 17, DType::Q5_K, DType::Q6_K, DType::Q6_K},
    {"q6_k", 18, DType::Q6_K, DType::Q6_K, DType::Q6_K},
    {"iq4_nl", 25, DType::IQ4_NL, DType::Q6_K, DType::IQ4_NL},
    {"iq4_xs", 30, DType::IQ4_XS, DType::Q6_K, DType::IQ4_XS},
};

// llama.cpp's rule for which layers of a mix get the more precise type: the first and last eighth,
// and every third layer in between.
bool use_more_bits(int64_t layer, int64_t n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

// Float rows to 16-bit storage with `convert` (f32_to_f16 or f32_to_bf16); rows need not be aligned.
template <uint16_t (*convert)(float)>
void encode_16bit(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = convert(x[i]);
    std::memcpy(dst + 2 * i, &h, 2);
  }
}

void encode_row(DType t, const float* x, uint8_t* dst, int64_t n) {
  switch (t) {
    case DType::F32: std::memcpy(dst, x, size_t(n) * 4); return;
    case DType::F16: return encode_16bit<f32_to_f16>(x, dst, n);
    case DType::BF16: return encode_16bit<f32_to_bf16>(x, dst, n);
    default: quantize_row(t, x, dst, n);
  }
}

// Rows of an output tensor come in blocks (one row, or one head's matrix when it must be transposed);
// `make(b, out)` writes block b's rows_per_block x cols floats. Where the source holds every output row
// as a row of its own in one type, `stored(row)` gives that row's bytes and `stored_type` the type: an
// output of that type copies them instead of decoding and re-encoding, which for block types would add a
// second rounding (llama.cpp's quantizer also leaves a tensor already in its target type as it is).
struct Producer {
  int64_t blocks = 0, rows_per_block = 1, cols = 0;
  std::function<void(int64_t block, float* out)> make;
  std::function<const uint8_t*(int64_t row)> stored = nullptr;
  DType stored_type = DType::F32;
};

// Whether w's rows can be copied as they are stored: standard layout, no separate (FP8) scales.
bool copyable(const WeightMatrix& w) { return !w.empty() && !w.row_groups && w.block_scale == nullptr; }

// Row r of a copyable matrix, as stored.
const uint8_t* stored_row(const WeightMatrix& w, int64_t r) { return w.data + size_t(r) * dtype_row_bytes(w.dtype, w.cols); }

class Exporter {
 public:
  Exporter(const Model& m, const GgufExportOptions& o, ThreadPool& pool) : m_(m), c_(m.config()), o_(o), pool_(pool) {}

  std::vector<std::string> run(const std::string& out_path) {
    metadata();
    tensors();
    return w_.write(out_path, o_.split_max_bytes);
  }

 private:
  void put(const std::string& key, GgufValue v) { w_.set(key, std::move(v)); }
  std::string k(const std::string& key) const { return arch_ + "." + key; }

  void metadata() {
    switch (c_.arch) {
      case Arch::DeepseekV2: case Arch::DeepseekV3: arch_ = "deepseek2"; break;
      case Arch::Qwen2: arch_ = "qwen2"; break;
      case Arch::Qwen3: arch_ = "qwen3"; break;
      case Arch::Llama: arch_ = "llama"; break;
    }
    put("general.architecture", GgufValue::of_string(arch_));
    put("general.name", GgufValue::of_string(o_.name.empty() ? "r1.cpp export" : o_.name));
    put("general.file_type", GgufValue::of_u32(o_.mix.llama_ftype));
    if (dtype_is_block(o_.mix.base)) put("general.quantization_version", GgufValue::of_u32(2));
    const int64_t mtp_layers = o_.mtp ? int64_t(m_.weights().mtp.size()) : 0;
    put(k("block_count"), GgufValue::of_u32(uint32_t(c_.num_layers + mtp_layers)));
    put(k("context_length"), GgufValue::of_u32(uint32_t(c_.max_position_embeddings)));
    put(k("embedding_length"), GgufValue::of_u32(uint32_t(c_.hidden_size)));
    put(k("feed_forward_length"), GgufValue::of_u32(uint32_t(c_.intermediate_size)));
    put(k("attention.head_count"), GgufValue::of_u32(uint32_t(c_.num_heads)));
    put(k("attention.layer_norm_rms_epsilon"), GgufValue::of_f32(float(c_.rms_norm_eps)));
    put(k("rope.freq_base"), GgufValue::of_f32(float(c_.rope.theta)));
    put(k("rope.dimension_count"), GgufValue::of_u32(uint32_t(c_.rope.dim)));
    put(k("vocab_size"), GgufValue::of_u32(uint32_t(c_.vocab_size)));
    if (c_.is_mla) {
      mla_metadata(mtp_layers);
    } else {
      put(k("attention.head_count_kv"), GgufValue::of_u32(uint32_t(c_.num_kv_heads)));
      put(k("attention.key_length"), GgufValue::of_u32(uint32_t(c_.head_dim)));
      put(k("attention.value_length"), GgufValue::of_u32(uint32_t(c_.head_dim)));
      if (c_.rope.scaling == RopeScaling::Yarn) fail("{}: YaRN scaling of a {} model cannot be written to GGUF yet", m_.files().path(), arch_);
    }
    tokenizer();
  }

  void mla_metadata(int64_t mtp_layers) {
    const int64_t dn = c_.qk_nope_head_dim, dr = c_.qk_rope_head_dim, dv = c_.v_head_dim, dc = c_.kv_lora_rank;
    // llama.cpp reads q_lora_rank unless it believes the model is V2-Lite (by layer count): always write it.
    put(k("attention.q_lora_rank"), GgufValue::of_u32(uint32_t(c_.q_lora_rank)));
    put(k("attention.kv_lora_rank"), GgufValue::of_u32(uint32_t(dc)));
    if (o_.legacy_kv_b) {  // the MHA view of older files
      put(k("attention.head_count_kv"), GgufValue::of_u32(uint32_t(c_.num_heads)));
      put(k("attention.key_length"), GgufValue::of_u32(uint32_t(dn + dr)));
      put(k("attention.value_length"), GgufValue::of_u32(uint32_t(dv)));
    } else {  // the absorbed (MQA over the latent) view, with the per-head sizes in *_mla
      put(k("attention.head_count_kv"), GgufValue::of_u32(1));
      put(k("attention.key_length"), GgufValue::of_u32(uint32_t(dc + dr)));
      put(k("attention.value_length"), GgufValue::of_u32(uint32_t(dc)));
      put(k("attention.key_length_mla"), GgufValue::of_u32(uint32_t(dn + dr)));
      put(k("attention.value_length_mla"), GgufValue::of_u32(uint32_t(dv)));
    }
    if (c_.n_routed_experts > 0) {
      put(k("leading_dense_block_count"), GgufValue::of_u32(uint32_t(c_.first_k_dense_replace)));
      put(k("expert_feed_forward_length"), GgufValue::of_u32(uint32_t(c_.moe_intermediate_size)));
      put(k("expert_count"), GgufValue::of_u32(uint32_t(c_.n_routed_experts)));
      put(k("expert_shared_count"), GgufValue::of_u32(uint32_t(c_.n_shared_experts)));
      put(k("expert_used_count"), GgufValue::of_u32(uint32_t(c_.num_experts_per_tok)));
      put(k("expert_weights_scale"), GgufValue::of_f32(float(c_.routed_scaling_factor)));
      put(k("expert_weights_norm"), GgufValue::of_bool(c_.norm_topk_prob));
      put(k("expert_gating_func"), GgufValue::of_u32(c_.scoring == Scoring::Sigmoid ? 2 : 1));
      // Every group used is no group restriction at all, which llama.cpp only accepts spelled as one group:
      // it aborts on a file with expert_group_used_count == expert_group_count > 1 (GGML_ASSERT at load).
      const bool all_groups = c_.topk_group >= c_.n_group;
      put(k("expert_group_count"), GgufValue::of_u32(uint32_t(all_groups ? 1 : c_.n_group)));
      put(k("expert_group_used_count"), GgufValue::of_u32(uint32_t(all_groups ? 1 : c_.topk_group)));
      if (c_.moe_layer_freq != 1) fail("{}: moe_layer_freq {} cannot be expressed in GGUF", m_.files().path(), c_.moe_layer_freq);
      if ((c_.scoring == Scoring::Sigmoid) != (c_.router == Router::NoauxTC)) {
        fail("{}: router {} with {} scoring cannot be expressed in GGUF (llama.cpp ties sigmoid to noaux_tc)",
             m_.files().path(), router_label(c_.router), c_.scoring == Scoring::Sigmoid ? "sigmoid" : "softmax");
      }
    }
    if (mtp_layers > 0) put(k("nextn_predict_layers"), GgufValue::of_u32(uint32_t(mtp_layers)));
    if (c_.rope.scaling == RopeScaling::Yarn) {
      // llama.cpp assumes mscale == mscale_all_dim and stores 0.1 * mscale_all_dim.
      if (c_.rope.mscale != c_.rope.mscale_all_dim) {
        fail("{}: YaRN with mscale {} != mscale_all_dim {} cannot be expressed in GGUF", m_.files().path(),
             c_.rope.mscale, c_.rope.mscale_all_dim);
      }
      put(k("rope.scaling.type"), GgufValue::of_string("yarn"));
      put(k("rope.scaling.factor"), GgufValue::of_f32(float(c_.rope.factor)));
      put(k("rope.scaling.original_context_length"), GgufValue::of_u32(uint32_t(c_.rope.original_max_position_embeddings)));
      put(k("rope.scaling.yarn_log_multiplier"), GgufValue::of_f32(float(0.1 * c_.rope.mscale_all_dim)));
    }
  }

  void tokenizer() {
    const ModelDir& d = m_.files();
    std::optional<tok::GgufVocab> vocab;
    if (d.gguf()) {
      if (d.gguf()->metadata.count("tokenizer.ggml.model")) vocab = read_gguf_vocab(*d.gguf(), d.path());
    } else if (tok::Tokenizer::dir_has_tokenizer(d.path())) {
      vocab = tok::gguf_vocab_from_dir(d.path());
    }
    if (vocab) write_gguf_vocab(w_, *vocab);
  }

  // ---- tensors ----

  DType matrix_type(const std::string& gguf_name, int64_t layer, int64_t cols) const {
    const QuantMix& mix = o_.mix;
    DType t = mix.base;
    if (gguf_name == "output.weight") t = mix.output;
    const bool sensitive = gguf_name.find(".attn_v.") != std::string::npos || gguf_name.find(".attn_v_b.") != std::string::npos ||
                           gguf_name.find(".ffn_down") != std::string::npos;
    if (sensitive && layer >= 0 && use_more_bits(layer, c_.num_layers)) t = mix.sensitive;
    // Router logits decide which experts run: llama.cpp keeps the router in F32 in every file type.
    if (gguf_name.find(".ffn_gate_inp.") != std::string::npos) t = DType::F32;
    return type_for_row_length(t, cols);
  }

  void add(const std::string& name, std::vector<int64_t> ne, DType type, Producer p) {
    const size_t row_bytes = dtype_row_bytes(type, p.cols);
    auto fill = [this, p = std::move(p), type, row_bytes, name](uint8_t* dst, size_t nbytes) {
      if (nbytes != size_t(p.blocks * p.rows_per_block) * row_bytes) fail("internal: {} size mismatch", name);
      if (p.stored && p.stored_type == type) {
        pool_.parallel_for(size_t(p.blocks * p.rows_per_block), [&](size_t r0, size_t r1, int) {
          for (size_t r = r0; r < r1; ++r) std::memcpy(dst + r * row_bytes, p.stored(int64_t(r)), row_bytes);
        });
        if (o_.progress) o_.progress(++written_, w_.tensor_count());
        return;
      }
      pool_.parallel_for(size_t(p.blocks), [&](size_t b0, size_t b1, int) {
        std::vector<float> buf(size_t(p.rows_per_block * p.cols));
        for (size_t b = b0; b < b1; ++b) {
          p.make(int64_t(b), buf.data());
          for (int64_t r = 0; r < p.rows_per_block; ++r) {
            encode_row(type, buf.data() + r * p.cols, dst + (int64_t(b) * p.rows_per_block + r) * row_bytes, p.cols);
          }
        }
      });
      if (o_.progress) o_.progress(++written_, w_.tensor_count());
    };
    w_.add_tensor(name, type, std::move(ne), std::move(fill));
  }

  void vec(const std::string& name, const Vec& v) {
    if (v.empty()) return;
    const Vec* src = &v;
    add(name, {int64_t(v.size())}, DType::F32,
        {1, 1, int64_t(v.size()), [src](int64_t, float* out) { std::memcpy(out, src->data(), src->size() * 4); }});
  }

  // rows in output order; `src_row` maps them to rows of `w` (identity unless permuted).
  void matrix(const std::string& name, const WeightMatrix& w, int64_t layer, std::function<int64_t(int64_t)> src_row = nullptr) {
    if (w.empty()) return;
    const WeightMatrix* m = &w;
    Producer p{w.rows, 1, w.cols, [m, src_row](int64_t r, float* out) { dequant_row(*m, src_row ? src_row(r) : r, out); }};
    if (copyable(w)) {
      p.stored = [m, src_row](int64_t r) { return stored_row(*m, src_row ? src_row(r) : r); };
      p.stored_type = w.dtype;
    }
    add(name, {w.cols, w.rows}, matrix_type(name, layer, w.cols), std::move(p));
  }

  // Llama's q/k rows permuted from halves to pairs: llama.cpp's Llama graph rotates adjacent pairs.
  std::function<int64_t(int64_t)> rope_permutation() const {
    if (c_.arch != Arch::Llama || c_.rope.interleaved) return nullptr;
    const int64_t hd = c_.head_dim;
    return [hd](int64_t r) {
      const int64_t h = r / hd, k = r % hd;
      return h * hd + (k % 2) * (hd / 2) + k / 2;
    };
  }

  void linear(const std::string& name, const Linear& l, int64_t layer, std::function<int64_t(int64_t)> perm = nullptr) {
    matrix(name + ".weight", l.w, layer, perm);
    if (l.bias.empty()) return;
    if (!perm) return vec(name + ".bias", l.bias);
    Vec permuted(l.bias.size());
    for (size_t r = 0; r < permuted.size(); ++r) permuted[r] = l.bias[size_t(perm(int64_t(r)))];
    vec(name + ".bias", own(std::move(permuted)));
  }

  void experts(const std::string& name, const std::vector<const WeightMatrix*>& ws, int64_t layer) {
    const int64_t rows = ws[0]->rows, cols = ws[0]->cols, E = int64_t(ws.size());
    std::vector<const WeightMatrix*> copy = ws;
    Producer p{E * rows, 1, cols, [copy, rows](int64_t r, float* out) { dequant_row(*copy[size_t(r / rows)], r % rows, out); }};
    if (std::all_of(ws.begin(), ws.end(), [&](const WeightMatrix* w) { return copyable(*w) && w->dtype == ws[0]->dtype; })) {
      p.stored = [copy, rows](int64_t r) { return stored_row(*copy[size_t(r / rows)], r % rows); };
      p.stored_type = ws[0]->dtype;
    }
    add(name, {cols, rows, E}, matrix_type(name, layer, cols), std::move(p));
  }

  // p's output row r is row r of `w`, where the source has `w` (else it has the other kv_b layout).
  static void with_stored_rows(Producer& p, const WeightMatrix& w) {
    if (!copyable(w)) return;
    const WeightMatrix* m = &w;
    p.stored = [m](int64_t r) { return stored_row(*m, r); };
    p.stored_type = w.dtype;
  }

  void mla(const std::string& p, const MlaWeights& a, int64_t layer) {
    const int64_t H = c_.num_heads, dn = c_.qk_nope_head_dim, dv = c_.v_head_dim, dc = c_.kv_lora_rank;
    if (c_.q_lora_rank > 0) {
      linear(p + "attn_q_a", a.q_a, layer);
      vec(p + "attn_q_a_norm.weight", a.q_a_norm);
      linear(p + "attn_q_b", a.q_b, layer);
    } else {
      linear(p + "attn_q", a.q, layer);
    }
    linear(p + "attn_kv_a_mqa", a.kv_a, layer);
    vec(p + "attn_kv_a_norm.weight", a.kv_a_norm);
    // Either layout in, either layout out: per head, W_UK,h is [d_h, d_c] (rows of kv_b) or stored
    // transposed as [d_c, d_h] (k_b_t); W_UV,h is [d_v, d_c] in both.
    const MlaWeights* src = &a;
    auto uk_t = [src, dn, dv, dc](int64_t h, float* out) {  // W_UK,hᵀ into out[d_c][d_h]
      if (src->kv_b.empty()) {
        for (int64_t j = 0; j < dc; ++j) dequant_row(src->k_b_t, h * dc + j, out + j * dn);
        return;
      }
      std::vector<float> row(static_cast<size_t>(dc));
      for (int64_t i = 0; i < dn; ++i) {
        dequant_row(src->kv_b, h * (dn + dv) + i, row.data());
        for (int64_t j = 0; j < dc; ++j) out[j * dn + i] = row[size_t(j)];
      }
    };
    auto uv = [src, dn, dv, dc](int64_t h, float* out) {  // W_UV,h into out[d_v][d_c]
      for (int64_t j = 0; j < dv; ++j) {
        if (src->kv_b.empty()) dequant_row(src->v_b, h * dv + j, out + j * dc);
        else dequant_row(src->kv_b, h * (dn + dv) + dn + j, out + j * dc);
      }
    };
    if (o_.legacy_kv_b) {
      Producer kvb{H, dn + dv, dc, [uk_t, uv, dn, dc](int64_t h, float* out) {
                     std::vector<float> t(size_t(dc * dn));
                     uk_t(h, t.data());
                     for (int64_t i = 0; i < dn; ++i) {
                       for (int64_t j = 0; j < dc; ++j) out[i * dc + j] = t[size_t(j * dn + i)];
                     }
                     uv(h, out + dn * dc);
                   }};
      with_stored_rows(kvb, a.kv_b);  // the same layout in and out: row for row
      add(p + "attn_kv_b.weight", {dc, H * (dn + dv)}, matrix_type(p + "attn_kv_b.weight", layer, dc), std::move(kvb));
    } else {
      Producer k_b{H, dc, dn, uk_t}, v_b{H, dv, dc, uv};
      with_stored_rows(k_b, a.k_b_t);
      with_stored_rows(v_b, a.v_b);
      add(p + "attn_k_b.weight", {dn, dc, H}, matrix_type(p + "attn_k_b.weight", layer, dn), std::move(k_b));
      add(p + "attn_v_b.weight", {dc, dv, H}, matrix_type(p + "attn_v_b.weight", layer, dc), std::move(v_b));
    }
    linear(p + "attn_output", a.o, layer);
  }

  void layer(const std::string& p, const LayerWeights& L, int64_t layer) {
    vec(p + "attn_norm.weight", L.attn_norm);
    if (c_.is_mla) {
      mla(p, L.mla, layer);
    } else {
      linear(p + "attn_q", L.gqa.q, layer, rope_permutation());
      linear(p + "attn_k", L.gqa.k, layer, rope_permutation());
      linear(p + "attn_v", L.gqa.v, layer);
      linear(p + "attn_output", L.gqa.o, layer);
      vec(p + "attn_q_norm.weight", L.gqa.q_norm);
      vec(p + "attn_k_norm.weight", L.gqa.k_norm);
    }
    vec(p + "ffn_norm.weight", L.ffn_norm);
    if (!L.is_moe) {
      linear(p + "ffn_gate", L.mlp.gate, layer);
      linear(p + "ffn_up", L.mlp.up, layer);
      linear(p + "ffn_down", L.mlp.down, layer);
      return;
    }
    const MoeWeights& m = L.moe;
    matrix(p + "ffn_gate_inp.weight", m.router, layer);
    vec(p + "exp_probs_b.bias", m.score_bias);
    std::vector<const WeightMatrix*> gate, up, down;
    for (const auto& e : m.experts) {
      gate.push_back(&e.gate.w);
      up.push_back(&e.up.w);
      down.push_back(&e.down.w);
    }
    experts(p + "ffn_gate_exps.weight", gate, layer);
    experts(p + "ffn_up_exps.weight", up, layer);
    experts(p + "ffn_down_exps.weight", down, layer);
    if (m.has_shared) {
      linear(p + "ffn_gate_shexp", m.shared.gate, layer);
      linear(p + "ffn_up_shexp", m.shared.up, layer);
      linear(p + "ffn_down_shexp", m.shared.down, layer);
    }
  }

  void tensors() {
    const ModelWeights& w = m_.weights();
    matrix("token_embd.weight", w.embed, -1);
    if (c_.rope.scaling == RopeScaling::Llama3 || !c_.rope.freq_factors.empty()) vec("rope_freqs.weight", own(rope_freq_factors()));
    for (int64_t l = 0; l < c_.num_layers; ++l) layer(fmt::format("blk.{}.", l), w.layers[size_t(l)], l);
    if (o_.mtp) {
      for (size_t k = 0; k < w.mtp.size(); ++k) {
        const MtpWeights& t = w.mtp[k];
        const int64_t l = c_.num_layers + int64_t(k);
        const std::string p = fmt::format("blk.{}.", l);
        layer(p, t.block, l);
        matrix(p + "nextn.eh_proj.weight", t.eh_proj, l);
        matrix(p + "nextn.embed_tokens.weight", t.embed, l);
        vec(p + "nextn.enorm.weight", t.enorm);
        vec(p + "nextn.hnorm.weight", t.hnorm);
        matrix(p + "nextn.shared_head_head.weight", t.head, l);
        vec(p + "nextn.shared_head_norm.weight", t.head_norm);
      }
    }
    vec("output_norm.weight", w.final_norm);
    if (!c_.tie_word_embeddings) matrix("output.weight", w.lm_head, -1);
  }

  // llama.cpp has no Llama 3 scaling formula: its files store the per-frequency divisors, i.e. the
  // plain frequencies over the scaled ones (a GGUF source's own rope_freqs come back unchanged).
  Vec rope_freq_factors() const {
    RopeConfig plain = c_.rope;
    plain.scaling = RopeScaling::None;
    plain.freq_factors.clear();
    const RopeTable base = make_rope_table(plain), scaled = make_rope_table(c_.rope);
    Vec f(base.inv_freq.size());
    for (size_t i = 0; i < f.size(); ++i) f[i] = float(base.inv_freq[i] / scaled.inv_freq[i]);
    return f;
  }

  // Keeps a vector the exporter computed alive until the file is written (tensors are filled then).
  const Vec& own(Vec v) { return owned_.emplace_back(std::move(v)); }

  const Model& m_;
  const ModelConfig& c_;
  const GgufExportOptions& o_;
  ThreadPool& pool_;
  GgufWriter w_;
  std::string arch_;
  std::deque<Vec> owned_;
  size_t written_ = 0;
};

}  // namespace

QuantMix quant_mix(const std::string& name) {
  for (const auto& m : kMixes) {
    if (m.name == name) return m;
  }
  fail("unknown type '{}' (expected one of: {})", name, quant_mix_names());
}

std::string quant_mix_names() {
  std::string s;
  for (const auto& m : kMixes) s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

DType type_for_row_length(DType wanted, int64_t cols) {
  if (cols % dtype_block_elems(wanted) == 0) return wanted;
  DType fallback = DType::F16;
  switch (wanted) {
    case DType::Q2_K: case DType::Q3_K: case DType::IQ4_XS: fallback = DType::IQ4_NL; break;
    case DType::Q4_K: fallback = DType::Q5_0; break;
    case DType::Q5_K: fallback = DType::Q5_1; break;
    case DType::Q6_K: fallback = DType::Q8_0; break;
    default: break;
  }
  return cols % dtype_block_elems(fallback) == 0 ? fallback : DType::F16;
}

std::vector<std::string> export_gguf(const Model& model, const GgufExportOptions& options, const std::string& out_path,
                                     ThreadPool& pool) {
  return Exporter(model, options, pool).run(out_path);
}

}  // namespace r1
