#include "model/kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/cpu/quant_fit.h"

namespace r1 {

int64_t kv_layer_block_bytes(const ModelConfig& cfg, KvType type) {
  if (type != KvType::Q8) return kKvBlockTokens * cfg.kv_elements_per_token_layer() * int64_t(kv_type_size(type));
  if (!cfg.is_mla) fail("--cache-type q8 is for MLA models (DeepSeek V2 / V3); this model uses grouped-query attention: use f32 or bf16");
  const int64_t groups = q8_groups(cfg.kv_lora_rank) + q8_groups(cfg.qk_rope_head_dim);
  return kKvBlockTokens * (4 * groups + 2 * int64_t(sizeof(float)));
}

void KvCache::store_q8(int64_t layer, int64_t pos, int64_t offset, const float* values, int64_t n) {
  const int64_t p = pos & (kKvBlockTokens - 1);
  std::byte* base = blocks_[size_t(pos >> kKvBlockShift)] + layer * layer_bytes_;
  auto* scales = reinterpret_cast<float*>(base + (q8_latent_groups_ + q8_rope_groups_) * 4 * kKvBlockTokens);
  // One part of the row: dims values, into groups [g0, g0 + ⌈dims / 4⌉), its scale at `scale`.
  const auto part = [&](const float* x, int64_t dims, int64_t g0, float* scale) {
    int8_t q[4 * 256];
    if (dims > int64_t(sizeof q)) fail("q8 cache: rows of {} values, at most {}", dims, sizeof q);
    std::memset(q, 0, sizeof q);
    *scale = quant::quantize_absmax127(x, int(dims), q);
    for (int64_t g = 0; g < q8_groups(dims); ++g) {
      std::memcpy(base + q8_byte(g0 + g, p, 0), q + 4 * g, 4);
    }
  };
  const int64_t dr = row_ - latent_dim_;
  if (offset == 0 && n >= latent_dim_) {
    part(values, latent_dim_, 0, scales + p);
    values += latent_dim_;
    offset = latent_dim_, n -= latent_dim_;
  }
  if (offset == latent_dim_ && n == dr) {
    part(values, dr, q8_latent_groups_, scales + kKvBlockTokens + p);
    return;
  }
  if (n != 0) fail("q8 cache: a store must cover whole parts of the row (latent [0, {}), rope [{}, {}))", latent_dim_, latent_dim_, row_);
}

float KvCache::value_q8(int64_t layer, int64_t pos, int64_t i) const {
  const LatentBlockQ8 b = latent_q8_block(layer, pos >> kKvBlockShift);
  const int64_t p = pos & (kKvBlockTokens - 1);
  const bool latent = i < latent_dim_;
  const int64_t d = latent ? i : i - latent_dim_, g = (latent ? 0 : q8_latent_groups_) + d / 4;
  const float scale = (latent ? b.latent_scale : b.rope_scale)[p];
  return scale * float(b.q[q8_byte(g, p, int(d % 4))]);
}

void KvCache::read_row(int64_t layer, int64_t pos, float* out) const {
  if (type_ == KvType::F32) {
    const float* r = row<float>(layer, pos);
    std::copy(r, r + row_, out);
  } else if (type_ == KvType::BF16) {
    const uint16_t* r = row<uint16_t>(layer, pos);
    for (int64_t i = 0; i < row_; ++i) out[i] = bf16_to_f32(r[i]);
  } else {
    for (int64_t i = 0; i < row_; ++i) out[i] = value_q8(layer, pos, i);
  }
}

}  // namespace r1
