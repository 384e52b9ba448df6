#include "model/rope.h"

#include <gtest/gtest.h>

#include <cmath>

namespace r1 {
namespace {

TEST(Rope, YarnKeepsHighFrequenciesAndInterpolatesLowOnes) {
  // DeepSeek-V3: dim 64, base 10000, factor 40, original context 4096, beta 32/1. The correction range is
  // [10, 23] (spec §4.5): below it frequencies are unchanged, above it divided by 40.
  RopeConfig r;
  r.dim = 64;
  r.interleaved = true;
  r.theta = 10000;
  r.scaling = RopeScaling::Yarn;
  r.factor = 40;
  r.original_max_position_embeddings = 4096;
  r.mscale = r.mscale_all_dim = 1.0;
  const RopeTable t = make_rope_table(r);
  for (int i : {0, 5, 10}) EXPECT_DOUBLE_EQ(t.inv_freq[size_t(i)], std::pow(10000.0, -2.0 * i / 64));
  for (int i : {23, 31}) EXPECT_DOUBLE_EQ(t.inv_freq[size_t(i)], std::pow(10000.0, -2.0 * i / 64) / 40);
  // Halfway through the ramp (i = 16.5 would be 0.5); at i = 16 the ramp is 6/13.
  const double f16 = std::pow(10000.0, -32.0 / 64), ramp = 6.0 / 13.0;
  EXPECT_NEAR(t.inv_freq[16], f16 / 40 * ramp + f16 * (1 - ramp), 1e-15);
  EXPECT_DOUBLE_EQ(t.cos_sin_scale, 1.0);
}

TEST(Rope, Llama3ScalingBands) {
  // Llama 3.1: factor 8, low 1, high 4, original 8192. Wavelength < 2048 kept, > 8192 divided by 8.
  RopeConfig r;
  r.dim = 128;
  r.theta = 500000;
  r.scaling = RopeScaling::Llama3;
  r.factor = 8;
  r.low_freq_factor = 1;
  r.high_freq_factor = 4;
  r.original_max_position_embeddings = 8192;
  const RopeTable t = make_rope_table(r);
  for (size_t i = 0; i < t.inv_freq.size(); ++i) {
    const double f = std::pow(500000.0, -2.0 * double(i) / 128), wavelen = 2 * M_PI / f;
    if (wavelen < 2048) {
      EXPECT_DOUBLE_EQ(t.inv_freq[i], f);
    }
    if (wavelen > 8192) {
      EXPECT_DOUBLE_EQ(t.inv_freq[i], f / 8);
    }
    if (wavelen >= 2048 && wavelen <= 8192) {
      const double smooth = (8192 / wavelen - 1) / 3;
      EXPECT_NEAR(t.inv_freq[i], (1 - smooth) * f / 8 + smooth * f, 1e-18);
    }
  }
}

TEST(Rope, InterleavedAndHalfSplitRotatePairs) {
  RopeConfig r;
  r.dim = 4;
  r.theta = 10000;
  for (bool interleaved : {true, false}) {
    r.interleaved = interleaved;
    const RopeTable t = make_rope_table(r);
    float cs[2], sn[2];
    rope_cos_sin(t, 3, cs, sn);
    float x[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    apply_rope(t, x, cs, sn);
    // Pair i rotates by angle 3 * 10000^(-2i/4).
    const double a0 = 3.0, a1 = 3.0 / 100.0;
    auto rot = [](double u, double v, double a) { return std::pair{u * std::cos(a) - v * std::sin(a), u * std::sin(a) + v * std::cos(a)}; };
    const auto [p0, q0] = interleaved ? rot(1, 2, a0) : rot(1, 3, a0);
    const auto [p1, q1] = interleaved ? rot(3, 4, a1) : rot(2, 4, a1);
    if (interleaved) {
      EXPECT_NEAR(x[0], p0, 1e-6); EXPECT_NEAR(x[1], q0, 1e-6); EXPECT_NEAR(x[2], p1, 1e-6); EXPECT_NEAR(x[3], q1, 1e-6);
    } else {
      EXPECT_NEAR(x[0], p0, 1e-6); EXPECT_NEAR(x[2], q0, 1e-6); EXPECT_NEAR(x[1], p1, 1e-6); EXPECT_NEAR(x[3], q1, 1e-6);
    }
  }
}

}  // namespace
}  // namespace r1
