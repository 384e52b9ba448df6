#include "kernels/cpu/quant_fit.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>

namespace r1::quant {

namespace {

constexpr int kMaxN = 32;  // the fits run on sub-blocks of at most 32 values

// Candidate scales, relative to the one that puts the extreme value(s) exactly on the grid's end(s):
// a shorter step (r < 1) clips the few largest values but refines every other one, which on bell-shaped
// data usually wins; a little longer (r > 1) sometimes rounds better.
constexpr float kStretch[] = {0.70f, 0.72f, 0.74f, 0.76f, 0.78f, 0.80f, 0.82f, 0.84f, 0.86f, 0.88f, 0.90f, 0.92f,
                              0.94f, 0.96f, 0.98f, 1.00f, 1.02f, 1.04f, 1.06f, 1.08f, 1.10f};

// The value of largest magnitude, with its sign (0 for an all-zero x).
float signed_absmax(const float* x, int n) {
  float amax = 0, vmax = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      vmax = x[i];
    }
  }
  return vmax;
}

double sum_squares(const float* x, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += double(x[i]) * x[i];
  return s;
}

}  // namespace

float fit_symmetric(const float* x, int n, int qmin, int qmax, int8_t* q) {
  const float vmax = signed_absmax(x, n);
  for (int i = 0; i < n; ++i) q[i] = 0;
  if (vmax == 0) return 0;
  // For integers q fixed, the best scale is s = Σxq / Σq² and leaves the error Σx² − (Σxq)² / Σq²;
  // so the best candidate is the one with the largest (Σxq)² / Σq².
  const double sxx = sum_squares(x, n);
  double best_err = std::numeric_limits<double>::infinity();
  float best_scale = 0;
  int8_t trial[kMaxN];
  for (const int end : {qmin, qmax}) {
    if (end == qmax && qmin == -qmax) break;  // a symmetric grid's other end gives the same fits, negated
    for (const float r : kStretch) {
      const float iscale = float(end) / (r * vmax);
      double sxq = 0, sqq = 0;
      for (int i = 0; i < n; ++i) {
        const int l = round_clamp(x[i] * iscale, qmin, qmax);
        trial[i] = int8_t(l);
        sxq += double(x[i]) * l;
        sqq += double(l) * l;
      }
      if (sqq == 0) continue;
      const double err = sxx - sxq * sxq / sqq;
      if (err < best_err) {
        best_err = err;
        best_scale = float(sxq / sqq);
        std::copy(trial, trial + n, q);
      }
    }
  }
  return best_scale;
}

AffineFit fit_affine(const float* x, int n, int qmax, uint8_t* q) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::fmin(lo, x[i]);
    hi = std::fmax(hi, x[i]);
  }
  lo = std::fmin(lo, 0.0f);  // the stored minimum is ≤ 0
  for (int i = 0; i < n; ++i) q[i] = 0;
  if (!(hi > lo)) return {0, -lo};  // every value equals lo ≤ 0
  double best_err = std::numeric_limits<double>::infinity();
  AffineFit best{(hi - lo) / float(qmax), -lo};
  uint8_t trial[kMaxN];
  auto consider = [&](float scale, float offset) {
    // Round to the grid for this (scale, offset), then refit both by least squares: minimise
    // Σ (s·q + m − x)² over s, m with the q fixed (normal equations of a 2-parameter regression).
    const float inv = 1.0f / scale;
    double sq = 0, sqq = 0, sx = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      const int l = round_clamp((x[i] + offset) * inv, 0, qmax);
      trial[i] = uint8_t(l);
      sq += l;
      sqq += double(l) * l;
      sx += x[i];
      sqx += double(l) * x[i];
    }
    const double det = n * sqq - sq * sq;
    if (det <= 0) return false;
    double s = (n * sqx - sq * sx) / det;
    double m = (sqq * sx - sq * sqx) / det;
    if (m > 0) {  // the minimum must stay ≤ 0: refit the scale alone with m = 0
      m = 0;
      s = sqx / sqq;
    }
    if (s <= 0) return false;
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const double e = s * trial[i] + m - x[i];
      err += e * e;
    }
    if (err >= best_err) return false;
    best_err = err;
    best = {float(s), float(-m)};
    std::copy(trial, trial + n, q);
    return true;
  };
  for (const float r : kStretch) consider(r * (hi - lo) / float(qmax), -lo);
  // Then alternate rounding and refitting from the best candidate while it keeps improving.
  for (int iter = 0; iter < 4; ++iter) {
    if (!consider(best.scale, best.offset)) break;
  }
  return best;
}

float fit_iq4nl(const float* x, int n, uint8_t* q) {
  const int8_t* grid = kIQ4NL;
  const float vmax = signed_absmax(x, n);
  const uint8_t zero = uint8_t(nearest_iq4nl(0.0f));
  for (int i = 0; i < n; ++i) q[i] = zero;
  if (vmax == 0) return 0;
  const double sxx = sum_squares(x, n);
  double best_err = std::numeric_limits<double>::infinity();
  float best_scale = 0;
  uint8_t trial[kMaxN];
  // As fit_symmetric, with the grid's two ends as targets for vmax and steps of one grid unit
  // (the grid spans 240 units, so ±7 units is about ±3 % of the scale).
  for (const int end : {int(grid[0]), int(grid[15])}) {
    for (int step = -7; step <= 7; ++step) {
      const float iscale = float(end + step) / vmax;
      double sxv = 0, svv = 0;
      for (int i = 0; i < n; ++i) {
        const int l = nearest_iq4nl(x[i] * iscale);
        trial[i] = uint8_t(l);
        sxv += double(x[i]) * grid[l];
        svv += double(grid[l]) * grid[l];
      }
      if (svv == 0) continue;
      const double err = sxx - sxv * sxv / svv;
      if (err < best_err) {
        best_err = err;
        best_scale = float(sxv / svv);
        std::copy(trial, trial + n, q);
      }
    }
  }
  return best_scale;
}

}  // namespace r1::quant
