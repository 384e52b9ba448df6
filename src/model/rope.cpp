#include "model/rope.h"

#include <algorithm>
#include <cmath>

namespace r1 {

namespace {

double yarn_mscale(double factor, double mscale) { return factor <= 1.0 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0; }

// The dimension index whose wavelength makes `rotations` full turns over the original context.
double yarn_correction_dim(double rotations, int dim, double base, double original_ctx) {
  return dim * std::log(original_ctx / (rotations * 2.0 * M_PI)) / (2.0 * std::log(base));
}

}  // namespace

RopeTable make_rope_table(const RopeConfig& r) {
  RopeTable t;
  t.dim = r.dim;
  t.interleaved = r.interleaved;
  const int half = r.dim / 2;
  t.inv_freq.resize(size_t(half));
  for (int i = 0; i < half; ++i) t.inv_freq[size_t(i)] = 1.0 / std::pow(r.theta, double(2 * i) / double(r.dim));

  if (r.scaling == RopeScaling::Yarn) {
    // YaRN (Peng et al. 2023): low frequencies are interpolated by 1/factor, high ones kept, with a
    // linear ramp between the correction dims of beta_fast and beta_slow rotations.
    const double orig = double(r.original_max_position_embeddings);
    double low = std::floor(yarn_correction_dim(r.beta_fast, r.dim, r.theta, orig));
    double high = std::ceil(yarn_correction_dim(r.beta_slow, r.dim, r.theta, orig));
    low = std::max(low, 0.0);
    high = std::min(high, double(r.dim - 1));
    if (low == high) high += 0.001;
    for (int i = 0; i < half; ++i) {
      const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
      const double keep = 1.0 - ramp;  // 1: extrapolate (unchanged), 0: interpolate (divided by factor)
      const double f = t.inv_freq[size_t(i)];
      t.inv_freq[size_t(i)] = f / r.factor * (1.0 - keep) + f * keep;
    }
    t.cos_sin_scale = yarn_mscale(r.factor, r.mscale) / yarn_mscale(r.factor, r.mscale_all_dim);
  } else if (r.scaling == RopeScaling::Llama3) {
    // Llama 3.1: wavelengths longer than orig/low_freq_factor are divided by factor, shorter than
    // orig/high_freq_factor kept, and smoothly blended between.
    const double orig = double(r.original_max_position_embeddings);
    const double low_wavelen = orig / r.low_freq_factor, high_wavelen = orig / r.high_freq_factor;
    for (int i = 0; i < half; ++i) {
      const double f = t.inv_freq[size_t(i)];
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen < high_wavelen) continue;
      if (wavelen > low_wavelen) {
        t.inv_freq[size_t(i)] = f / r.factor;
      } else {
        const double smooth = (orig / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        t.inv_freq[size_t(i)] = (1.0 - smooth) * f / r.factor + smooth * f;
      }
    }
  }
  // llama.cpp stores Llama 3's scaling as precomputed per-frequency divisors instead of the formula.
  for (size_t i = 0; i < r.freq_factors.size() && i < t.inv_freq.size(); ++i) t.inv_freq[i] /= r.freq_factors[i];
  return t;
}

void rope_cos_sin(const RopeTable& t, int64_t pos, float* cos_out, float* sin_out) {
  for (size_t i = 0; i < t.inv_freq.size(); ++i) {
    const double angle = double(pos) * t.inv_freq[i];
    cos_out[i] = float(std::cos(angle) * t.cos_sin_scale);
    sin_out[i] = float(std::sin(angle) * t.cos_sin_scale);
  }
}

void apply_rope(const RopeTable& t, float* x, const float* cos, const float* sin) {
  const int half = t.dim / 2;
  for (int i = 0; i < half; ++i) {
    const int a = t.interleaved ? 2 * i : i;
    const int b = t.interleaved ? 2 * i + 1 : i + half;
    const float x0 = x[a], x1 = x[b];
    x[a] = x0 * cos[i] - x1 * sin[i];
    x[b] = x0 * sin[i] + x1 * cos[i];
  }
}

}  // namespace r1
