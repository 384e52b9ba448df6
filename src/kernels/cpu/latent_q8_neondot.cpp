// The Q8 attention kernels on NEON with the dot-product extension (latent_q8.h). sdot multiplies signed
// bytes by signed bytes: the scores need no offset (unlike vpdpbusd); the value pass's unsigned weights go
// in as pw - 128 (their top bit flipped) and 128 · Σ_i c_i[j], summed once per step for all heads, comes
// back on. Rows in the lanes for the scores, dimensions in the lanes for the values, as on x86.
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/latent_q8.h"
#include "kernels/cpu/latent_q8_recipe.h"

namespace r1 {

namespace {

constexpr int64_t kRows = kQ8BlockRows;
constexpr int kTile = 4;  // heads at a time: 4 heads × 4 row quads are 16 of the 32 vector registers

inline Ints16 to_ints(const int32x4_t (&quads)[4]) {
  Ints16 x;
  for (int r = 0; r < 4; ++r) vst1q_s32(&x[4 * r], quads[r]);
  return x;
}

// Four bytes from p in every 32-bit lane.
inline int8x16_t broadcast_word(const int8_t* p) {
  int32_t w;
  std::memcpy(&w, p, 4);
  return vreinterpretq_s8_s32(vdupq_n_s32(w));
}

// One block, heads [h0, h0 + kTile) (the last repeated past the end): the rope part's sums first, set
// aside, then the latent part's.
void scores_block(const LatentQ8Shape& s, const QueryQ8& q, const LatentBlockQ8& b, int64_t h0, float scale,
                  float* scores, int64_t ld) {
  const int64_t lg = s.latent_groups(), G = s.groups();
  const int8_t* qh[kTile];
  for (int k = 0; k < kTile; ++k) qh[k] = q.q + std::min<int64_t>(h0 + k, s.heads - 1) * 4 * G;
  int32x4_t acc[kTile][4];
  const auto sums = [&](int64_t g0, int64_t g1) __attribute__((always_inline)) {
    for (auto& head : acc) {
      for (int32x4_t& x : head) x = vdupq_n_s32(0);
    }
    for (int64_t g = g0; g < g1; ++g) {
      int8x16_t c[4];  // rows 4r .. 4r+3, four dims each
      for (int r = 0; r < 4; ++r) c[r] = vld1q_s8(b.q + g * 64 + 16 * r);
      for (int k = 0; k < kTile; ++k) {
        const int8x16_t qw = broadcast_word(qh[k] + 4 * g);
        for (int r = 0; r < 4; ++r) acc[k][r] = vdotq_s32(acc[k][r], c[r], qw);
      }
    }
  };
  Ints16 rope[kTile];
  sums(lg, G);
  for (int k = 0; k < kTile; ++k) rope[k] = to_ints(acc[k]);
  sums(0, lg);
  for (int k = 0; k < kTile && h0 + k < s.heads; ++k) {
    finish_scores(q, b, h0 + k, scale, to_ints(acc[k]), rope[k], scores + (h0 + k) * ld);
  }
}

void step_scores(const LatentQ8Shape& s, const QueryQ8& q, const LatentBlockQ8* blocks, int64_t count,
                 const LatentBlockQ8*, int64_t, float scale, float* scores, int64_t ld) {
  for (int64_t n = 0; n < count; ++n) {
    for (int64_t h0 = 0; h0 < s.heads; h0 += kTile) scores_block(s, q, blocks[n], h0, scale, scores + n * kRows, ld);
  }
}

// Groups of four dims per tile of the value pass; the transposed groups are padded with zeros to a
// whole number of them.
constexpr int64_t kValueGroups = 4;
inline int64_t padded_groups(const LatentQ8Shape& s) {
  return (s.latent_groups() + kValueGroups - 1) / kValueGroups * kValueGroups;
}
// Row quads of a step: four per block.
constexpr int64_t kQuads = 4 * kQ8StepBlocks;

// Scratch: the latent groups as [row quad][group][4 dims × 4 rows] bytes, then Σ over the step's rows per
// dim (int32).
int64_t scratch_bytes(const LatentQ8Shape& s) { return kQuads * padded_groups(s) * 16 + padded_groups(s) * 16; }

void step_values(const LatentQ8Shape& s, const LatentBlockQ8* blocks, int64_t count, const uint8_t* pw, const float* ws,
                 float* o, int64_t ld, uint8_t* scratch, const LatentBlockQ8*, int64_t) {
  const int64_t lg = s.latent_groups(), pg = padded_groups(s), quads = 4 * count;
  int8_t* t = reinterpret_cast<int8_t*>(scratch);
  int32_t* column = reinterpret_cast<int32_t*>(scratch + kQuads * pg * 16);
  // Four rows × four dims (row-major) to four dims × four rows.
  const uint8x16_t dims_rows = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
  const int8x16_t ones = vdupq_n_s8(1);
  for (int64_t g = 0; g < pg; ++g) {
    int32x4_t sum = vdupq_n_s32(0);
    for (int64_t k = 0; k < quads; ++k) {
      int8x16_t x = vdupq_n_s8(0);
      if (g < lg) x = vqtbl1q_s8(vld1q_s8(blocks[k / 4].q + g * 64 + 16 * (k % 4)), dims_rows);
      vst1q_s8(t + (k * pg + g) * 16, x);
      sum = vdotq_s32(sum, x, ones);
    }
    vst1q_s32(column + 4 * g, vmulq_n_s32(sum, 128));
  }
  const uint8x16_t flip = vdupq_n_u8(0x80);
  for (int64_t g0 = 0; g0 < pg; g0 += kValueGroups) {
    for (int64_t h0 = 0; h0 < s.heads; h0 += kTile) {
      const uint8_t* ph[kTile];
      tile_weights(pw, h0, s.heads, ph);
      int32x4_t acc[kTile][kValueGroups];
      for (auto& head : acc) {
        for (int32x4_t& x : head) x = vdupq_n_s32(0);
      }
      for (int64_t k = 0; k < quads; ++k) {
        int8x16_t x[kValueGroups];
        for (int m = 0; m < kValueGroups; ++m) x[m] = vld1q_s8(t + (k * pg + g0 + m) * 16);
        for (int e = 0; e < kTile; ++e) {
          uint32_t word;
          std::memcpy(&word, ph[e] + 4 * k, 4);
          const int8x16_t w = vreinterpretq_s8_u8(veorq_u8(vreinterpretq_u8_u32(vdupq_n_u32(word)), flip));  // pw - 128
          for (int m = 0; m < kValueGroups; ++m) acc[e][m] = vdotq_s32(acc[e][m], x[m], w);
        }
      }
      for (int e = 0; e < kTile && h0 + e < s.heads; ++e) {
        for (int m = 0; m < kValueGroups && 4 * (g0 + m) < s.dc; ++m) {
          const int64_t j = 4 * (g0 + m);
          // Σ pw·c = Σ (pw - 128)·c + 128·Σ c, exactly; then the recipe's fma per dim.
          const float32x4_t sum = vcvtq_f32_s32(vaddq_s32(acc[e][m], vld1q_s32(column + j)));
          float* dst = o + (h0 + e) * ld + j;
          if (j + 4 <= s.dc) {
            vst1q_f32(dst, vfmaq_n_f32(vld1q_f32(dst), sum, ws[h0 + e]));
          } else {
            float lanes[4];
            vst1q_f32(lanes, sum);
            for (int64_t i = 0; j + i < s.dc; ++i) dst[i] = std::fma(lanes[i], ws[h0 + e], dst[i]);
          }
        }
      }
    }
  }
}

}  // namespace

LatentQ8Kernels latent_q8_kernels_neondot() { return {step_scores, step_values, scratch_bytes}; }

}  // namespace r1
