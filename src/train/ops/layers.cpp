#include "train/ops/layers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace r1::train {

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

// ---- embedding ---------------------------------------------------------------------------------------

template <class F>
void embedding_forward(const int32_t* tokens, int64_t T, const F* table, int64_t vocab, int64_t d, F* out) {
  for (int64_t t = 0; t < T; ++t) {
    if (tokens[t] < 0 || tokens[t] >= vocab)
      fail("embedding: token {} at position {} is outside [0, {})", tokens[t], t, vocab);
    std::copy(table + int64_t(tokens[t]) * d, table + int64_t(tokens[t] + 1) * d, out + t * d);
  }
}

template <class F>
void embedding_backward(const int32_t* tokens, int64_t T, const F* dout, int64_t d, F* dtable) {
  for (int64_t t = 0; t < T; ++t) {  // in order of t, so a repeated token's row sums in a fixed order
    F* row = dtable + int64_t(tokens[t]) * d;
    for (int64_t i = 0; i < d; ++i) row[i] += dout[t * d + i];
  }
}

// ---- RMSNorm -----------------------------------------------------------------------------------------

template <class F>
void rmsnorm_forward(const F* x, const F* w, int64_t T, int64_t d, double eps, F* y, F* rstd) {
  for (int64_t t = 0; t < T; ++t) {
    const F* xt = x + t * d;
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += double(xt[i]) * double(xt[i]);
    const F r = F(1.0 / std::sqrt(ss / double(d) + eps));
    for (int64_t i = 0; i < d; ++i) y[t * d + i] = w[i] * (xt[i] * r);
    rstd[t] = r;
  }
}

// With r = rstd and y_i = w_i·x_i·r:  dw_i += dy_i·x_i·r,
// dx_j = r·(w_j·dy_j − x_j·r²·mean_i(dy_i·w_i·x_i))   (r depends on every x_j through mean(x²)).
template <class F>
void rmsnorm_backward(const F* dy, const F* x, const F* w, const F* rstd, int64_t T, int64_t d, F* dx, F* dw) {
  for (int64_t t = 0; t < T; ++t) {
    const F *xt = x + t * d, *dyt = dy + t * d;
    const F r = rstd[t];
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += double(dyt[i]) * double(w[i]) * double(xt[i]);
    const F c = F(s / double(d)) * r * r;
    for (int64_t i = 0; i < d; ++i) {
      dw[i] += dyt[i] * xt[i] * r;
      dx[t * d + i] += r * (w[i] * dyt[i] - xt[i] * c);
    }
  }
}

// ---- SwiGLU ------------------------------------------------------------------------------------------

template <class F>
void swiglu_forward(const F* g, const F* u, int64_t n, F* h) {
  for (int64_t i = 0; i < n; ++i) h[i] = g[i] * F(sigmoid(double(g[i]))) * u[i];
}

// silu(g) = g·σ(g), silu'(g) = σ(g)·(1 + g·(1 − σ(g))).
template <class F>
void swiglu_backward(const F* dh, const F* g, const F* u, int64_t n, F* dg, F* du) {
  for (int64_t i = 0; i < n; ++i) {
    const F sg = F(sigmoid(double(g[i])));
    dg[i] += dh[i] * u[i] * sg * (F(1) + g[i] * (F(1) - sg));
    du[i] += dh[i] * g[i] * sg;
  }
}

// ---- RoPE --------------------------------------------------------------------------------------------

// Rotates each pair by +angle (forward) or −angle (backward: the transpose of the rotation).
template <class F>
void rope_rotate(const RopeLayout& l, F* x, const F* cos, const F* sin, F sign) {
  const int64_t half = l.dr / 2;
  for (int64_t t = 0; t < l.T; ++t) {
    const F *c = cos + t * half, *s = sin + t * half;
    for (int64_t h = 0; h < l.heads; ++h) {
      F* v = x + t * l.row_stride + h * l.head_stride;
      for (int64_t i = 0; i < half; ++i) {
        const F x0 = v[2 * i], x1 = v[2 * i + 1], si = sign * s[i];
        v[2 * i] = x0 * c[i] - x1 * si;
        v[2 * i + 1] = x0 * si + x1 * c[i];
      }
    }
  }
}

template <class F>
void rope_forward(const RopeLayout& l, F* x, const F* cos, const F* sin) {
  rope_rotate(l, x, cos, sin, F(1));
}

template <class F>
void rope_backward(const RopeLayout& l, F* dx, const F* cos, const F* sin) {
  rope_rotate(l, dx, cos, sin, F(-1));
}

// ---- attention ---------------------------------------------------------------------------------------
// Per head h and query t, with k_h[s] = [k_nope_h[s]; k_R[s]]:
//   a[t,s] = scale·q_h[t]·k_h[s] (s ≤ t),  P[t,·] = softmax(a[t,·]),  out_h[t] = Σ_s P[t,s]·v_h[s].

namespace {

// Head h's keys [k_nope; k_R] or values, transposed to [dim][T]: the scores of query t against keys
// 0..t are then a sum of dim contiguous rows (vectorizable axpys) rather than t short dot products.
template <class F>
void transpose_head(const F* x, int64_t row_stride, int64_t dim, int64_t T, F* xt) {
  for (int64_t s = 0; s < T; ++s) {
    for (int64_t i = 0; i < dim; ++i) xt[i * T + s] = x[s * row_stride + i];
  }
}

// a[s] = Σ_i x[i]·mt[i][s] for s < n (mt: [dim][T], transposed as above).
template <class F>
void dots_against_rows(const F* x, const F* mt, int64_t dim, int64_t T, int64_t n, F* a) {
  std::fill(a, a + n, F(0));
  for (int64_t i = 0; i < dim; ++i) {
    for (int64_t s = 0; s < n; ++s) a[s] += x[i] * mt[i * T + s];
  }
}

}  // namespace

template <class F>
void attention_forward(const AttentionShape& sh, const F* q, const F* kv, const F* k_rope, F* out, F* probs,
                       ThreadPool& pool) {
  const int64_t T = sh.T, H = sh.heads, dn = sh.dn, dr = sh.dr, dv = sh.dv;
  const int64_t dq = dn + dr, dkv = dn + dv;
  pool.parallel_for(size_t(H), [&](size_t h0, size_t h1, int) {
    std::vector<F> kt(static_cast<size_t>(dq * T));  // k_h transposed: [d_h + d_h^R][T]
    for (int64_t h = int64_t(h0); h < int64_t(h1); ++h) {
      transpose_head(kv + h * dkv, H * dkv, dn, T, kt.data());
      transpose_head(k_rope, dr, dr, T, kt.data() + dn * T);
      for (int64_t t = 0; t < T; ++t) {
        F* p = probs + (h * T + t) * T;
        dots_against_rows(q + (t * H + h) * dq, kt.data(), dq, T, t + 1, p);
        F mx = -INFINITY;
        for (int64_t s = 0; s <= t; ++s) mx = std::max(mx, p[s] *= F(sh.scale));
        double sum = 0;
        for (int64_t s = 0; s <= t; ++s) sum += double(p[s] = std::exp(p[s] - mx));
        const F inv = F(1.0 / sum);
        F* o = out + (t * H + h) * dv;
        std::fill(o, o + dv, F(0));
        for (int64_t s = 0; s <= t; ++s) {
          p[s] *= inv;
          const F* vs = kv + (s * H + h) * dkv + dn;
          for (int64_t i = 0; i < dv; ++i) o[i] += p[s] * vs[i];
        }
      }
    }
  });
}

// dP[t,s] = dout[t]·v[s];  dv[s] += P[t,s]·dout[t];  da[t,s] = P[t,s]·(dP[t,s] − Σ_s' P[t,s']·dP[t,s']);
// dq[t] += scale·Σ_s da[t,s]·k[s];  dk[s] += scale·da[t,s]·q[t].
template <class F>
void attention_backward(const AttentionShape& sh, const F* dout, const F* q, const F* kv, const F* k_rope,
                        const F* probs, F* dq, F* dkv, F* dk_rope, ThreadPool& pool) {
  const int64_t T = sh.T, H = sh.heads, dn = sh.dn, dr = sh.dr, dv = sh.dv;
  const int64_t dqs = dn + dr, dkvs = dn + dv;
  const F scale = F(sh.scale);
  std::vector<F> dk_rope_head(size_t(H * T * dr), F(0));  // each head's share of dk_R
  pool.parallel_for(size_t(H), [&](size_t h0, size_t h1, int) {
    std::vector<F> da(static_cast<size_t>(T)), vt(static_cast<size_t>(dv * T));
    for (int64_t h = int64_t(h0); h < int64_t(h1); ++h) {
      F* dkr = dk_rope_head.data() + h * T * dr;
      transpose_head(kv + h * dkvs + dn, H * dkvs, dv, T, vt.data());
      for (int64_t t = 0; t < T; ++t) {
        const F* p = probs + (h * T + t) * T;
        const F* dout_t = dout + (t * H + h) * dv;
        dots_against_rows(dout_t, vt.data(), dv, T, t + 1, da.data());  // dP[t,s] for now
        double pdp = 0;
        for (int64_t s = 0; s <= t; ++s) {
          F* dvs = dkv + (s * H + h) * dkvs + dn;
          pdp += double(p[s]) * double(da[size_t(s)]);
          for (int64_t i = 0; i < dv; ++i) dvs[i] += p[s] * dout_t[i];
        }
        const F* qt = q + (t * H + h) * dqs;
        F* dqt = dq + (t * H + h) * dqs;
        for (int64_t s = 0; s <= t; ++s) {
          const F g = scale * p[s] * (da[size_t(s)] - F(pdp));
          const F* ks = kv + (s * H + h) * dkvs;
          F* dks = dkv + (s * H + h) * dkvs;
          const F* krs = k_rope + s * dr;
          for (int64_t i = 0; i < dn; ++i) {
            dqt[i] += g * ks[i];
            dks[i] += g * qt[i];
          }
          for (int64_t i = 0; i < dr; ++i) {
            dqt[dn + i] += g * krs[i];
            dkr[s * dr + i] += g * qt[dn + i];
          }
        }
      }
    }
  });
  for (int64_t h = 0; h < H; ++h) {  // heads in order, whatever thread computed them
    for (int64_t i = 0; i < T * dr; ++i) dk_rope[i] += dk_rope_head[size_t(h * T * dr + i)];
  }
}

// ---- cross-entropy -----------------------------------------------------------------------------------

template <class F>
double cross_entropy_forward(const F* logits, const int32_t* targets, int64_t T, int64_t vocab, F* lse,
                             int64_t* counted) {
  double total = 0;
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t) {
    const F* z = logits + t * vocab;
    const double mx = double(*std::max_element(z, z + vocab));
    double sum = 0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(double(z[v]) - mx);
    const double l = mx + std::log(sum);
    lse[t] = F(l);
    if (targets[t] < 0) continue;
    if (targets[t] >= vocab) fail("cross_entropy: target {} at position {} is outside [0, {})", targets[t], t, vocab);
    total += l - double(z[targets[t]]);
    ++n;
  }
  *counted = n;
  return n ? total / double(n) : 0.0;
}

template <class F>
void cross_entropy_backward(const F* logits, const int32_t* targets, const F* lse, int64_t T, int64_t vocab,
                            int64_t counted, double dloss, F* dlogits, const double* weights) {
  if (counted <= 0) return;
  const F mean_c = F(dloss / double(counted));
  for (int64_t t = 0; t < T; ++t) {
    if (targets[t] < 0) continue;
    const F c = weights ? F(weights[t]) : mean_c;
    const F* z = logits + t * vocab;
    F* dz = dlogits + t * vocab;
    for (int64_t v = 0; v < vocab; ++v) dz[v] += c * F(std::exp(double(z[v]) - double(lse[t])));
    dz[targets[t]] -= c;
  }
}

// ---- router ------------------------------------------------------------------------------------------

template <class F>
void router_forward(const RouterShape& r, const F* logits, const std::type_identity_t<F>* bias, F* scores,
                    int32_t* selected, F* weights) {
  const int64_t E = r.experts, K = r.top_k;
  std::vector<bool> taken(static_cast<size_t>(E));
  for (int64_t t = 0; t < r.T; ++t) {
    const F* z = logits + t * E;
    F* s = scores + t * E;
    for (int64_t e = 0; e < E; ++e) s[e] = F(sigmoid(double(z[e])));
    std::fill(taken.begin(), taken.end(), false);
    double sum = 0;
    for (int64_t k = 0; k < K; ++k) {  // K passes of argmax over s + bias, as model/router.cpp
      int64_t best = -1;
      for (int64_t e = 0; e < E; ++e) {
        if (taken[size_t(e)]) continue;
        if (best < 0 || s[e] + (bias ? bias[e] : F(0)) > s[best] + (bias ? bias[best] : F(0))) best = e;
      }
      taken[size_t(best)] = true;
      selected[t * K + k] = int32_t(best);
      sum += double(s[best]);
    }
    const double norm = (r.norm_topk_prob ? 1.0 / sum : 1.0) * r.scaling;
    for (int64_t k = 0; k < K; ++k) weights[t * K + k] = F(double(s[selected[t * K + k]]) * norm);
  }
}

// With S = Σ_k s_k over the selected and c = scaling:  w_k = c·s_k/S, so
// ds_j = c/S·(dw_j − Σ_k dw_k·s_k/S)  (renormalised) or c·dw_j (not);  dlogit_j += ds_j·s_j·(1 − s_j).
template <class F>
void router_backward(const RouterShape& r, const F* scores, const int32_t* selected, const F* dweights, F* dlogits) {
  const int64_t E = r.experts, K = r.top_k;
  for (int64_t t = 0; t < r.T; ++t) {
    const F* s = scores + t * E;
    const int32_t* sel = selected + t * K;
    const F* dw = dweights + t * K;
    double S = 0, dw_s = 0;
    for (int64_t k = 0; k < K; ++k) {
      S += double(s[sel[k]]);
      dw_s += double(dw[k]) * double(s[sel[k]]);
    }
    for (int64_t k = 0; k < K; ++k) {
      const double sj = double(s[sel[k]]);
      const double ds = r.norm_topk_prob ? r.scaling / S * (double(dw[k]) - dw_s / S) : r.scaling * double(dw[k]);
      dlogits[t * E + sel[k]] += F(ds * sj * (1.0 - sj));
    }
  }
}

// ---- balance loss ------------------------------------------------------------------------------------

template <class F>
double balance_loss_forward(const RouterShape& r, const F* scores, const int32_t* selected, double alpha, F* f) {
  const int64_t T = r.T, E = r.experts, K = r.top_k;
  std::vector<double> count(size_t(E), 0.0), P(size_t(E), 0.0);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t k = 0; k < K; ++k) count[size_t(selected[t * K + k])] += 1;
    const F* s = scores + t * E;
    double S = 0;
    for (int64_t e = 0; e < E; ++e) S += double(s[e]);
    for (int64_t e = 0; e < E; ++e) P[size_t(e)] += double(s[e]) / S;
  }
  double loss = 0;
  for (int64_t e = 0; e < E; ++e) {
    const double fe = double(E) / double(K * T) * count[size_t(e)];
    f[e] = F(fe);
    loss += fe * P[size_t(e)] / double(T);
  }
  return alpha * loss;
}

// P_i = 1/T Σ_t s_{i,t}/S_t, so with s' = s/S:  ds_{j,t} = α·dloss/(T·S_t)·(f_j − Σ_i f_i·s'_{i,t}),
// then through the sigmoid.
template <class F>
void balance_loss_backward(const RouterShape& r, const F* scores, const F* f, double alpha, double dloss, F* dlogits) {
  const int64_t T = r.T, E = r.experts;
  for (int64_t t = 0; t < T; ++t) {
    const F* s = scores + t * E;
    double S = 0, fs = 0;
    for (int64_t e = 0; e < E; ++e) {
      S += double(s[e]);
      fs += double(f[e]) * double(s[e]);
    }
    const double c = alpha * dloss / (double(T) * S);
    for (int64_t e = 0; e < E; ++e) {
      const double ds = c * (double(f[e]) - fs / S), se = double(s[e]);
      dlogits[t * E + e] += F(ds * se * (1.0 - se));
    }
  }
}

#define R1_INSTANTIATE(F)                                                                                              \
  template void embedding_forward<F>(const int32_t*, int64_t, const F*, int64_t, int64_t, F*);                         \
  template void embedding_backward<F>(const int32_t*, int64_t, const F*, int64_t, F*);                                 \
  template void rmsnorm_forward<F>(const F*, const F*, int64_t, int64_t, double, F*, F*);                              \
  template void rmsnorm_backward<F>(const F*, const F*, const F*, const F*, int64_t, int64_t, F*, F*);                 \
  template void swiglu_forward<F>(const F*, const F*, int64_t, F*);                                                    \
  template void swiglu_backward<F>(const F*, const F*, const F*, int64_t, F*, F*);                                     \
  template void rope_forward<F>(const RopeLayout&, F*, const F*, const F*);                                            \
  template void rope_backward<F>(const RopeLayout&, F*, const F*, const F*);                                           \
  template void attention_forward<F>(const AttentionShape&, const F*, const F*, const F*, F*, F*, ThreadPool&);        \
  template void attention_backward<F>(const AttentionShape&, const F*, const F*, const F*, const F*, const F*, F*, F*, \
                                      F*, ThreadPool&);                                                                \
  template double cross_entropy_forward<F>(const F*, const int32_t*, int64_t, int64_t, F*, int64_t*);                  \
  template void cross_entropy_backward<F>(const F*, const int32_t*, const F*, int64_t, int64_t, int64_t, double, F*,   \
                                           const double*);                                                          \
  template void router_forward<F>(const RouterShape&, const F*, const F*, F*, int32_t*, F*);                           \
  template void router_backward<F>(const RouterShape&, const F*, const int32_t*, const F*, F*);                        \
  template double balance_loss_forward<F>(const RouterShape&, const F*, const int32_t*, double, F*);                   \
  template void balance_loss_backward<F>(const RouterShape&, const F*, const F*, double, double, F*);
R1_INSTANTIATE(float)
R1_INSTANTIATE(double)
#undef R1_INSTANTIATE

}  // namespace r1::train
