// Fitting a handful of values to a small integer grid by least squares: the search inside r1's
// quantizers (quants_encode.cpp).
//
// Round-to-nearest with the scale that maps the largest |x| to the end of the grid wastes resolution
// when one value stands out, and leaves the scale itself unoptimized. Each fit below therefore tries a
// small family of candidate scales around that one, rounds every value to the grid for each candidate,
// solves the least-squares problem for the scale (and minimum) given those integers in closed form,
// and keeps the candidate with the smallest squared error Σ (x̂ − x)².
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/cpu/quant_blocks.h"

namespace r1::quant {

// x ≈ scale · q, q ∈ [qmin, qmax] integers (qmin < 0 < qmax). Writes q[0..n); returns the scale
// (0, with q = 0, when every x is 0). The scale may be negative: the largest |x| is tried at either end.
float fit_symmetric(const float* x, int n, int qmin, int qmax, int8_t* q);

// x ≈ scale · q − offset, q ∈ [0, qmax], scale ≥ 0, offset ≥ 0 (the K-quants store a minimum ≤ 0 as a
// positive offset). Writes q[0..n).
struct AffineFit {
  float scale = 0, offset = 0;
};
AffineFit fit_affine(const float* x, int n, int qmax, uint8_t* q);

// x ≈ scale · kIQ4NL[q], q ∈ [0, 16) (the IQ4 grid). Writes q; returns the scale.
float fit_iq4nl(const float* x, int n, uint8_t* q);

// Index of the IQ4 grid level nearest to v (ties to the lower level). The levels are integers, so every
// midpoint between two is a multiple of 1/2 and the answer is constant on each interval (k/2, k/2 + 1/2]:
// a 512-entry table over k replaces a search (the IQ4 fits call this for every value and candidate).
struct IQ4NearestTable {
  uint8_t level[512];  // interval k − 256
  constexpr IQ4NearestTable() : level() {
    for (int k = 0; k < 512; ++k) {
      const double v = (k - 256) / 2.0 + 0.25;  // inside the interval, never on a midpoint
      int best = 0;
      for (int l = 1; l < 16; ++l) {
        if ((v - kIQ4NL[l]) * (v - kIQ4NL[l]) < (v - kIQ4NL[best]) * (v - kIQ4NL[best])) best = l;
      }
      level[k] = uint8_t(best);
    }
  }
};
inline constexpr IQ4NearestTable kIQ4Nearest{};

inline int nearest_iq4nl(float v) {
  const float k = std::ceil(std::fmin(std::fmax(2 * v, -255.0f), 256.0f)) - 1;  // NaN → −256
  return kIQ4Nearest.level[int(k) + 256];
}

// Round to nearest (ties to even) for |v| < 2^22 in plain float arithmetic, which vectorizes:
// adding 1.5·2^23 leaves no fraction bits, so the FPU's own rounding does the work.
inline float round_small(float v) {
  constexpr float kMagic = 12582912.0f;
  return (v + kMagic) - kMagic;
}

// round_small clamped to [lo, hi], as an int (NaN gives lo).
inline int round_clamp(float v, int lo, int hi) {
  const float r = round_small(v);
  return r >= float(lo) ? (r <= float(hi) ? int(r) : hi) : lo;
}

// Symmetric int8 with one scale: d = max|x| / 127 and q = round(x / d) ∈ [−127, 127] (never −128, so
// the int8 dot products can negate q). Returns d; 0 with q = 0 for an all-zero x.
inline float quantize_absmax127(const float* x, int n, int8_t* q) {
  // NaN is skipped as std::fmax would. Sixteen running maxima, then theirs: the same maximum (max is
  // exact, and |x| has no −0), but the compiler vectorizes this form; one chain through every value was
  // two thirds of the time to quantize activations.
  constexpr int kLanes = 16;
  float lane_max[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const float a = std::fabs(x[i + l]);
      lane_max[l] = a > lane_max[l] ? a : lane_max[l];
    }
  }
  for (; i < n; ++i) {
    const float a = std::fabs(x[i]);
    lane_max[0] = a > lane_max[0] ? a : lane_max[0];
  }
  float amax = 0;
  for (const float m : lane_max) amax = m > amax ? m : amax;
  const float id = amax > 0 ? 127.0f / amax : 0.0f;
  for (int i = 0; i < n; ++i) q[i] = int8_t(round_clamp(x[i] * id, -127, 127));
  return amax / 127.0f;
}

}  // namespace r1::quant
