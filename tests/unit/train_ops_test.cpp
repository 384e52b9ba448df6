// The training operators (src/train/ops): every backward pass against central finite differences of its
// forward pass in float64, on seeded random inputs with ragged shapes. The loss is L = Σ u·y for a random
// upstream gradient u, so ∂L/∂input is exactly what backward(u) must return. Forward passes are checked
// against direct transcriptions of the formulas here (or the inference engine's own RoPE and router); the
// fp32 GEMM against the float64 one, and for bit-identical results across thread counts; AdamW and the
// schedules against values worked out in the test from the published formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <numbers>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "model/rope.h"
#include "model/router.h"
#include "train/ops/gemm.h"
#include "train/ops/layers.h"
#include "train/ops/optim.h"
#include "train/rng.h"

namespace r1::train {
namespace {

using Vec = std::vector<double>;

// ---- helpers -----------------------------------------------------------------------------------------

double uniform(Rng& rng, double lo, double hi) { return lo + (hi - lo) * double(rng.next() >> 11) * 0x1p-53; }

Vec random_vec(Rng& rng, size_t n, double lo = -1.0, double hi = 1.0) {
  Vec v(n);
  for (double& x : v) x = uniform(rng, lo, hi);
  return v;
}

std::vector<float> to_float(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// ∂loss/∂x[i] by central differences, h = 1e-5: truncation error ~h²·L''' ≈ 1e-10, rounding ~1e-16/h.
Vec numeric_grad(Vec& x, const std::function<double()>& loss, double h = 1e-5) {
  Vec g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double plus = loss();
    x[i] = saved - h;
    const double minus = loss();
    x[i] = saved;
    g[i] = (plus - minus) / (2 * h);
  }
  return g;
}

// max_i |a_i − b_i| / max_i |b_i|: relative to the gradient's scale, so entries near zero do not
// dominate.
double rel_error(const Vec& a, const Vec& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

template <class A, class B>
double rel_error_as_double(const std::vector<A>& a, const std::vector<B>& b) {
  return rel_error(Vec(a.begin(), a.end()), Vec(b.begin(), b.end()));
}

constexpr double kGradTol = 1e-6;

// ---- GEMM --------------------------------------------------------------------------------------------

TEST(Gemm, LinearGradientsMatchFiniteDifferences) {
  ThreadPool pool(1);
  Rng rng(1);
  const int64_t T = 7, in = 13, out = 11;  // none a multiple of anything
  Vec x = random_vec(rng, T * in), W = random_vec(rng, out * in), b = random_vec(rng, out);
  const Vec u = random_vec(rng, T * out);
  auto loss = [&] {
    Vec y(T * out);
    linear_forward(x.data(), W.data(), b.data(), y.data(), T, in, out, pool);
    return dot(u, y);
  };
  Vec dx(T * in, 0.5), dW(out * in, 0.25), db(out, -1.0);  // nonzero: backward must add, not overwrite
  linear_backward_input(u.data(), W.data(), dx.data(), T, in, out, true, pool);
  linear_backward_weight(u.data(), x.data(), dW.data(), db.data(), T, in, out, pool);
  for (double& v : dx) v -= 0.5;
  for (double& v : dW) v -= 0.25;
  for (double& v : db) v += 1.0;
  EXPECT_LT(rel_error(dx, numeric_grad(x, loss)), kGradTol);
  EXPECT_LT(rel_error(dW, numeric_grad(W, loss)), kGradTol);
  EXPECT_LT(rel_error(db, numeric_grad(b, loss)), kGradTol);
  // accumulate = false overwrites.
  Vec dx2(T * in, 123.0);
  linear_backward_input(u.data(), W.data(), dx2.data(), T, in, out, false, pool);
  EXPECT_LT(rel_error(dx2, dx), 1e-14);
}

// Shapes that cross every tile boundary of the packed kernel (6-row, 16/32-column panels, 96×128 tiles,
// 256-deep K blocks) and degenerate ones.
struct Shape {
  int64_t T, in, out;
};
const Shape kShapes[] = {{1, 1, 1}, {3, 5, 7}, {97, 129, 33}, {200, 300, 150}, {6, 513, 257}, {257, 64, 300}};

TEST(Gemm, Fp32MatchesFloat64Reference) {
  ThreadPool pool(2);
  Rng rng(2);
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(testing::Message() << "T=" << s.T << " in=" << s.in << " out=" << s.out);
    const Vec x = random_vec(rng, s.T * s.in), W = random_vec(rng, s.out * s.in), b = random_vec(rng, s.out);
    const Vec dy = random_vec(rng, s.T * s.out);
    const auto xf = to_float(x), Wf = to_float(W), bf = to_float(b), dyf = to_float(dy);
    // The reference runs on the float inputs widened to double, so only the arithmetic differs.
    const Vec xr(xf.begin(), xf.end()), Wr(Wf.begin(), Wf.end()), br(bf.begin(), bf.end()), dyr(dyf.begin(), dyf.end());

    std::vector<float> y(size_t(s.T * s.out)), dx(size_t(s.T * s.in)), dW(size_t(s.out * s.in), 0.0f);
    Vec yr(y.size()), dxr(dx.size()), dWr(dW.size(), 0.0);
    linear_forward(xf.data(), Wf.data(), bf.data(), y.data(), s.T, s.in, s.out, pool);
    linear_forward(xr.data(), Wr.data(), br.data(), yr.data(), s.T, s.in, s.out, pool);
    linear_backward_input(dyf.data(), Wf.data(), dx.data(), s.T, s.in, s.out, false, pool);
    linear_backward_input(dyr.data(), Wr.data(), dxr.data(), s.T, s.in, s.out, false, pool);
    linear_backward_weight(dyf.data(), xf.data(), dW.data(), nullptr, s.T, s.in, s.out, pool);
    linear_backward_weight(dyr.data(), xr.data(), dWr.data(), nullptr, s.T, s.in, s.out, pool);
    EXPECT_LT(rel_error_as_double(y, yr), 1e-5);
    EXPECT_LT(rel_error_as_double(dx, dxr), 1e-5);
    EXPECT_LT(rel_error_as_double(dW, dWr), 1e-5);
  }
}

TEST(Gemm, BitIdenticalForOneTwoAndThreeThreads) {
  Rng rng(3);
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(testing::Message() << "T=" << s.T << " in=" << s.in << " out=" << s.out);
    const auto x = to_float(random_vec(rng, s.T * s.in)), W = to_float(random_vec(rng, s.out * s.in));
    const auto dy = to_float(random_vec(rng, s.T * s.out));
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      std::vector<float> y(size_t(s.T * s.out)), dx(size_t(s.T * s.in)), dW(size_t(s.out * s.in), 0.0f);
      linear_forward(x.data(), W.data(), nullptr, y.data(), s.T, s.in, s.out, pool);
      linear_backward_input(dy.data(), W.data(), dx.data(), s.T, s.in, s.out, false, pool);
      linear_backward_weight(dy.data(), x.data(), dW.data(), nullptr, s.T, s.in, s.out, pool);
      std::vector<float> all = y;
      all.insert(all.end(), dx.begin(), dx.end());
      all.insert(all.end(), dW.begin(), dW.end());
      results.push_back(std::move(all));
    }
    for (size_t i = 1; i < results.size(); ++i) {
      EXPECT_EQ(std::memcmp(results[0].data(), results[i].data(), results[0].size() * sizeof(float)), 0)
          << "threads " << i + 1 << " differ from 1";
    }
  }
}

// ---- embedding, RMSNorm, SwiGLU ----------------------------------------------------------------------

TEST(Embedding, ScatterAddMatchesFiniteDifferences) {
  Rng rng(4);
  const int64_t V = 6, d = 5, T = 9;
  const std::vector<int32_t> tokens = {3, 1, 3, 0, 5, 3, 1, 2, 0};  // repeats: their rows must sum
  Vec table = random_vec(rng, V * d);
  const Vec u = random_vec(rng, T * d);
  auto loss = [&] {
    Vec out(T * d);
    embedding_forward(tokens.data(), T, table.data(), V, d, out.data());
    return dot(u, out);
  };
  Vec dtable(V * d, 0.0);
  embedding_backward(tokens.data(), T, u.data(), d, dtable.data());
  EXPECT_LT(rel_error(dtable, numeric_grad(table, loss)), kGradTol);
  Vec out(T * d);
  const std::vector<int32_t> bad = {0, 6};
  EXPECT_THROW(embedding_forward(bad.data(), 2, table.data(), V, d, out.data()), Error);
}

TEST(RmsNorm, ForwardAndGradientsMatchFiniteDifferences) {
  Rng rng(5);
  const int64_t T = 4, d = 7;
  const double eps = 1e-6;
  Vec x = random_vec(rng, T * d), w = random_vec(rng, d, 0.5, 1.5);
  const Vec u = random_vec(rng, T * d);
  Vec rstd(T);
  auto forward = [&] {
    Vec y(T * d);
    rmsnorm_forward(x.data(), w.data(), T, d, eps, y.data(), rstd.data());
    return y;
  };
  auto loss = [&] { return dot(u, forward()); };
  const Vec y = forward();
  for (int64_t t = 0; t < T; ++t) {  // the definition, directly
    double ms = 0;
    for (int64_t i = 0; i < d; ++i) ms += x[t * d + i] * x[t * d + i] / double(d);
    for (int64_t i = 0; i < d; ++i) EXPECT_NEAR(y[t * d + i], w[i] * x[t * d + i] / std::sqrt(ms + eps), 1e-14);
  }
  Vec dx(T * d, 0.0), dw(d, 0.0);
  rmsnorm_backward(u.data(), x.data(), w.data(), rstd.data(), T, d, dx.data(), dw.data());
  EXPECT_LT(rel_error(dx, numeric_grad(x, loss)), kGradTol);
  EXPECT_LT(rel_error(dw, numeric_grad(w, loss)), kGradTol);
}

TEST(SwiGlu, GradientsMatchFiniteDifferences) {
  Rng rng(6);
  const int64_t n = 23;
  Vec g = random_vec(rng, n, -4, 4), u = random_vec(rng, n, -2, 2);
  const Vec up = random_vec(rng, n);
  auto loss = [&] {
    Vec h(n);
    swiglu_forward(g.data(), u.data(), n, h.data());
    return dot(up, h);
  };
  Vec h(n);
  swiglu_forward(g.data(), u.data(), n, h.data());
  EXPECT_NEAR(h[0], g[0] / (1 + std::exp(-g[0])) * u[0], 1e-15);
  Vec dg(n, 0.0), du(n, 0.0);
  swiglu_backward(up.data(), g.data(), u.data(), n, dg.data(), du.data());
  EXPECT_LT(rel_error(dg, numeric_grad(g, loss)), kGradTol);
  EXPECT_LT(rel_error(du, numeric_grad(u, loss)), kGradTol);
}

// ---- RoPE --------------------------------------------------------------------------------------------

RopeTable interleaved_table(int dim) {
  RopeTable table;
  table.dim = dim;
  table.interleaved = true;
  for (int i = 0; i < dim / 2; ++i) table.inv_freq.push_back(std::pow(10000.0, -2.0 * i / dim));
  return table;
}

TEST(Rope, MatchesTheInferenceRopeOnTheRopePartOfEveryHead) {
  // q = [q_nope (3); q_rope (4)] per head, 2 heads: only values 3..6 of each head rotate.
  const int64_t T = 5, H = 2, dn = 3, dr = 4, dq = dn + dr;
  const RopeTable table = interleaved_table(int(dr));
  std::vector<float> cos(size_t(T * dr / 2)), sin(cos.size());
  for (int64_t t = 0; t < T; ++t) rope_cos_sin(table, t, cos.data() + t * dr / 2, sin.data() + t * dr / 2);
  Rng rng(7);
  const auto q = to_float(random_vec(rng, T * H * dq));
  auto ours = q, theirs = q;
  rope_forward(RopeLayout{T, H, H * dq, dq, dr}, ours.data() + dn, cos.data(), sin.data());
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < H; ++h) {
      apply_rope(table, theirs.data() + (t * H + h) * dq + dn, cos.data() + t * dr / 2, sin.data() + t * dr / 2);
    }
  }
  EXPECT_EQ(ours, theirs);
}

TEST(Rope, GradientMatchesFiniteDifferences) {
  const int64_t T = 6, H = 3, dn = 2, dr = 6, dq = dn + dr;
  Rng rng(8);
  Vec cos(T * dr / 2), sin(cos.size());
  for (size_t i = 0; i < cos.size(); ++i) {
    const double a = uniform(rng, -3, 3);
    cos[i] = std::cos(a);
    sin[i] = std::sin(a);
  }
  const RopeLayout layout{T, H, H * dq, dq, dr};
  Vec x = random_vec(rng, T * H * dq);
  const Vec u = random_vec(rng, x.size());
  auto loss = [&] {
    Vec y = x;
    rope_forward(layout, y.data() + dn, cos.data(), sin.data());
    return dot(u, y);
  };
  Vec dx = u;  // the nope part passes through untouched
  rope_backward(layout, dx.data() + dn, cos.data(), sin.data());
  EXPECT_LT(rel_error(dx, numeric_grad(x, loss)), kGradTol);
}

// ---- attention ---------------------------------------------------------------------------------------

// The definition with every head's key materialised as [k_nope; k_R], for checking the forward pass.
Vec attention_by_definition(const AttentionShape& s, const Vec& q, const Vec& kv, const Vec& kr) {
  const int64_t dq = s.dn + s.dr, dkv = s.dn + s.dv;
  Vec out(s.T * s.heads * s.dv, 0.0);
  for (int64_t h = 0; h < s.heads; ++h) {
    for (int64_t t = 0; t < s.T; ++t) {
      Vec a(t + 1);
      for (int64_t j = 0; j <= t; ++j) {
        Vec k(kv.begin() + (j * s.heads + h) * dkv, kv.begin() + (j * s.heads + h) * dkv + s.dn);
        k.insert(k.end(), kr.begin() + j * s.dr, kr.begin() + (j + 1) * s.dr);
        for (int64_t i = 0; i < dq; ++i) a[j] += s.scale * q[(t * s.heads + h) * dq + i] * k[i];
      }
      double z = 0;
      for (double& e : a) z += (e = std::exp(e));
      for (int64_t j = 0; j <= t; ++j) {
        for (int64_t i = 0; i < s.dv; ++i) {
          out[(t * s.heads + h) * s.dv + i] += a[j] / z * kv[(j * s.heads + h) * dkv + s.dn + i];
        }
      }
    }
  }
  return out;
}

TEST(Attention, ForwardMatchesDefinitionAndGradientsMatchFiniteDifferences) {
  ThreadPool pool(2);
  const AttentionShape s{/*T=*/7, /*heads=*/3, /*dn=*/5, /*dr=*/4, /*dv=*/3, /*scale=*/1.0 / std::sqrt(9.0)};
  Rng rng(9);
  Vec q = random_vec(rng, s.T * s.heads * (s.dn + s.dr), -2, 2),
      kv = random_vec(rng, s.T * s.heads * (s.dn + s.dv), -2, 2);
  Vec kr = random_vec(rng, s.T * s.dr, -2, 2);
  const Vec u = random_vec(rng, s.T * s.heads * s.dv);
  Vec probs(s.heads * s.T * s.T);
  auto forward = [&] {
    Vec out(u.size());
    attention_forward(s, q.data(), kv.data(), kr.data(), out.data(), probs.data(), pool);
    return out;
  };
  EXPECT_LT(rel_error(forward(), attention_by_definition(s, q, kv, kr)), 1e-14);
  auto loss = [&] { return dot(u, forward()); };
  forward();
  Vec dq(q.size(), 0.0), dkv(kv.size(), 0.0), dkr(kr.size(), 0.0);
  attention_backward(s, u.data(), q.data(), kv.data(), kr.data(), probs.data(), dq.data(), dkv.data(), dkr.data(),
                     pool);
  EXPECT_LT(rel_error(dq, numeric_grad(q, loss)), kGradTol);
  EXPECT_LT(rel_error(dkv, numeric_grad(kv, loss)), kGradTol);
  EXPECT_LT(rel_error(dkr, numeric_grad(kr, loss)), kGradTol);
}

TEST(Attention, Fp32BitIdenticalForOneTwoAndThreeThreads) {
  const AttentionShape s{33, 5, 16, 8, 12, 0.2};
  Rng rng(10);
  const auto q = to_float(random_vec(rng, s.T * s.heads * (s.dn + s.dr))),
             kv = to_float(random_vec(rng, s.T * s.heads * (s.dn + s.dv)));
  const auto kr = to_float(random_vec(rng, s.T * s.dr)), u = to_float(random_vec(rng, s.T * s.heads * s.dv));
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> out(u.size()), probs(size_t(s.heads * s.T * s.T)), dq(q.size()), dkv(kv.size()), dkr(kr.size());
    attention_forward(s, q.data(), kv.data(), kr.data(), out.data(), probs.data(), pool);
    attention_backward(s, u.data(), q.data(), kv.data(), kr.data(), probs.data(), dq.data(), dkv.data(), dkr.data(),
                       pool);
    for (auto* v : {&dq, &dkv, &dkr}) out.insert(out.end(), v->begin(), v->end());
    results.push_back(std::move(out));
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

// ---- cross-entropy -----------------------------------------------------------------------------------

TEST(CrossEntropy, MaskedMeanAndGradientMatchFiniteDifferences) {
  Rng rng(11);
  const int64_t T = 6, V = 9;
  const std::vector<int32_t> targets = {4, -1, 0, 8, -1, 4};  // 4 counted
  Vec logits = random_vec(rng, T * V, -3, 3);
  Vec lse(T);
  int64_t counted = 0;
  const double loss = cross_entropy_forward(logits.data(), targets.data(), T, V, lse.data(), &counted);
  EXPECT_EQ(counted, 4);
  double expected = 0;  // −log softmax by definition, averaged over the counted positions
  for (int64_t t = 0; t < T; ++t) {
    if (targets[t] < 0) continue;
    double z = 0;
    for (int64_t v = 0; v < V; ++v) z += std::exp(logits[t * V + v]);
    expected -= std::log(std::exp(logits[t * V + targets[t]]) / z) / 4;
  }
  EXPECT_NEAR(loss, expected, 1e-13);
  const double dloss = 0.7;
  Vec dlogits(T * V, 0.0);
  cross_entropy_backward(logits.data(), targets.data(), lse.data(), T, V, counted, dloss, dlogits.data());
  auto f = [&] {
    int64_t n;
    return dloss * cross_entropy_forward(logits.data(), targets.data(), T, V, lse.data(), &n);
  };
  EXPECT_LT(rel_error(dlogits, numeric_grad(logits, f)), kGradTol);
  for (int64_t v = 0; v < V; ++v) EXPECT_EQ(dlogits[1 * V + v], 0.0);  // masked rows get nothing

  const Vec zeros(V, 0.0);  // uniform logits: loss = log V
  const int32_t target = 2;
  EXPECT_NEAR(cross_entropy_forward(zeros.data(), &target, 1, V, lse.data(), &counted), std::log(9.0), 1e-15);
}

// ---- router and balance loss -------------------------------------------------------------------------

// Logits whose biased scores are at least 0.01 apart, so selection is not a near-tie and cannot flip
// under the finite-difference steps.
Vec untied_logits(Rng& rng, int64_t T, int64_t E, const Vec& bias) {
  for (;;) {
    Vec z = random_vec(rng, T * E, -3, 3);
    bool ok = true;
    for (int64_t t = 0; t < T && ok; ++t) {
      for (int64_t a = 0; a < E && ok; ++a) {
        for (int64_t b = a + 1; b < E && ok; ++b) {
          const double sa = 1 / (1 + std::exp(-z[t * E + a])) + bias[a],
                       sb = 1 / (1 + std::exp(-z[t * E + b])) + bias[b];
          ok = std::abs(sa - sb) > 0.01;
        }
      }
    }
    if (ok) return z;
  }
}

TEST(Router, MatchesTheInferenceRouter) {
  ModelConfig c;
  c.n_routed_experts = 8;
  c.num_experts_per_tok = 3;
  c.router = Router::NoauxTC;
  c.scoring = Scoring::Sigmoid;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  const RouterShape r{/*T=*/5, 8, 3, true, 2.5};
  Rng rng(12);
  const Vec bias_d = random_vec(rng, 8, -0.3, 0.3);
  const auto logits = to_float(untied_logits(rng, r.T, 8, bias_d)), bias = to_float(bias_d);
  std::vector<float> scores(size_t(r.T * 8)), weights(size_t(r.T * 3)), scratch(16), w_inf(3);
  std::vector<int32_t> sel(size_t(r.T * 3)), sel_inf(3);
  router_forward(r, logits.data(), bias.data(), scores.data(), sel.data(), weights.data());
  for (int64_t t = 0; t < r.T; ++t) {
    route_token(c, logits.data() + t * 8, bias.data(), sel_inf.data(), w_inf.data(), scratch.data());
    for (int k = 0; k < 3; ++k) {
      EXPECT_EQ(sel[size_t(t * 3 + k)], sel_inf[size_t(k)]);
      EXPECT_NEAR(weights[size_t(t * 3 + k)], w_inf[size_t(k)], 1e-6);
    }
  }
}

TEST(Router, BiasSelectsButWeightsUseUnbiasedScores) {
  // Scores 0.9, 0.8, 0.7, 0.6; bias +0.5 on expert 3 moves it to the top: top-2 = {3, 0}, weights from
  // the unbiased scores 0.6 and 0.9, renormalised: 0.4 and 0.6 (× scaling 2).
  const RouterShape r{1, 4, 2, true, 2.0};
  Vec logits;
  for (double s : {0.9, 0.8, 0.7, 0.6}) logits.push_back(std::log(s / (1 - s)));
  const Vec bias = {0, 0, 0, 0.5};
  Vec scores(4), weights(2);
  std::vector<int32_t> sel(2);
  router_forward(r, logits.data(), bias.data(), scores.data(), sel.data(), weights.data());
  EXPECT_EQ(sel, (std::vector<int32_t>{3, 0}));
  EXPECT_NEAR(weights[0], 0.8, 1e-12);
  EXPECT_NEAR(weights[1], 1.2, 1e-12);
}

TEST(Router, GradientThroughSelectedScoresMatchesFiniteDifferences) {
  for (const bool norm : {true, false}) {
    SCOPED_TRACE(norm ? "norm_topk_prob" : "no renormalisation");
    const RouterShape r{/*T=*/4, /*experts=*/7, /*top_k=*/3, norm, 2.5};
    Rng rng(13);
    const Vec bias = random_vec(rng, r.experts, -0.2, 0.2);
    Vec logits = untied_logits(rng, r.T, r.experts, bias);
    const Vec u = random_vec(rng, r.T * r.top_k);
    Vec scores(r.T * r.experts), weights(r.T * r.top_k);
    std::vector<int32_t> sel(size_t(r.T * r.top_k));
    router_forward(r, logits.data(), bias.data(), scores.data(), sel.data(), weights.data());
    const auto sel0 = sel;
    auto loss = [&] {
      router_forward(r, logits.data(), bias.data(), scores.data(), sel.data(), weights.data());
      EXPECT_EQ(sel, sel0);  // the steps never change the selection
      return dot(u, weights);
    };
    Vec dlogits(logits.size(), 0.0);
    router_backward(r, scores.data(), sel.data(), u.data(), dlogits.data());
    EXPECT_LT(rel_error(dlogits, numeric_grad(logits, loss)), kGradTol);
  }
}

TEST(BalanceLoss, ValueByHandAndGradientMatchesFiniteDifferences) {
  {  // T = 2, E = 2, K = 1: scores (0.75, 0.25) and (0.5, 0.5), both tokens pick expert 0.
    // f = (2/(1·2))·(2, 0) = (2, 0); P = ((0.75 + 0.5)/2, …) = (0.625, 0.375); L = α·2·0.625 = 1.25α.
    const RouterShape r{2, 2, 1, true, 1.0};
    const Vec scores = {0.75, 0.25, 0.5, 0.5};
    const std::vector<int32_t> sel = {0, 0};
    Vec f(2);
    EXPECT_NEAR(balance_loss_forward(r, scores.data(), sel.data(), 0.1, f.data()), 0.125, 1e-15);
    EXPECT_EQ(f, (Vec{2, 0}));
  }
  const RouterShape r{/*T=*/6, /*experts=*/5, /*top_k=*/2, true, 1.0};
  Rng rng(14);
  const Vec zero_bias(r.experts, 0.0);
  Vec logits = untied_logits(rng, r.T, r.experts, zero_bias);
  Vec scores(r.T * r.experts), weights(r.T * r.top_k), f(r.experts);
  std::vector<int32_t> sel(size_t(r.T * r.top_k));
  const double alpha = 0.3, dloss = 1.7;
  router_forward(r, logits.data(), nullptr, scores.data(), sel.data(), weights.data());
  balance_loss_forward(r, scores.data(), sel.data(), alpha, f.data());
  auto loss = [&] {
    router_forward(r, logits.data(), nullptr, scores.data(), sel.data(), weights.data());
    Vec f2(r.experts);
    return dloss * balance_loss_forward(r, scores.data(), sel.data(), alpha, f2.data());
  };
  Vec dlogits(logits.size(), 0.0);
  balance_loss_backward(r, scores.data(), f.data(), alpha, dloss, dlogits.data());
  EXPECT_LT(rel_error(dlogits, numeric_grad(logits, loss)), kGradTol);
}

// ---- optimizer ---------------------------------------------------------------------------------------

TEST(AdamW, TwoStepsOnThreeNumbersFollowTheFormulas) {
  const AdamW opt{0.9, 0.95, 1e-8, 0.1};
  const double lr = 0.01;
  const double theta0[3] = {1.0, -2.0, 0.5}, g1[3] = {0.1, -0.3, 0.0}, g2[3] = {-0.2, 0.4, 0.05};
  // By hand, per element: m1 = 0.1·g1, v1 = 0.05·g1², m̂1 = m1/0.1 = g1, v̂1 = v1/0.05 = g1², so step 1 is
  // θ1 = θ0 − lr·(g1/(|g1| + eps) + 0.1·θ0). Step 2: m2 = 0.9·m1 + 0.1·g2, v2 = 0.95·v1 + 0.05·g2²,
  // m̂2 = m2/(1 − 0.81), v̂2 = v2/(1 − 0.9025), θ2 = θ1 − lr·(m̂2/(sqrt(v̂2) + eps) + 0.1·θ1).
  double expected[3];
  for (int i = 0; i < 3; ++i) {
    const double t1 = theta0[i] - lr * (g1[i] / (std::abs(g1[i]) + 1e-8) + 0.1 * theta0[i]);
    const double m2 = 0.9 * 0.1 * g1[i] + 0.1 * g2[i], v2 = 0.95 * 0.05 * g1[i] * g1[i] + 0.05 * g2[i] * g2[i];
    expected[i] = t1 - lr * (m2 / 0.19 / (std::sqrt(v2 / 0.0975) + 1e-8) + 0.1 * t1);
  }
  Vec theta(theta0, theta0 + 3), m(3, 0.0), v(3, 0.0);
  adamw_step(opt, 1, lr, theta.data(), g1, m.data(), v.data(), 3);
  adamw_step(opt, 2, lr, theta.data(), g2, m.data(), v.data(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(theta[i], expected[i], 1e-15) << i;
  // The fp32 path agrees to float precision.
  std::vector<float> tf(theta0, theta0 + 3), mf(3, 0.0f), vf(3, 0.0f);
  const auto g1f = to_float(Vec(g1, g1 + 3)), g2f = to_float(Vec(g2, g2 + 3));
  adamw_step(opt, 1, lr, tf.data(), g1f.data(), mf.data(), vf.data(), 3);
  adamw_step(opt, 2, lr, tf.data(), g2f.data(), mf.data(), vf.data(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(tf[i], expected[i], 1e-6) << i;
}

TEST(GradClip, ScalesToMaxNormOnlyWhenAbove) {
  std::vector<float> a = {3, 0}, b = {0, 4};  // global norm 5
  std::vector<std::span<float>> grads = {a, b};
  EXPECT_DOUBLE_EQ(grad_norm(grads), 5.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm(grads, 10.0), 5.0);
  EXPECT_EQ(a[0], 3.0f);  // untouched below the threshold
  EXPECT_DOUBLE_EQ(clip_grad_norm(grads, 1.0), 5.0);
  EXPECT_NEAR(a[0], 0.6, 1e-6);
  EXPECT_NEAR(b[1], 0.8, 1e-6);
  EXPECT_NEAR(grad_norm(grads), 1.0, 1e-6);
}

// ---- schedules ---------------------------------------------------------------------------------------

TEST(Schedule, CosineWithWarmupAtKeySteps) {
  const CosineSchedule s{/*lr_max=*/1e-3, /*lr_min=*/1e-4, /*warmup=*/10, /*total=*/110};
  EXPECT_DOUBLE_EQ(s.at(0), 1e-4);  // (0+1)/10 of lr_max
  EXPECT_DOUBLE_EQ(s.at(4), 5e-4);
  EXPECT_DOUBLE_EQ(s.at(9), 1e-3);       // warm-up ends at lr_max
  EXPECT_DOUBLE_EQ(s.at(10), 1e-3);      // cosine at angle 0
  EXPECT_NEAR(s.at(60), 5.5e-4, 1e-15);  // half-way: (lr_max + lr_min)/2
  EXPECT_NEAR(s.at(35), 1e-4 + 9e-4 * (1 + std::cos(std::numbers::pi / 4)) / 2, 1e-15);
  EXPECT_DOUBLE_EQ(s.at(110), 1e-4);
  EXPECT_DOUBLE_EQ(s.at(1000), 1e-4);
}

TEST(Schedule, WarmupStableDecayAtKeySteps) {
  const WsdSchedule s{/*lr_max=*/2e-3, /*lr_min=*/2e-4, /*warmup=*/4, /*stable=*/10, /*decay=*/6};
  EXPECT_DOUBLE_EQ(s.at(0), 5e-4);
  EXPECT_DOUBLE_EQ(s.at(3), 2e-3);
  EXPECT_DOUBLE_EQ(s.at(4), 2e-3);
  EXPECT_DOUBLE_EQ(s.at(13), 2e-3);      // last stable step
  EXPECT_NEAR(s.at(14), 2e-3, 1e-18);    // decay starts from lr_max
  EXPECT_NEAR(s.at(17), 1.1e-3, 1e-15);  // half-way through the decay
  EXPECT_DOUBLE_EQ(s.at(20), 2e-4);
  EXPECT_DOUBLE_EQ(s.at(500), 2e-4);
}

}  // namespace
}  // namespace r1::train
