// KvCache's layout contract, which the attention kernels read directly: a GQA block keeps each KV
// head's keys by columns (F32 [d][16], BF16 [d/2][16][2]) and its values by rows; MLA rows by rows, or
// in a Q8 cache by columns in groups of four with a scale per row part; what store() writes, value() and
// those views read back (rounded to BF16 in a BF16 cache, quantized in a Q8 one).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "model/kv_cache.h"

namespace r1 {
namespace {

TEST(KvCache, StoredRowsReadBackThroughTheKernelsViews) {
  for (const KvType type : {KvType::F32, KvType::BF16}) {
    ModelConfig cfg;
    cfg.num_layers = 3;
    cfg.num_kv_heads = 2;
    cfg.head_dim = 6;
    const int64_t KV = 2, hd = 6, row = 2 * KV * hd, n = 40;
    KvCache cache(cfg, n, type);
    std::mt19937 rng(3);
    std::normal_distribution<float> g;
    std::vector<float> rows(size_t(cfg.num_layers * n * row));
    for (float& v : rows) v = g(rng);
    for (int64_t l = 0; l < cfg.num_layers; ++l) {
      for (int64_t p = 0; p < n; ++p) cache.store(l, p, 0, &rows[size_t((l * n + p) * row)], row);
    }
    const auto stored = [&](float v) { return type == KvType::F32 ? v : bf16_to_f32(f32_to_bf16(v)); };
    const auto as_float = [&](const void* base, int64_t i) {
      return type == KvType::F32 ? static_cast<const float*>(base)[i] : bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
    };
    for (int64_t l = 0; l < cfg.num_layers; ++l) {
      for (int64_t p = 0; p < n; ++p) {
        const float* want = &rows[size_t((l * n + p) * row)];
        for (int64_t i = 0; i < row; ++i) ASSERT_EQ(cache.value(l, p, i), stored(want[i])) << l << " " << p << " " << i;
        const int64_t b = p / 16, j = p % 16;
        for (int64_t h = 0; h < KV; ++h) {
          const void* keys = type == KvType::F32 ? static_cast<const void*>(cache.block_segment<float>(l, b, h))
                                                 : static_cast<const void*>(cache.block_segment<uint16_t>(l, b, h));
          const void* values = type == KvType::F32 ? static_cast<const void*>(cache.row<float>(l, p, KV + h))
                                                   : static_cast<const void*>(cache.row<uint16_t>(l, p, KV + h));
          for (int64_t d = 0; d < hd; ++d) {
            const int64_t at = type == KvType::F32 ? d * 16 + j : (d / 2) * 32 + j * 2 + d % 2;
            ASSERT_EQ(as_float(keys, at), stored(want[h * hd + d])) << "key " << l << " " << p << " " << h << " " << d;
            ASSERT_EQ(as_float(values, d), stored(want[(KV + h) * hd + d])) << "value " << l << " " << p << " " << h << " " << d;
          }
        }
      }
    }
  }
}

TEST(KvCache, MlaRowsAreContiguous) {
  ModelConfig cfg;
  cfg.is_mla = true;
  cfg.num_layers = 2;
  cfg.kv_lora_rank = 8;
  cfg.qk_rope_head_dim = 4;
  KvCache cache(cfg, 20, KvType::BF16);
  std::vector<float> row(12);
  for (int64_t i = 0; i < 12; ++i) row[size_t(i)] = float(i) - 5.5f;
  cache.store(1, 17, 0, row.data(), 12);
  const uint16_t* r = cache.row<uint16_t>(1, 17);
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(bf16_to_f32(r[i]), row[size_t(i)]);
}

// Q8: each row's latent and rope parts quantized on their own (int8, scale = max|x| / 127), read back
// through latent_q8_block as the kernels read it, parts ragged against groups of four (10 + 6 dims).
TEST(KvCache, Q8RowsQuantizedPerPartAndReadThroughTheBlockView) {
  ModelConfig cfg;
  cfg.is_mla = true;
  cfg.num_layers = 2;
  cfg.kv_lora_rank = 10;
  cfg.qk_rope_head_dim = 6;
  const int64_t dc = 10, dr = 6, n = 35;
  KvCache cache(cfg, n, KvType::Q8);
  EXPECT_EQ(kv_block_bytes(cfg, KvType::Q8), 2 * 16 * (4 * (3 + 2) + 8));
  std::mt19937 rng(5);
  std::normal_distribution<float> g;
  std::vector<float> rows(size_t(cfg.num_layers * n * (dc + dr)));
  for (float& v : rows) v = g(rng);
  for (int64_t i = 0; i < dr; ++i) rows[size_t(dc + i)] *= 100;  // parts of different sizes: separate scales
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    for (int64_t p = 0; p < n; ++p) cache.store(l, p, 0, &rows[size_t((l * n + p) * (dc + dr))], dc + dr);
  }
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    for (int64_t p = 0; p < n; ++p) {
      const float* x = &rows[size_t((l * n + p) * (dc + dr))];
      const LatentBlockQ8 b = cache.latent_q8_block(l, p / 16);
      for (const auto& [off, dims, groups0, scale] : {std::tuple{int64_t(0), dc, int64_t(0), b.latent_scale[p % 16]},
                                                      std::tuple{dc, dr, int64_t(3), b.rope_scale[p % 16]}}) {
        float amax = 0;
        for (int64_t i = 0; i < dims; ++i) amax = std::max(amax, std::abs(x[off + i]));
        ASSERT_FLOAT_EQ(scale, amax / 127);
        for (int64_t i = 0; i < 4 * ((dims + 3) / 4); ++i) {
          const int8_t q = b.q[((groups0 + i / 4) * 16 + p % 16) * 4 + i % 4];
          if (i >= dims) {
            ASSERT_EQ(q, 0) << "padding";
            continue;
          }
          ASSERT_EQ(q, int8_t(std::nearbyint(x[off + i] * (127 / amax)))) << l << " " << p << " " << off + i;
          ASSERT_EQ(cache.value(l, p, off + i), scale * float(q));
        }
      }
    }
  }
  // A store must cover whole parts; GQA has no Q8 cache.
  std::vector<float> part(4);
  EXPECT_THROW(cache.store(0, 0, 0, part.data(), 4), Error);
  ModelConfig gqa;
  gqa.num_layers = 1;
  gqa.num_kv_heads = 2;
  gqa.head_dim = 8;
  EXPECT_THROW(KvCache(gqa, 16, KvType::Q8), Error);
}

}  // namespace
}  // namespace r1
