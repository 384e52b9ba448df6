#include "train/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/safetensors.h"
#include "model/rope.h"
#include "train/ops/gemm.h"
#include "train/ops/layers.h"
#include "train/rng.h"

namespace r1::train {

namespace {

// A parameter and its gradient.
template <class F>
struct P {
  F* w = nullptr;
  F* g = nullptr;
};

template <class F>
void add_into(F* dst, const F* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

template <class F>
void zero(std::vector<F>& v, int64_t n) {
  std::fill(v.begin(), v.begin() + n, F(0));
}

// The MTP module's own copies of the embedding and head: shared with the main model in V3 training.
bool shared_mtp_tensor(const std::string& name, int64_t main_layers) {
  if (name.rfind("model.layers.", 0) != 0) return false;
  const int64_t layer = std::stoll(name.substr(13));
  return layer >= main_layers && (name.ends_with(".embed_tokens.weight") || name.ends_with(".shared_head.head.weight"));
}

}  // namespace

// ---- the model's structure and activations ----------------------------------------------------------

template <class F>
struct TrainModel<F>::State {
  struct Layer {
    bool moe = false;
    P<F> attn_norm, ffn_norm;
    P<F> q, q_a, q_a_norm, q_b, kv_a, kv_a_norm, kv_b, o;  // attention
    P<F> gate, up, down;                                   // dense FFN
    P<F> router, router_bias;                              // MoE
    std::vector<P<F>> eg, eu, ed;                          // routed experts
    P<F> sg, su, sd;                                       // shared experts (one wide SwiGLU)
    std::string bias_name;
  };
  // What one block keeps from forward for backward.
  struct Acts {
    std::vector<F> x_in, xn1, rstd1, qa, qan, rstd_qa, q, c, cn, rstd_c, kr, kv, probs, att, x_mid, xn2, rstd2;
    std::vector<F> g, u, h;                                        // dense
    std::vector<F> rl, sc, wt, f, xe, ge, ue, he, ye, sg, su, sh;  // MoE
    std::vector<int32_t> sel, slots, off, cursor;                  // selections; slots bucketed by expert
    double balance = 0;
  };
  // Gradient scratch, shared by all blocks (backward runs one block at a time).
  struct Scratch {
    std::vector<F> y, dxn, dq, dkv, dkr, dcn, dc, dkva, dqan, dqa, datt, dh, dg, du, dwt, drl, dye, dxe, dsh, dsg, dsu;
  };

  std::vector<Layer> layers;  // main layers, then the MTP block
  bool has_mtp = false;
  P<F> embed, final_norm, head, enorm, hnorm, eh_proj, head_norm;
  std::vector<F> cos, sin;  // [max_T, dr/2]
  std::vector<Acts> acts;
  Scratch s;
  // Whole-model activations.
  int64_t T = 0, Tm = 0;
  std::vector<int32_t> tokens, targets;
  std::vector<F> x, h, xf, rstd_f, logits, lse;  // main
  std::vector<F> e, en, rstd_e, hn, rstd_h, cat, u, hm, mn, rstd_m, mlogits, mlse;  // MTP
  std::vector<F> dlogits, dx, dh, dmtp, dcat, den, dhn, de;
  int64_t counted = 0, mcounted = 0;
};

template <class F>
TrainModel<F>::TrainModel(const ModelConfig& cfg, int64_t max_tokens, LossOptions options)
    : cfg_(cfg), o_(options), max_T_(max_tokens), s_(std::make_unique<State>()) {
  const ModelConfig& c = cfg_;
  if (!c.is_mla) fail("training covers the DeepSeek (MLA) architecture; {} is not", c.arch_name);
  if (c.n_routed_experts > 0) {
    if (c.scoring != Scoring::Sigmoid || c.router != Router::NoauxTC) {
      fail("training covers DeepSeek-V3's router (scoring_func sigmoid, topk_method noaux_tc)");
    }
    if (c.n_group > 1) fail("training covers one expert group (n_group = 1), got n_group = {}", c.n_group);
  }
  if (c.num_nextn_predict_layers > 1) fail("training covers at most one MTP module, got {}", c.num_nextn_predict_layers);
  if (max_tokens < 1) fail("max_tokens must be positive");

  int64_t offset = 0;
  for (const TensorSpec& t : list_tensors(c)) {
    if (shared_mtp_tensor(t.name, c.num_layers)) continue;
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    by_name_[t.name] = params_.size();
    params_.push_back({t.name, t.shape, t.role, offset, n});
    offset += n;
  }
  w_.assign(size_t(offset), F(0));
  g_.assign(size_t(offset), F(0));

  State& s = *s_;
  auto bind = [&](const std::string& name) { return P<F>{param(name), grad(name)}; };
  s.embed = bind("model.embed_tokens.weight");
  s.final_norm = bind("model.norm.weight");
  s.head = c.tie_word_embeddings ? s.embed : bind("lm_head.weight");
  s.has_mtp = c.num_nextn_predict_layers > 0 && o_.mtp_lambda > 0;
  const int64_t blocks = c.num_layers + (s.has_mtp ? 1 : 0);
  for (int64_t l = 0; l < blocks; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    typename State::Layer L;
    L.attn_norm = bind(p + "input_layernorm.weight");
    L.ffn_norm = bind(p + "post_attention_layernorm.weight");
    const std::string a = p + "self_attn.";
    if (c.q_lora_rank > 0) {
      L.q_a = bind(a + "q_a_proj.weight");
      L.q_a_norm = bind(a + "q_a_layernorm.weight");
      L.q_b = bind(a + "q_b_proj.weight");
    } else {
      L.q = bind(a + "q_proj.weight");
    }
    L.kv_a = bind(a + "kv_a_proj_with_mqa.weight");
    L.kv_a_norm = bind(a + "kv_a_layernorm.weight");
    L.kv_b = bind(a + "kv_b_proj.weight");
    L.o = bind(a + "o_proj.weight");
    L.moe = c.is_moe_layer(l);
    if (L.moe) {
      L.router = bind(p + "mlp.gate.weight");
      L.bias_name = p + "mlp.gate.e_score_correction_bias";
      L.router_bias = bind(L.bias_name);
      for (int64_t e = 0; e < c.n_routed_experts; ++e) {
        const std::string ep = p + "mlp.experts." + std::to_string(e) + ".";
        L.eg.push_back(bind(ep + "gate_proj.weight"));
        L.eu.push_back(bind(ep + "up_proj.weight"));
        L.ed.push_back(bind(ep + "down_proj.weight"));
      }
      if (c.n_shared_experts > 0) {
        L.sg = bind(p + "mlp.shared_experts.gate_proj.weight");
        L.su = bind(p + "mlp.shared_experts.up_proj.weight");
        L.sd = bind(p + "mlp.shared_experts.down_proj.weight");
      }
    } else {
      L.gate = bind(p + "mlp.gate_proj.weight");
      L.up = bind(p + "mlp.up_proj.weight");
      L.down = bind(p + "mlp.down_proj.weight");
    }
    s.layers.push_back(std::move(L));
  }
  if (s.has_mtp) {
    const std::string p = "model.layers." + std::to_string(c.num_layers) + ".";
    s.enorm = bind(p + "enorm.weight");
    s.hnorm = bind(p + "hnorm.weight");
    s.eh_proj = bind(p + "eh_proj.weight");
    s.head_norm = bind(p + "shared_head.norm.weight");
  }

  // Activations for up to max_T tokens.
  const size_t T = size_t(max_T_), d = size_t(c.hidden_size), H = size_t(c.num_heads);
  const size_t dn = size_t(c.qk_nope_head_dim), dr = size_t(c.qk_rope_head_dim), dv = size_t(c.v_head_dim);
  const size_t dc = size_t(c.kv_lora_rank), qr = size_t(c.q_lora_rank), V = size_t(c.vocab_size);
  const size_t I = size_t(c.intermediate_size), E = size_t(c.n_routed_experts), K = size_t(c.num_experts_per_tok);
  const size_t Im = size_t(c.moe_intermediate_size), Is = size_t(c.n_shared_experts) * Im;
  for (const auto& L : s.layers) {
    typename State::Acts a;
    for (auto* v : {&a.x_in, &a.xn1, &a.x_mid, &a.xn2}) v->resize(T * d);
    for (auto* v : {&a.rstd1, &a.rstd_qa, &a.rstd_c, &a.rstd2}) v->resize(T);
    a.qa.resize(T * qr);
    a.qan.resize(T * qr);
    a.q.resize(T * H * (dn + dr));
    a.c.resize(T * dc);
    a.cn.resize(T * dc);
    a.kr.resize(T * dr);
    a.kv.resize(T * H * (dn + dv));
    a.probs.resize(H * T * T);
    a.att.resize(T * H * dv);
    if (L.moe) {
      a.rl.resize(T * E);
      a.sc.resize(T * E);
      a.wt.resize(T * K);
      a.f.resize(E);
      a.sel.resize(T * K);
      a.slots.resize(T * K);
      a.off.resize(E + 1);
      a.cursor.resize(E);
      a.xe.resize(T * K * d);
      a.ye.resize(T * K * d);
      for (auto* v : {&a.ge, &a.ue, &a.he}) v->resize(T * K * Im);
      for (auto* v : {&a.sg, &a.su, &a.sh}) v->resize(T * Is);
    } else {
      for (auto* v : {&a.g, &a.u, &a.h}) v->resize(T * I);
    }
    s.acts.push_back(std::move(a));
  }
  const size_t width = std::max({I, K * Im, Is, size_t(1)});
  const size_t rows = std::max(T * K, T);
  auto& sc = s.s;
  for (auto* v : {&sc.y, &sc.dxn}) v->resize(T * d);
  sc.dq.resize(T * H * (dn + dr));
  sc.dkv.resize(T * H * (dn + dv));
  sc.dkr.resize(T * dr);
  sc.dcn.resize(T * dc);
  sc.dc.resize(T * dc);
  sc.dkva.resize(T * (dc + dr));
  sc.dqan.resize(T * qr);
  sc.dqa.resize(T * qr);
  sc.datt.resize(T * H * dv);
  for (auto* v : {&sc.dh, &sc.dg, &sc.du}) v->resize(rows * width);
  sc.dwt.resize(T * K);
  sc.drl.resize(T * E);
  sc.dye.resize(rows * d);
  sc.dxe.resize(rows * d);
  for (auto* v : {&sc.dsh, &sc.dsg, &sc.dsu}) v->resize(T * Is);
  for (auto* v : {&s.x, &s.h, &s.xf, &s.dx, &s.dh, &s.e, &s.en, &s.hn, &s.u, &s.hm, &s.mn}) v->resize(T * d);
  for (auto* v : {&s.dmtp, &s.den, &s.dhn, &s.de}) v->resize(T * d);
  s.cat.resize(T * 2 * d);
  s.dcat.resize(T * 2 * d);
  for (auto* v : {&s.rstd_f, &s.lse, &s.rstd_e, &s.rstd_h, &s.rstd_m, &s.mlse}) v->resize(T);
  for (auto* v : {&s.logits, &s.mlogits, &s.dlogits}) v->resize(T * V);
  s.tokens.resize(T);
  s.targets.resize(T);

  // RoPE angles of positions 0..max_T-1, computed as rope_cos_sin does (double angles, rounded once to
  // F), so the float build rotates by exactly the engine's values.
  const RopeTable rope = make_rope_table(c.rope);
  const size_t half = dr / 2;
  s.cos.resize(T * half);
  s.sin.resize(T * half);
  for (size_t t = 0; t < T; ++t) {
    for (size_t i = 0; i < half; ++i) {
      const double angle = double(t) * rope.inv_freq[i];
      s.cos[t * half + i] = F(std::cos(angle) * rope.cos_sin_scale);
      s.sin[t * half + i] = F(std::sin(angle) * rope.cos_sin_scale);
    }
  }
}

template <class F>
TrainModel<F>::~TrainModel() = default;

template <class F>
const ParamInfo& TrainModel<F>::param_info(const std::string& name) const {
  const auto it = by_name_.find(name);
  if (it == by_name_.end()) fail("training: no parameter named '{}'", name);
  return params_[it->second];
}

template <class F>
void TrainModel<F>::zero_grads() {
  std::fill(g_.begin(), g_.end(), F(0));
}

template <class F>
void TrainModel<F>::init(uint64_t seed, double std) {
  Rng rng(seed);
  const double out_scale = 1.0 / std::sqrt(2.0 * double(std::max<int64_t>(1, cfg_.num_layers)));
  for (const ParamInfo& p : params_) {
    F* w = w_.data() + p.offset;
    if (p.role == TensorRole::Norm) {
      std::fill(w, w + p.size, F(1));
    } else if (p.role == TensorRole::RouterBias || p.role == TensorRole::Bias) {
      std::fill(w, w + p.size, F(0));
    } else {
      const bool out_proj = p.name.ends_with("o_proj.weight") || p.name.ends_with("down_proj.weight");
      const double sd = std * (out_proj ? out_scale : 1.0);
      for (int64_t i = 0; i < p.size; i += 2) {  // Box-Muller on 53-bit uniforms
        const double u1 = (double(rng.next() >> 11) + 1.0) * 0x1.0p-53, u2 = double(rng.next() >> 11) * 0x1.0p-53;
        const double r = std::sqrt(-2.0 * std::log(u1));
        w[i] = F(float(sd * r * std::cos(2.0 * M_PI * u2)));  // float values: F32 checkpoints hold them exactly
        if (i + 1 < p.size) w[i + 1] = F(float(sd * r * std::sin(2.0 * M_PI * u2)));
      }
    }
  }
}

template <class F>
void TrainModel<F>::load(const std::string& path, std::vector<F>& values) const {
  values.resize(w_.size());
  const MappedFile file(path);
  const SafetensorsHeader header = parse_safetensors_header(file.data(), file.size(), path);
  std::unordered_map<std::string, const SafetensorsEntry*> entries;
  for (const auto& e : header.tensors) entries[e.name] = &e;
  for (const ParamInfo& p : params_) {
    const auto it = entries.find(p.name);
    if (it == entries.end()) fail("{}: tensor '{}' is missing", path, p.name);
    const SafetensorsEntry& e = *it->second;
    if (e.shape != p.shape) fail("{}: tensor '{}' has the wrong shape", path, p.name);
    const uint8_t* src = file.data() + header.data_offset + e.begin;
    F* dst = values.data() + p.offset;
    for (int64_t i = 0; i < p.size; ++i) {
      float v = 0;
      switch (e.dtype) {
        case DType::F32: std::memcpy(&v, src + 4 * i, 4); break;
        case DType::F16: v = f16_to_f32(uint16_t(src[2 * i] | (src[2 * i + 1] << 8))); break;
        case DType::BF16: v = bf16_to_f32(uint16_t(src[2 * i] | (src[2 * i + 1] << 8))); break;
        default: fail("{}: tensor '{}': training reads F32, F16 or BF16, not {}", path, p.name, dtype_name(e.dtype));
      }
      dst[i] = F(v);
    }
  }
}

template <class F>
void TrainModel<F>::save(const std::string& path, const std::vector<F>& values) const {
  if (values.size() != w_.size()) fail("internal: {} values to save, the parameters have {}", values.size(), w_.size());
  SafetensorsWriter out;
  for (const ParamInfo& p : params_) {
    const F* src = values.data() + p.offset;
    out.add(p.name, DType::F32, p.shape, [src, n = p.size](uint8_t* dst, size_t) {
      for (int64_t i = 0; i < n; ++i) {
        const float v = float(src[i]);
        std::memcpy(dst + 4 * i, &v, 4);
      }
    });
  }
  out.set_metadata("format", "pt");
  out.write(path);
}

// ---- one block: attention and FFN, forward -------------------------------------------------------

template <class F>
void TrainModel<F>::block_forward(size_t index, F* x, int64_t T, ThreadPool& pool) {
  const ModelConfig& c = cfg_;
  const LossOptions& o = o_;
  State& s = *s_;
  auto& L = s.layers[index];
  auto& a = s.acts[index];
  const int64_t d = c.hidden_size, H = c.num_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim;
  const int64_t dv = c.v_head_dim, dc = c.kv_lora_rank, qr = c.q_lora_rank, qk = dn + dr;
  const double eps = c.rms_norm_eps;
  std::copy(x, x + T * d, a.x_in.begin());

  // Attention (MLA, naive form).
  rmsnorm_forward(x, L.attn_norm.w, T, d, eps, a.xn1.data(), a.rstd1.data());
  if (qr > 0) {
    linear_forward(a.xn1.data(), L.q_a.w, nullptr, a.qa.data(), T, d, qr, pool);
    rmsnorm_forward(a.qa.data(), L.q_a_norm.w, T, qr, eps, a.qan.data(), a.rstd_qa.data());
    linear_forward(a.qan.data(), L.q_b.w, nullptr, a.q.data(), T, qr, H * qk, pool);
  } else {
    linear_forward(a.xn1.data(), L.q.w, nullptr, a.q.data(), T, d, H * qk, pool);
  }
  F* kva = s.s.dkva.data();  // [T, dc + dr], split at once into c and k_R
  linear_forward(a.xn1.data(), L.kv_a.w, nullptr, kva, T, d, dc + dr, pool);
  for (int64_t t = 0; t < T; ++t) {
    std::copy(kva + t * (dc + dr), kva + t * (dc + dr) + dc, a.c.begin() + t * dc);
    std::copy(kva + t * (dc + dr) + dc, kva + (t + 1) * (dc + dr), a.kr.begin() + t * dr);
  }
  rmsnorm_forward(a.c.data(), L.kv_a_norm.w, T, dc, eps, a.cn.data(), a.rstd_c.data());
  linear_forward(a.cn.data(), L.kv_b.w, nullptr, a.kv.data(), T, dc, H * (dn + dv), pool);
  const RopeLayout rq{T, H, H * qk, qk, dr}, rk{T, 1, dr, dr, dr};
  rope_forward(rq, a.q.data() + dn, s.cos.data(), s.sin.data());
  rope_forward(rk, a.kr.data(), s.cos.data(), s.sin.data());
  const AttentionShape as{T, H, dn, dr, dv, c.softmax_scale};
  attention_forward(as, a.q.data(), a.kv.data(), a.kr.data(), a.att.data(), a.probs.data(), pool);
  F* y = s.s.y.data();
  linear_forward(a.att.data(), L.o.w, nullptr, y, T, H * dv, d, pool);
  add_into(x, y, T * d);
  std::copy(x, x + T * d, a.x_mid.begin());

  // FFN.
  rmsnorm_forward(x, L.ffn_norm.w, T, d, eps, a.xn2.data(), a.rstd2.data());
  if (!L.moe) {
    const int64_t I = c.intermediate_size;
    linear_forward(a.xn2.data(), L.gate.w, nullptr, a.g.data(), T, d, I, pool);
    linear_forward(a.xn2.data(), L.up.w, nullptr, a.u.data(), T, d, I, pool);
    swiglu_forward(a.g.data(), a.u.data(), T * I, a.h.data());
    linear_forward(a.h.data(), L.down.w, nullptr, y, T, I, d, pool);
    add_into(x, y, T * d);
    return;
  }
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok, Im = c.moe_intermediate_size;
  const RouterShape rs{T, E, K, c.norm_topk_prob, c.routed_scaling_factor};
  linear_forward(a.xn2.data(), L.router.w, nullptr, a.rl.data(), T, d, E, pool);
  router_forward(rs, a.rl.data(), L.router_bias.w, a.sc.data(), a.sel.data(), a.wt.data());
  a.balance = o.balance_alpha > 0 ? balance_loss_forward(rs, a.sc.data(), a.sel.data(), o.balance_alpha, a.f.data()) : 0.0;
  // Bucket the (token, slot) selections by expert, tokens ascending within an expert.
  std::fill(a.off.begin(), a.off.end(), 0);
  for (int64_t i = 0; i < T * K; ++i) a.off[size_t(a.sel[size_t(i)]) + 1]++;
  for (int64_t e = 0; e < E; ++e) a.off[size_t(e + 1)] += a.off[size_t(e)];
  std::copy(a.off.begin(), a.off.end() - 1, a.cursor.begin());
  for (int64_t i = 0; i < T * K; ++i) a.slots[size_t(a.cursor[size_t(a.sel[size_t(i)])]++)] = int32_t(i);
  for (int64_t i = 0; i < T * K; ++i) {
    const int64_t t = a.slots[size_t(i)] / K;
    std::copy(a.xn2.begin() + t * d, a.xn2.begin() + (t + 1) * d, a.xe.begin() + i * d);
  }
  for (int64_t e = 0; e < E; ++e) {
    const int64_t b = a.off[size_t(e)], n = a.off[size_t(e + 1)] - b;
    if (n == 0) continue;
    linear_forward(a.xe.data() + b * d, L.eg[size_t(e)].w, nullptr, a.ge.data() + b * Im, n, d, Im, pool);
    linear_forward(a.xe.data() + b * d, L.eu[size_t(e)].w, nullptr, a.ue.data() + b * Im, n, d, Im, pool);
    swiglu_forward(a.ge.data() + b * Im, a.ue.data() + b * Im, n * Im, a.he.data() + b * Im);
    linear_forward(a.he.data() + b * Im, L.ed[size_t(e)].w, nullptr, a.ye.data() + b * d, n, Im, d, pool);
  }
  std::fill(y, y + T * d, F(0));
  for (int64_t i = 0; i < T * K; ++i) {
    const int64_t slot = a.slots[size_t(i)], t = slot / K;
    const F w = a.wt[size_t(slot)];
    for (int64_t j = 0; j < d; ++j) y[t * d + j] += w * a.ye[size_t(i * d + j)];
  }
  if (c.n_shared_experts > 0) {
    const int64_t Is = c.n_shared_experts * Im;
    linear_forward(a.xn2.data(), L.sg.w, nullptr, a.sg.data(), T, d, Is, pool);
    linear_forward(a.xn2.data(), L.su.w, nullptr, a.su.data(), T, d, Is, pool);
    swiglu_forward(a.sg.data(), a.su.data(), T * Is, a.sh.data());
    F* ys = s.s.dxn.data();  // free until backward
    linear_forward(a.sh.data(), L.sd.w, nullptr, ys, T, Is, d, pool);
    add_into(y, ys, T * d);
  }
  add_into(x, y, T * d);
}

// ---- one block, backward: dx holds ∂/∂(block output) and becomes ∂/∂(block input) ------------------

// SwiGLU FFN backward: from dy [n, d] to dx [n, d] (overwritten), weight gradients added.
template <class F>
static void swiglu_ffn_backward(const F* dy, const F* x, const F* g, const F* u, const F* h, const P<F>& wg,
                                const P<F>& wu, const P<F>& wd, int64_t n, int64_t d, int64_t width, F* dh, F* dg,
                                F* du, F* dx, ThreadPool& pool) {
  linear_backward_input(dy, wd.w, dh, n, width, d, false, pool);
  linear_backward_weight(dy, h, wd.g, nullptr, n, width, d, pool);
  std::fill(dg, dg + n * width, F(0));
  std::fill(du, du + n * width, F(0));
  swiglu_backward(dh, g, u, n * width, dg, du);
  linear_backward_input(dg, wg.w, dx, n, d, width, false, pool);
  linear_backward_input(du, wu.w, dx, n, d, width, true, pool);
  linear_backward_weight(dg, x, wg.g, nullptr, n, d, width, pool);
  linear_backward_weight(du, x, wu.g, nullptr, n, d, width, pool);
}

template <class F>
void TrainModel<F>::block_backward(size_t index, F* dx, int64_t T, double scale, ThreadPool& pool) {
  const ModelConfig& c = cfg_;
  const LossOptions& o = o_;
  State& s = *s_;
  auto& L = s.layers[index];
  auto& a = s.acts[index];
  auto& sc = s.s;
  const int64_t d = c.hidden_size, H = c.num_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim;
  const int64_t dv = c.v_head_dim, dc = c.kv_lora_rank, qr = c.q_lora_rank, qk = dn + dr;

  // FFN: dy = dx; dxn2 = ∂/∂(normed input of the FFN).
  F* dxn = sc.dxn.data();
  if (!L.moe) {
    swiglu_ffn_backward(dx, a.xn2.data(), a.g.data(), a.u.data(), a.h.data(), L.gate, L.up, L.down, T, d,
                        c.intermediate_size, sc.dh.data(), sc.dg.data(), sc.du.data(), dxn, pool);
  } else {
    const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok, Im = c.moe_intermediate_size;
    const RouterShape rs{T, E, K, c.norm_topk_prob, c.routed_scaling_factor};
    std::fill(dxn, dxn + T * d, F(0));
    if (c.n_shared_experts > 0) {
      const int64_t Is = c.n_shared_experts * Im;
      F* dxs = sc.dxe.data();
      swiglu_ffn_backward(dx, a.xn2.data(), a.sg.data(), a.su.data(), a.sh.data(), L.sg, L.su, L.sd, T, d, Is,
                          sc.dsh.data(), sc.dsg.data(), sc.dsu.data(), dxs, pool);
      add_into(dxn, dxs, T * d);
    }
    // Routed experts: y_t = Σ_k w_tk · y_e(x_t), so ∂y_e = w·dy and ∂w = dy·y_e.
    std::fill(sc.dwt.begin(), sc.dwt.begin() + T * K, F(0));
    for (int64_t i = 0; i < T * K; ++i) {
      const int64_t slot = a.slots[size_t(i)], t = slot / K;
      const F w = a.wt[size_t(slot)];
      double dw = 0;
      for (int64_t j = 0; j < d; ++j) {
        sc.dye[size_t(i * d + j)] = w * dx[t * d + j];
        dw += double(dx[t * d + j]) * double(a.ye[size_t(i * d + j)]);
      }
      sc.dwt[size_t(slot)] = F(dw);
    }
    for (int64_t e = 0; e < E; ++e) {
      const int64_t b = a.off[size_t(e)], n = a.off[size_t(e + 1)] - b;
      if (n == 0) continue;
      swiglu_ffn_backward(sc.dye.data() + b * d, a.xe.data() + b * d, a.ge.data() + b * Im, a.ue.data() + b * Im,
                          a.he.data() + b * Im, L.eg[size_t(e)], L.eu[size_t(e)], L.ed[size_t(e)], n, d, Im,
                          sc.dh.data(), sc.dg.data(), sc.du.data(), sc.dxe.data() + b * d, pool);
    }
    for (int64_t i = 0; i < T * K; ++i) {
      const int64_t t = a.slots[size_t(i)] / K;
      add_into(dxn + t * d, sc.dxe.data() + i * d, d);
    }
    std::fill(sc.drl.begin(), sc.drl.begin() + T * E, F(0));
    router_backward(rs, a.sc.data(), a.sel.data(), sc.dwt.data(), sc.drl.data());
    if (o.balance_alpha > 0) balance_loss_backward(rs, a.sc.data(), a.f.data(), o.balance_alpha, scale, sc.drl.data());
    linear_backward_input(sc.drl.data(), L.router.w, dxn, T, d, E, true, pool);
    linear_backward_weight(sc.drl.data(), a.xn2.data(), L.router.g, nullptr, T, d, E, pool);
  }
  // The residual carries dx through; the FFN's share comes back through its RMSNorm.
  rmsnorm_backward(dxn, a.x_mid.data(), L.ffn_norm.w, a.rstd2.data(), T, d, dx, L.ffn_norm.g);

  // Attention.
  linear_backward_input(dx, L.o.w, sc.datt.data(), T, H * dv, d, false, pool);
  linear_backward_weight(dx, a.att.data(), L.o.g, nullptr, T, H * dv, d, pool);
  std::fill(sc.dq.begin(), sc.dq.begin() + T * H * qk, F(0));
  std::fill(sc.dkv.begin(), sc.dkv.begin() + T * H * (dn + dv), F(0));
  std::fill(sc.dkr.begin(), sc.dkr.begin() + T * dr, F(0));
  const AttentionShape as{T, H, dn, dr, dv, c.softmax_scale};
  attention_backward(as, sc.datt.data(), a.q.data(), a.kv.data(), a.kr.data(), a.probs.data(), sc.dq.data(),
                     sc.dkv.data(), sc.dkr.data(), pool);
  const RopeLayout rq{T, H, H * qk, qk, dr}, rk{T, 1, dr, dr, dr};
  rope_backward(rq, sc.dq.data() + dn, s.cos.data(), s.sin.data());
  rope_backward(rk, sc.dkr.data(), s.cos.data(), s.sin.data());
  linear_backward_input(sc.dkv.data(), L.kv_b.w, sc.dcn.data(), T, dc, H * (dn + dv), false, pool);
  linear_backward_weight(sc.dkv.data(), a.cn.data(), L.kv_b.g, nullptr, T, dc, H * (dn + dv), pool);
  std::fill(sc.dc.begin(), sc.dc.begin() + T * dc, F(0));
  rmsnorm_backward(sc.dcn.data(), a.c.data(), L.kv_a_norm.w, a.rstd_c.data(), T, dc, sc.dc.data(), L.kv_a_norm.g);
  for (int64_t t = 0; t < T; ++t) {
    std::copy(sc.dc.begin() + t * dc, sc.dc.begin() + (t + 1) * dc, sc.dkva.begin() + t * (dc + dr));
    std::copy(sc.dkr.begin() + t * dr, sc.dkr.begin() + (t + 1) * dr, sc.dkva.begin() + t * (dc + dr) + dc);
  }
  F* dxn1 = dxn;  // the FFN's use of it is over
  linear_backward_input(sc.dkva.data(), L.kv_a.w, dxn1, T, d, dc + dr, false, pool);
  linear_backward_weight(sc.dkva.data(), a.xn1.data(), L.kv_a.g, nullptr, T, d, dc + dr, pool);
  if (qr > 0) {
    linear_backward_input(sc.dq.data(), L.q_b.w, sc.dqan.data(), T, qr, H * qk, false, pool);
    linear_backward_weight(sc.dq.data(), a.qan.data(), L.q_b.g, nullptr, T, qr, H * qk, pool);
    std::fill(sc.dqa.begin(), sc.dqa.begin() + T * qr, F(0));
    rmsnorm_backward(sc.dqan.data(), a.qa.data(), L.q_a_norm.w, a.rstd_qa.data(), T, qr, sc.dqa.data(), L.q_a_norm.g);
    linear_backward_input(sc.dqa.data(), L.q_a.w, dxn1, T, d, qr, true, pool);
    linear_backward_weight(sc.dqa.data(), a.xn1.data(), L.q_a.g, nullptr, T, d, qr, pool);
  } else {
    linear_backward_input(sc.dq.data(), L.q.w, dxn1, T, d, H * qk, true, pool);
    linear_backward_weight(sc.dq.data(), a.xn1.data(), L.q.g, nullptr, T, d, H * qk, pool);
  }
  rmsnorm_backward(dxn1, a.x_in.data(), L.attn_norm.w, a.rstd1.data(), T, d, dx, L.attn_norm.g);
}

// ---- the whole model ------------------------------------------------------------------------------

template <class F>
Losses TrainModel<F>::forward(const int32_t* tokens, const int32_t* targets, int64_t T, ThreadPool& pool) {
  const ModelConfig& c = cfg_;
  State& s = *s_;
  if (T < 1 || T > max_T_) fail("training: a sequence of {} tokens (1..{} supported)", T, max_T_);
  const int64_t d = c.hidden_size, V = c.vocab_size;
  for (int64_t t = 0; t < T; ++t) {
    if (targets[t] >= V) fail("training: target id {} is out of range (vocab size {})", targets[t], V);
  }
  s.T = T;
  std::copy(tokens, tokens + T, s.tokens.begin());
  std::copy(targets, targets + T, s.targets.begin());
  const double eps = c.rms_norm_eps;

  embedding_forward(tokens, T, s.embed.w, V, d, s.x.data());
  for (int64_t l = 0; l < c.num_layers; ++l) block_forward(size_t(l), s.x.data(), T, pool);
  std::copy(s.x.begin(), s.x.begin() + T * d, s.h.begin());
  rmsnorm_forward(s.h.data(), s.final_norm.w, T, d, eps, s.xf.data(), s.rstd_f.data());
  linear_forward(s.xf.data(), s.head.w, nullptr, s.logits.data(), T, d, V, pool);
  Losses r;
  r.main = cross_entropy_forward(s.logits.data(), targets, T, V, s.lse.data(), &s.counted);
  r.counted = s.counted;

  s.Tm = s.has_mtp ? T - 1 : 0;
  if (s.Tm > 0) {  // position t sees token t+1 and predicts the target of t+1
    const int64_t Tm = s.Tm;
    embedding_forward(tokens + 1, Tm, s.embed.w, V, d, s.e.data());
    rmsnorm_forward(s.e.data(), s.enorm.w, Tm, d, eps, s.en.data(), s.rstd_e.data());
    rmsnorm_forward(s.h.data(), s.hnorm.w, Tm, d, eps, s.hn.data(), s.rstd_h.data());
    for (int64_t t = 0; t < Tm; ++t) {  // [embedding; hidden], embedding first
      std::copy(s.en.begin() + t * d, s.en.begin() + (t + 1) * d, s.cat.begin() + t * 2 * d);
      std::copy(s.hn.begin() + t * d, s.hn.begin() + (t + 1) * d, s.cat.begin() + t * 2 * d + d);
    }
    linear_forward(s.cat.data(), s.eh_proj.w, nullptr, s.u.data(), Tm, 2 * d, d, pool);
    block_forward(size_t(c.num_layers), s.u.data(), Tm, pool);
    std::copy(s.u.begin(), s.u.begin() + Tm * d, s.hm.begin());
    rmsnorm_forward(s.hm.data(), s.head_norm.w, Tm, d, eps, s.mn.data(), s.rstd_m.data());
    linear_forward(s.mn.data(), s.head.w, nullptr, s.mlogits.data(), Tm, d, V, pool);
    r.mtp = cross_entropy_forward(s.mlogits.data(), targets + 1, Tm, V, s.mlse.data(), &s.mcounted);
  }
  for (size_t l = 0; l < s.layers.size(); ++l) {
    if (s.layers[l].moe && (l < size_t(c.num_layers) || s.Tm > 0)) r.balance += s.acts[l].balance;
  }
  r.total = r.main + o_.mtp_lambda * r.mtp + r.balance;
  return r;
}

template <class F>
void TrainModel<F>::backward(double scale, const double* target_weights, ThreadPool& pool) {
  const ModelConfig& c = cfg_;
  State& s = *s_;
  const int64_t T = s.T, d = c.hidden_size, V = c.vocab_size;
  if (T == 0) fail("training: backward() without forward()");

  std::fill(s.dlogits.begin(), s.dlogits.begin() + T * V, F(0));
  cross_entropy_backward(s.logits.data(), s.targets.data(), s.lse.data(), T, V, s.counted, scale, s.dlogits.data(),
                         target_weights);
  F* dxf = s.dx.data();
  linear_backward_input(s.dlogits.data(), s.head.w, dxf, T, d, V, false, pool);
  linear_backward_weight(s.dlogits.data(), s.xf.data(), s.head.g, nullptr, T, d, V, pool);
  std::fill(s.dh.begin(), s.dh.begin() + T * d, F(0));
  rmsnorm_backward(dxf, s.h.data(), s.final_norm.w, s.rstd_f.data(), T, d, s.dh.data(), s.final_norm.g);

  if (s.Tm > 0) {
    const int64_t Tm = s.Tm;
    std::fill(s.dlogits.begin(), s.dlogits.begin() + Tm * V, F(0));
    cross_entropy_backward(s.mlogits.data(), s.targets.data() + 1, s.mlse.data(), Tm, V, s.mcounted,
                           o_.mtp_lambda * scale, s.dlogits.data());
    F* dmn = s.dx.data();
    linear_backward_input(s.dlogits.data(), s.head.w, dmn, Tm, d, V, false, pool);
    linear_backward_weight(s.dlogits.data(), s.mn.data(), s.head.g, nullptr, Tm, d, V, pool);
    F* dmtp = s.dmtp.data();
    std::fill(dmtp, dmtp + Tm * d, F(0));
    rmsnorm_backward(dmn, s.hm.data(), s.head_norm.w, s.rstd_m.data(), Tm, d, dmtp, s.head_norm.g);
    block_backward(size_t(c.num_layers), dmtp, Tm, scale, pool);
    linear_backward_input(dmtp, s.eh_proj.w, s.dcat.data(), Tm, 2 * d, d, false, pool);
    linear_backward_weight(dmtp, s.cat.data(), s.eh_proj.g, nullptr, Tm, 2 * d, d, pool);
    F *den = s.den.data(), *dhn = s.dhn.data(), *de = s.de.data();
    for (int64_t t = 0; t < Tm; ++t) {  // split [∂embedding part; ∂hidden part]
      std::copy(s.dcat.begin() + t * 2 * d, s.dcat.begin() + t * 2 * d + d, den + t * d);
      std::copy(s.dcat.begin() + t * 2 * d + d, s.dcat.begin() + (t + 1) * 2 * d, dhn + t * d);
    }
    std::fill(de, de + Tm * d, F(0));
    rmsnorm_backward(den, s.e.data(), s.enorm.w, s.rstd_e.data(), Tm, d, de, s.enorm.g);
    embedding_backward(s.tokens.data() + 1, Tm, de, d, s.embed.g);
    rmsnorm_backward(dhn, s.h.data(), s.hnorm.w, s.rstd_h.data(), Tm, d, s.dh.data(), s.hnorm.g);
  }
  for (int64_t l = c.num_layers - 1; l >= 0; --l) block_backward(size_t(l), s.dh.data(), T, scale, pool);
  embedding_backward(s.tokens.data(), T, s.dh.data(), d, s.embed.g);
}

template <class F>
const F* TrainModel<F>::logits() const {
  return s_->logits.data();
}

template <class F>
void TrainModel<F>::target_logprobs(std::vector<double>& out) const {
  const State& s = *s_;
  const int64_t V = cfg_.vocab_size;
  out.assign(size_t(s.T), 0.0);
  for (int64_t t = 0; t < s.T; ++t) {
    const int32_t y = s.targets[size_t(t)];
    if (y >= 0) out[size_t(t)] = double(s.logits[size_t(t * V + y)]) - double(s.lse[size_t(t)]);
  }
}

template <class F>
std::vector<std::vector<int64_t>> TrainModel<F>::expert_load() const {
  const State& s = *s_;
  std::vector<std::vector<int64_t>> out;
  for (size_t l = 0; l < s.layers.size(); ++l) {
    if (!s.layers[l].moe) continue;
    const bool mtp = l == size_t(cfg_.num_layers);
    const int64_t T = mtp ? s.Tm : s.T;
    std::vector<int64_t> load(size_t(cfg_.n_routed_experts), 0);
    for (int64_t i = 0; i < T * cfg_.num_experts_per_tok; ++i) load[size_t(s.acts[l].sel[size_t(i)])]++;
    out.push_back(std::move(load));
  }
  return out;
}

template <class F>
std::vector<std::string> TrainModel<F>::router_bias_names() const {
  std::vector<std::string> out;
  for (const auto& L : s_->layers) {
    if (L.moe) out.push_back(L.bias_name);
  }
  return out;
}

template class TrainModel<float>;
template class TrainModel<double>;

}  // namespace r1::train
