// LatentAttention (MLA score and value passes, online softmax over fixed chunks) against a plain
// double-precision softmax attention, over contexts that span many chunks; and the property the
// engine relies on: the same result, bit for bit, for any thread count and for prefill vs decode.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "model/latent_attention.h"

namespace r1 {
namespace {

// Shapes: heads that do not fill a register tile, latent widths with and without whole 64-column value
// tiles, 16-float vectors and a scalar tail of columns, rope widths below and above one vector.
struct Shape {
  int64_t H, dc, dr;
};
constexpr Shape kShapes[] = {{3, 40, 8}, {6, 136, 24}};

// Contexts: 700 rows are three chunks of the least size; past 8 of those (2,048 rows) the chunks grow
// with the context (latent_attention.cpp's chunk_rows): 4,700 rows are 7 chunks of 768.
struct Case {
  Shape shape;
  int64_t ctx;
};
constexpr Case kCases[] = {{kShapes[0], 700}, {kShapes[1], 700}, {kShapes[0], 4700}};

struct Fixture {
  int64_t H, dc, dr, ctx;
  ModelConfig cfg;
  KvCache cache;
  std::vector<float> q_latent, q_rope;  // [ctx, H, dc], [ctx, H, dr]
  Fixture(uint64_t seed, Case c, KvType type)
      : H(c.shape.H), dc(c.shape.dc), dr(c.shape.dr), ctx(c.ctx), cfg(make_cfg()), cache(cfg, ctx, type) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> n(0.0f, 1.0f);
    std::vector<float> row(size_t(dc + dr));
    for (int64_t p = 0; p < ctx; ++p) {
      for (float& v : row) v = n(rng);
      cache.store(0, p, 0, row.data(), dc + dr);
    }
    q_latent.resize(size_t(ctx * H * dc));
    q_rope.resize(size_t(ctx * H * dr));
    for (auto& v : q_latent) v = n(rng);
    for (auto& v : q_rope) v = n(rng);
    q_latent_used = as_multiplied(q_latent, dc);
    q_rope_used = as_multiplied(q_rope, dr);
  }
  // Queries as the kernel multiplies them: rounded to BF16 over a BF16 cache; over a Q8 cache each head's
  // part to int8 with the scale max|x| / 127, as a row of the cache is.
  std::vector<double> as_multiplied(const std::vector<float>& q, int64_t dims) const {
    std::vector<double> out(q.size());
    for (size_t v0 = 0; v0 < q.size(); v0 += size_t(dims)) {
      float amax = 0;
      for (int64_t i = 0; i < dims; ++i) amax = std::max(amax, std::abs(q[v0 + size_t(i)]));
      for (int64_t i = 0; i < dims; ++i) {
        const float x = q[v0 + size_t(i)];
        if (cache.type() == KvType::F32) out[v0 + size_t(i)] = x;
        if (cache.type() == KvType::BF16) out[v0 + size_t(i)] = bf16_to_f32(f32_to_bf16(x));
        if (cache.type() == KvType::Q8) {
          out[v0 + size_t(i)] = amax == 0 ? 0.0 : double(std::nearbyint(x * (127.0f / amax)) * (amax / 127.0f));
        }
      }
    }
    return out;
  }
  std::vector<double> q_latent_used, q_rope_used;
  ModelConfig make_cfg() const {
    ModelConfig c;
    c.is_mla = true;
    c.kv_lora_rank = dc;
    c.qk_rope_head_dim = dr;
    c.num_layers = 1;
    return c;
  }
  // Plain attention of the query at position `pos` over [0, pos], in double. Also, per output, the
  // first-order bound of what rounding the attention weights w_k can change. BF16 (relative error 2^-8
  // at most, counting the float exp before): 2^-8 · Σ_k w_k |row_k[j] - out[j]|. Q8 (w_k times row k's
  // latent scale s_k, rounded per kQ8StepRows rows to steps of 1/255 of their largest; the sum of the
  // weights taken before rounding): Σ_k |row_k[j]| · max_{i in k's step} (w_i s_i) / (510 s_k).
  std::vector<double> expected(int64_t pos, float scale, std::vector<double>& weight_rounding) const {
    std::vector<double> out(size_t(H * dc), 0.0);
    weight_rounding.assign(out.size(), 0.0);
    for (int64_t h = 0; h < H; ++h) {
      const double* ql = q_latent_used.data() + (pos * H + h) * dc;
      const double* qr = q_rope_used.data() + (pos * H + h) * dr;
      std::vector<double> s(size_t(pos + 1));
      double mx = -1e300;
      for (int64_t k = 0; k <= pos; ++k) {
        double d = 0;
        for (int64_t i = 0; i < dc; ++i) d += ql[i] * cache.value(0, k, i);
        for (int64_t i = 0; i < dr; ++i) d += qr[i] * cache.value(0, k, dc + i);
        s[size_t(k)] = scale * d;
        mx = std::max(mx, s[size_t(k)]);
      }
      double sum = 0;
      for (auto& v : s) sum += (v = std::exp(v - mx));
      for (int64_t k = 0; k <= pos; ++k) {
        for (int64_t j = 0; j < dc; ++j) out[size_t(h * dc + j)] += s[size_t(k)] / sum * cache.value(0, k, j);
      }
      if (cache.type() == KvType::BF16) {
        for (int64_t k = 0; k <= pos; ++k) {
          for (int64_t j = 0; j < dc; ++j) {
            const size_t o = size_t(h * dc + j);
            weight_rounding[o] += std::ldexp(s[size_t(k)] / sum * std::abs(cache.value(0, k, j) - out[o]), -8);
          }
        }
      }
      if (cache.type() == KvType::Q8) {
        std::vector<double> row_scale(size_t(pos + 1));  // max |value| = 127 · scale
        for (int64_t k = 0; k <= pos; ++k) {
          for (int64_t j = 0; j < dc; ++j) row_scale[size_t(k)] = std::max(row_scale[size_t(k)], std::abs(double(cache.value(0, k, j))) / 127);
        }
        for (int64_t k = 0; k <= pos; ++k) {
          if (row_scale[size_t(k)] == 0) continue;
          double block_max = 0;
          const int64_t step = k / kQ8StepRows * kQ8StepRows;  // the rows whose weights share k's scale
          for (int64_t i = step; i < std::min(pos + 1, step + kQ8StepRows); ++i) {
            block_max = std::max(block_max, s[size_t(i)] / sum * row_scale[size_t(i)]);
          }
          for (int64_t j = 0; j < dc; ++j) {
            weight_rounding[size_t(h * dc + j)] += std::abs(double(cache.value(0, k, j))) * block_max / (510 * row_scale[size_t(k)]);
          }
        }
      }
    }
    return out;
  }
};

// Token-major views ([T][H][width]) of the fixture's queries from position pos on, and of an output.
HeadVectors<const float> latent_from(const Fixture& s, int64_t pos) {
  return {s.q_latent.data() + pos * s.H * s.dc, s.H * s.dc, s.dc};
}
HeadVectors<const float> rope_from(const Fixture& s, int64_t pos) { return {s.q_rope.data() + pos * s.H * s.dr, s.H * s.dr, s.dr}; }
HeadVectors<float> token_major(const Fixture& s, float* out) { return {out, s.H * s.dc, s.dc}; }

// Over F32, BF16 and Q8 caches. Over BF16 and Q8 the reference takes the cache values as stored and the
// queries as the kernel multiplies them (rounded, quantized); the kernel also rounds the attention
// weights (exp(score - running maximum), before they are normalized), which the reference cannot mirror
// exactly, so their effect is allowed to its bound.
class LatentAttentionTest : public testing::TestWithParam<KvType> {};
INSTANTIATE_TEST_SUITE_P(CacheTypes, LatentAttentionTest, testing::Values(KvType::F32, KvType::BF16, KvType::Q8),
                         [](const auto& info) { return std::string(kv_type_name(info.param)); });

TEST_P(LatentAttentionTest, MatchesPlainSoftmaxAttentionAcrossChunks) {
  for (const Case c : kCases) {
    Fixture s(7, c, GetParam());
    const float scale = 0.15f * std::sqrt(40.0f / float(s.dc + s.dr));
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      LatentAttention attn(s.H, s.dc, s.dr, threads);
      for (int64_t pos : {0L, 1L, 255L, 256L, 257L, 511L, 699L, 2047L, 2048L, 4095L, 4699L}) {
        if (pos >= s.ctx) continue;
        std::vector<float> out(size_t(s.H * s.dc));
        attn.run(latent_from(s, pos), rope_from(s, pos), 1, pos, s.cache, 0, scale, token_major(s, out.data()), pool);
        std::vector<double> weight_rounding;
        const std::vector<double> want = s.expected(pos, scale, weight_rounding);
        for (size_t i = 0; i < out.size(); ++i) {
          ASSERT_NEAR(out[i], want[i], 2e-5 * (1.0 + std::abs(want[i])) + weight_rounding[i])
              << "H " << s.H << " dc " << s.dc << " threads " << threads << " pos " << pos << " i " << i;
        }
      }
    }
  }
}

// The prefill reads its latent queries and writes its outputs head-major ([H][T][d_c], as the model
// does), the decode token-major: the strides change nothing.
TEST_P(LatentAttentionTest, SameBitsForAnyThreadCountAndForPrefillVsDecode) {
  for (const Case c : kCases) {
    Fixture s(11, c, GetParam());
    const float scale = 0.3f;
    const int64_t T = 40, pos0 = s.ctx - T;  // the last 40 queries, each over 660+ keys (3 chunks or more)
    std::vector<float> q_head_major(size_t(T * s.H * s.dc));
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t h = 0; h < s.H; ++h) {
        std::copy_n(latent_from(s, pos0).at(t, h), s.dc, q_head_major.data() + (h * T + t) * s.dc);
      }
    }
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      LatentAttention attn(s.H, s.dc, s.dr, threads);
      std::vector<float> out_head_major(size_t(T * s.H * s.dc)), prefill(out_head_major.size()), decode(prefill.size());
      attn.run({q_head_major.data(), s.dc, T * s.dc}, rope_from(s, pos0), T, pos0, s.cache, 0, scale,
               {out_head_major.data(), s.dc, T * s.dc}, pool);
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t h = 0; h < s.H; ++h) {
          std::copy_n(out_head_major.data() + (h * T + t) * s.dc, s.dc, prefill.data() + (t * s.H + h) * s.dc);
        }
        attn.run(latent_from(s, pos0 + t), rope_from(s, pos0 + t), 1, pos0 + t, s.cache, 0, scale,
                 token_major(s, decode.data() + t * s.H * s.dc), pool);
      }
      ASSERT_EQ(prefill, decode) << "threads " << threads;
      results.push_back(prefill);
    }
    EXPECT_EQ(results[0], results[1]);
    EXPECT_EQ(results[0], results[2]);
  }
}

// The Q8 passes on every instruction set this CPU runs (kernels/cpu/latent_q8.h): the same bits as the
// scalar kernels, prefill and decode, shapes with partial groups of four and partial vector runs.
TEST(LatentAttentionQ8, EveryInstructionSetGivesTheScalarKernelsBits) {
  for (const Case c : kCases) {
    Fixture s(5, c, KvType::Q8);
    ThreadPool pool(2);
    const int64_t T = 20, pos0 = s.ctx - T;
    std::vector<float> scalar;
    for (quant::Isa isa : quant::kAllIsas) {
      if (!quant::isa_supported(isa)) continue;
      LatentAttention attn(s.H, s.dc, s.dr, 2);
      attn.use_q8_kernels(isa);
      std::vector<float> out(size_t((T + 1) * s.H * s.dc));
      attn.run(latent_from(s, pos0), rope_from(s, pos0), T, pos0, s.cache, 0, 0.2f, token_major(s, out.data()), pool);
      attn.run(latent_from(s, 37), rope_from(s, 37), 1, 37, s.cache, 0, 0.2f, token_major(s, out.data() + T * s.H * s.dc), pool);
      if (isa == quant::Isa::Scalar) scalar = out;
      EXPECT_EQ(out, scalar) << quant::isa_name(isa) << " H " << s.H << " dc " << s.dc;
    }
  }
}

}  // namespace
}  // namespace r1
