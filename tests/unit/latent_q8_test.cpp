// The Q8 attention kernels (kernels/cpu/latent_q8.h) of every instruction set this CPU runs, against the
// integer sums computed here one product at a time: the scores and the value sums bit for bit, for shapes
// with partial groups of four and partial vector runs, steps of one to eight blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/latent_q8.h"

namespace r1 {
namespace {

struct Shape {
  int64_t heads, dc, dr;
};
constexpr Shape kShapes[] = {{3, 40, 8}, {6, 136, 24}, {16, 512, 64}, {21, 72, 8}};

// kQ8StepBlocks blocks of random rows (values in [-127, 127], as the cache stores them) and scales.
struct Blocks {
  std::vector<int8_t> q;
  std::vector<float> scales;
  std::vector<LatentBlockQ8> views;
  Blocks(const LatentQ8Shape& s, std::mt19937& rng) {
    const int64_t bytes = s.groups() * kQ8BlockRows * 4;
    q.resize(size_t(kQ8StepBlocks * bytes));
    scales.resize(size_t(kQ8StepBlocks * 2 * kQ8BlockRows));
    std::uniform_int_distribution<int> value(-127, 127);
    std::uniform_real_distribution<float> scale(0.001f, 0.05f);
    for (int8_t& x : q) x = int8_t(value(rng));
    for (int64_t k = 0; k < kQ8StepBlocks; ++k) {  // zero past each part's dims, as the cache pads
      for (int64_t g = 0; g < s.groups(); ++g) {
        for (int64_t i = 0; i < kQ8BlockRows; ++i) {
          for (int d = 0; d < 4; ++d) {
            const bool latent = g < s.latent_groups();
            const int64_t dim = latent ? 4 * g + d : 4 * (g - s.latent_groups()) + d;
            if (dim >= (latent ? s.dc : s.dr)) q[size_t(k * bytes + (g * kQ8BlockRows + i) * 4 + d)] = 0;
          }
        }
      }
    }
    for (float& x : scales) x = scale(rng);
    for (int64_t k = 0; k < kQ8StepBlocks; ++k) {
      const float* sc = scales.data() + k * 2 * kQ8BlockRows;
      views.push_back({q.data() + k * bytes, sc, sc + kQ8BlockRows});
    }
  }
  int8_t at(const LatentQ8Shape& s, int64_t row, int64_t g, int d) const {  // row of the step
    return q[size_t((row / kQ8BlockRows) * s.groups() * kQ8BlockRows * 4 + (g * kQ8BlockRows + row % kQ8BlockRows) * 4 + d)];
  }
};

std::vector<quant::Isa> isas() {
  std::vector<quant::Isa> out;
  for (quant::Isa isa : quant::kAllIsas) {
    if (quant::isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

TEST(LatentQ8, ScoresAndValueSumsOfEveryInstructionSetEqualTheProductsOneByOne) {
  std::mt19937 rng(9);
  for (const Shape shape : kShapes) {
    const LatentQ8Shape s{shape.heads, shape.dc, shape.dr};
    const Blocks b(s, rng);
    // Queries and their quantization.
    std::normal_distribution<float> normal;
    std::vector<float> ql(size_t(s.heads * s.dc)), qr(size_t(s.heads * s.dr));
    for (float& x : ql) x = normal(rng);
    for (float& x : qr) x = normal(rng);
    std::vector<int8_t> qq(size_t(s.heads * 4 * s.groups()));
    std::vector<float> qs(size_t(2 * s.heads));
    std::vector<int32_t> sums(size_t(2 * s.heads));
    const QueryQ8 q{qq.data(), qs.data(), qs.data() + s.heads, sums.data(), sums.data() + s.heads};
    quantize_query_q8(s, ql.data(), s.dc, qr.data(), s.dr, q);
    // Weights of a step.
    std::uniform_int_distribution<int> byte(0, 255);
    std::vector<uint8_t> pw(size_t(s.heads * kQ8StepRows));
    for (uint8_t& x : pw) x = uint8_t(byte(rng));
    std::vector<float> ws(size_t(s.heads));
    for (float& x : ws) x = 0.001f * float(byte(rng) + 1);

    for (int64_t count = 1; count <= kQ8StepBlocks; ++count) {
      // Expected: the integer sums one product at a time, then the float recipe of latent_q8.h.
      const int64_t ld = kQ8StepRows;
      std::vector<float> want_scores(size_t(s.heads * ld)), want_o(size_t(s.heads * s.dc));
      for (int64_t h = 0; h < s.heads; ++h) {
        const int8_t* qh = qq.data() + h * 4 * s.groups();
        for (int64_t row = 0; row < count * kQ8BlockRows; ++row) {
          int64_t latent = 0, rope = 0;
          for (int64_t g = 0; g < s.groups(); ++g) {
            for (int d = 0; d < 4; ++d) (g < s.latent_groups() ? latent : rope) += int64_t(b.at(s, row, g, d)) * qh[4 * g + d];
          }
          const LatentBlockQ8& v = b.views[size_t(row / kQ8BlockRows)];
          const float a = v.latent_scale[row % kQ8BlockRows] * q.latent_scale[h];
          const float r = v.rope_scale[row % kQ8BlockRows] * q.rope_scale[h];
          want_scores[size_t(h * ld + row)] = std::fma(r, float(rope), a * float(latent)) * 0.3f;
        }
        for (int64_t j = 0; j < s.dc; ++j) {
          int64_t sum = 0;
          for (int64_t row = 0; row < count * kQ8BlockRows; ++row) sum += int64_t(pw[size_t(h * kQ8StepRows + row)]) * b.at(s, row, j / 4, int(j % 4));
          want_o[size_t(h * s.dc + j)] = std::fma(float(sum), ws[size_t(h)], 1.0f);
        }
      }
      for (quant::Isa isa : isas()) {
        const LatentQ8Kernels k = latent_q8_kernels(isa);
        std::vector<float> scores(size_t(s.heads * ld), NAN), o(size_t(s.heads * s.dc), 1.0f);
        std::vector<uint8_t> scratch(size_t(k.scratch_bytes(s)));
        // The blocks offered for prefetching ahead are the step's own (prefetching reads nothing it returns).
        k.step_scores(s, q, b.views.data(), count, b.views.data(), count, 0.3f, scores.data(), ld);
        k.step_values(s, b.views.data(), count, pw.data(), ws.data(), o.data(), s.dc, scratch.data(), b.views.data(), count);
        for (int64_t h = 0; h < s.heads; ++h) {
          for (int64_t row = 0; row < count * kQ8BlockRows; ++row) {
            ASSERT_EQ(scores[size_t(h * ld + row)], want_scores[size_t(h * ld + row)])
                << quant::isa_name(isa) << " H " << s.heads << " dc " << s.dc << " blocks " << count << " head " << h << " row " << row;
          }
        }
        ASSERT_EQ(o, want_o) << quant::isa_name(isa) << " H " << s.heads << " dc " << s.dc << " blocks " << count;
      }
    }
  }
}

// The weights of a step: w = p · latent scale, rounded to steps of max(w) / 255; zero past n.
TEST(LatentQ8, WeightsRoundedToStepsOfTheirLargest) {
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int64_t n : {1, 17, 50, 64}) {
    std::vector<float> p(kQ8StepRows), ls(kQ8StepRows);
    for (float& x : p) x = u(rng);
    for (float& x : ls) x = 0.01f + u(rng);
    for (int64_t i = n; i < kQ8StepRows; ++i) ls[size_t(i)] = NAN;  // rows not yet written: never read
    std::vector<uint8_t> pw(kQ8StepRows);
    float ws = 0;
    quantize_weights_q8(p.data(), ls.data(), n, pw.data(), &ws);
    double top = 0;
    for (int64_t i = 0; i < n; ++i) top = std::max(top, double(p[size_t(i)]) * ls[size_t(i)]);
    EXPECT_NEAR(ws, top / 255, 1e-6 * top);
    for (int64_t i = 0; i < kQ8StepRows; ++i) {
      if (i >= n) {
        EXPECT_EQ(pw[size_t(i)], 0) << i;
        continue;
      }
      EXPECT_LE(std::abs(double(pw[size_t(i)]) - double(p[size_t(i)]) * ls[size_t(i)] / (top / 255)), 0.5 + 1e-3) << i;
    }
  }
}

}  // namespace
}  // namespace r1
