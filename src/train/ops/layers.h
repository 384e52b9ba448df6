// The layers of a tiny DeepSeek-V3 model, forward and backward side by side (llm.c style): embedding,
// RMSNorm, SwiGLU, interleaved RoPE, MLA's attention in its naive (decompressed) form, cross-entropy,
// the sigmoid (noaux_tc) MoE router and the sequence-wise balance loss. The Linear layers are in gemm.h.
//
// Conventions, for every op:
//   * row-major, T = tokens of one sequence (training sees whole sequences, positions 0..T-1);
//   * backward functions ADD into the gradients they produce (d… += …), since an activation's gradient is
//     the sum over its consumers (the residual stream); callers zero the buffers once per step;
//   * templated on the scalar F and instantiated for float (training) and double (gradient checks).
//     Sums over many terms (norms, softmax denominators, losses) run in double for both.
// Symbols follow docs/GLOSSARY.md.
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/thread_pool.h"

namespace r1::train {

// ---- embedding: out[t] = table[tokens[t]] ------------------------------------------------------------
// tokens out of [0, vocab) throw r1::Error.
template <class F>
void embedding_forward(const int32_t* tokens, int64_t T, const F* table, int64_t vocab, int64_t d, F* out);
// dtable[tokens[t]] += dout[t] (a scatter-add: a token seen twice gets both rows).
template <class F>
void embedding_backward(const int32_t* tokens, int64_t T, const F* dout, int64_t d, F* dtable);

// ---- RMSNorm: y = w ⊙ x / sqrt(mean(x²) + eps), per row of d ----------------------------------------
// rstd[T] receives 1/sqrt(mean(x²) + eps) for the backward pass.
template <class F>
void rmsnorm_forward(const F* x, const F* w, int64_t T, int64_t d, double eps, F* y, F* rstd);
template <class F>
void rmsnorm_backward(const F* dy, const F* x, const F* w, const F* rstd, int64_t T, int64_t d, F* dx, F* dw);

// ---- SwiGLU: h = silu(g) ⊙ u over n values (g, u: the gate and up projections) ----------------------
template <class F>
void swiglu_forward(const F* g, const F* u, int64_t n, F* h);
template <class F>
void swiglu_backward(const F* dh, const F* g, const F* u, int64_t n, F* dg, F* du);

// ---- interleaved RoPE (DeepSeek; model/rope.h): pairs (x[2i], x[2i+1]) rotate by the angle of position t
// x holds T rows of `heads` vectors; vector h of row t starts at x + t·row_stride + h·head_stride and its
// first `dr` values are rotated (point x at the rope part: q + d_h for q = [q_nope; q_rope], or at k_R).
// cos, sin: [T, dr/2], the tables of positions 0..T-1 (rope_cos_sin). In place: the rotation needs no
// saved input for its backward pass, which rotates by the opposite angle (Rᵀ = R⁻¹).
struct RopeLayout {
  int64_t T = 0, heads = 1, row_stride = 0, head_stride = 0, dr = 0;
};
template <class F>
void rope_forward(const RopeLayout& l, F* x, const F* cos, const F* sin);
template <class F>
void rope_backward(const RopeLayout& l, F* dx, const F* cos, const F* sin);  // dy in, dx out, in place

// ---- causal multi-head attention, MLA's naive form ---------------------------------------------------
// q:      [T, heads, d_h + d_h^R]   per head [q_nope; q_rope] (q_rope already rotated)
// kv:     [T, heads, d_h + d_v]     per head [k_nope; v], the layout kv_b_proj produces
// k_rope: [T, d_h^R]                the rotated shared key k_R, the same for every head
// out:    [T, heads, d_v]           out_h[t] = Σ_{s≤t} P_h[t,s]·v_h[s], P_h = softmax_s(scale·q_h[t]·k_h[s])
// probs:  [heads, T, T]             P, saved for the backward pass (entries s > t are left untouched)
// Parallel over heads; each head is computed by one thread in a fixed order (deterministic).
struct AttentionShape {
  int64_t T = 0, heads = 0, dn = 0, dr = 0, dv = 0;  // dn = d_h, dr = d_h^R, dv = d_v
  double scale = 0;                                  // softmax scale, m²/sqrt(d_h + d_h^R)
};
template <class F>
void attention_forward(const AttentionShape& s, const F* q, const F* kv, const F* k_rope, F* out, F* probs,
                       ThreadPool& pool);
// dq, dkv, dk_rope: same layouts as q, kv, k_rope. dk_rope sums over heads (k_R is shared): each head's
// share goes to its own scratch row and the heads are added in order, so the result is thread-count free.
template <class F>
void attention_backward(const AttentionShape& s, const F* dout, const F* q, const F* kv, const F* k_rope,
                        const F* probs, F* dq, F* dkv, F* dk_rope, ThreadPool& pool);

// ---- cross-entropy: loss = mean over counted t of -log softmax(logits[t])[targets[t]] ----------------
// targets[t] < 0: position t is not counted (prompt tokens in SFT, padding). lse[T] receives each row's
// log-sum-exp for the backward pass. Returns the loss (0 when nothing is counted) and writes the count.
template <class F>
double cross_entropy_forward(const F* logits, const int32_t* targets, int64_t T, int64_t vocab, F* lse,
                             int64_t* counted);
// dlogits[t] += c_t · (softmax(logits[t]) - onehot(targets[t])) for counted t, where c_t = dloss/counted
// (the gradient of the mean), or weights[t] when weights are given (the gradient of Σ_t weights[t]·CE_t:
// policy-gradient losses weight each token's -log p by its own coefficient).
template <class F>
void cross_entropy_backward(const F* logits, const int32_t* targets, const F* lse, int64_t T, int64_t vocab,
                            int64_t counted, double dloss, F* dlogits, const double* weights = nullptr);

// ---- sigmoid MoE router (noaux_tc with one group) ----------------------------------------------------
// s = sigmoid(logits); the K experts with the largest s + bias are selected (bias: e_score_correction_bias,
// selection only, no gradient; ties go to the lower index); weight_k = s_{e_k} / Σ_j s_{e_j} (when
// norm_topk_prob) · routed_scaling_factor. Grouped routing (n_group > 1) is not needed at tiny scale.
struct RouterShape {
  int64_t T = 0, experts = 0, top_k = 0;
  bool norm_topk_prob = true;
  double scaling = 1.0;  // routed_scaling_factor
};
// logits, scores: [T, experts]; bias: [experts] or null; selected, weights: [T, top_k], by descending s + bias.
template <class F>
void router_forward(const RouterShape& r, const F* logits, const std::type_identity_t<F>* bias, F* scores,
                    int32_t* selected, F* weights);
// Gradient flows from the weights through the selected scores only (selection is a step function).
template <class F>
void router_backward(const RouterShape& r, const F* scores, const int32_t* selected, const F* dweights, F* dlogits);

// ---- sequence-wise balance loss (DeepSeek-V3, eqs. 17-20), over one sequence of T tokens ------------
//   L = α Σ_i f_i P_i,  f_i = N_r/(K_r·T) Σ_t 1[i ∈ selected(t)],  P_i = 1/T Σ_t s_{i,t} / Σ_j s_{j,t}
// f counts selections (no gradient); P carries the gradient, to the logits through the sigmoid.
// f[experts] receives f_i for the backward pass. Returns L.
template <class F>
double balance_loss_forward(const RouterShape& r, const F* scores, const int32_t* selected, double alpha, F* f);
template <class F>
void balance_loss_backward(const RouterShape& r, const F* scores, const F* f, double alpha, double dloss, F* dlogits);

}  // namespace r1::train
