// GGML's block-quantized layouts (the tensor data of GGUF files), byte for byte, with the math each
// block stands for. A row of n values is n / kElems consecutive blocks; no padding anywhere.
//
// Scales marked "fp16" are IEEE half floats (r1::f16_to_f32). All multi-byte fields are little-endian
// (the only byte order GGUF files r1 reads use).
//
// The helpers are `static inline` on purpose: the SIMD translation units (quant_dot_avx*.cpp) are
// compiled for other instruction sets, and internal linkage keeps each unit's copy to itself.
#pragma once

#include <cstdint>
#include <cstring>

namespace r1::quant {

constexpr int kQ = 32;    // values per block of the 32-value types (Q4_0 ... Q8_0, IQ4_NL)
constexpr int kQK = 256;  // values per super-block of the K-quants and IQ4_XS

// ---- 32-value blocks ----------------------------------------------------------------------------
// In the 4- and 5-bit types, byte j of qs holds value j in its low nibble and value j + 16 in its
// high nibble.

// x = d · (q − 8), q ∈ [0, 15]
struct BlockQ4_0 {
  static constexpr int kElems = kQ;
  uint16_t d;  // fp16
  uint8_t qs[16];
};
// x = d · q + m, q ∈ [0, 15]
struct BlockQ4_1 {
  static constexpr int kElems = kQ;
  uint16_t d, m;  // fp16
  uint8_t qs[16];
};
// x = d · (q − 16), q ∈ [0, 31]: the nibble plus bit j of qh (as a little-endian uint32) as bit 4
struct BlockQ5_0 {
  static constexpr int kElems = kQ;
  uint16_t d;  // fp16
  uint8_t qh[4];
  uint8_t qs[16];
};
// x = d · q + m, q ∈ [0, 31], high bits as in Q5_0
struct BlockQ5_1 {
  static constexpr int kElems = kQ;
  uint16_t d, m;  // fp16
  uint8_t qh[4];
  uint8_t qs[16];
};
// x = d · q, q ∈ [−128, 127]
struct BlockQ8_0 {
  static constexpr int kElems = kQ;
  uint16_t d;  // fp16
  int8_t qs[32];
};
// x = d · kIQ4NL[q], q ∈ [0, 15]: a 4-bit non-linear grid, denser near zero
struct BlockIQ4_NL {
  static constexpr int kElems = kQ;
  uint16_t d;  // fp16
  uint8_t qs[16];
};

// ---- 256-value super-blocks -----------------------------------------------------------------------
// Value e of a Q2_K/Q3_K super-block: h = e / 128, g = (e % 128) / 32, l = e % 32;
// its 2 low bits are bits 2g..2g+1 of qs[32h + l].

// 16 sub-blocks of 16: x = d · sc_j · q − dmin · m_j, q ∈ [0, 3]; scales[j] = sc_j | m_j << 4
struct BlockQ2_K {
  static constexpr int kElems = kQK;
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d, dmin;  // fp16
};
// 16 sub-blocks of 16: x = d · (s_j − 32) · q, q ∈ [−4, 3] = (2 low bits) − (hmask bit clear ? 4 : 0),
// the high bit of value e being bit e / 32 of hmask[e % 32]; s_j 6-bit, packed (unpack_q3k_scales)
struct BlockQ3_K {
  static constexpr int kElems = kQK;
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;  // fp16
};
// 8 sub-blocks of 32: x = d · sc_j · q − dmin · m_j, q ∈ [0, 15]; sc_j, m_j 6-bit (unpack_k4_scales).
// Sub-blocks 2c and 2c+1 are the low and high nibbles of qs[32c .. 32c+32).
struct BlockQ4_K {
  static constexpr int kElems = kQK;
  uint16_t d, dmin;  // fp16
  uint8_t scales[12];
  uint8_t qs[128];
};
// As Q4_K with q ∈ [0, 31]: bit 4 of the value at position l of sub-block j is bit j of qh[l].
struct BlockQ5_K {
  static constexpr int kElems = kQK;
  uint16_t d, dmin;  // fp16
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
// 16 sub-blocks of 16: x = d · scales[j] · (q − 32), q ∈ [0, 63]. Value e: h = e / 128, g = (e % 128) / 32,
// l = e % 32; low 4 bits: nibble g / 2 of ql[64h + 32(g % 2) + l]; high 2 bits: bits 2g..2g+1 of qh[32h + l].
struct BlockQ6_K {
  static constexpr int kElems = kQK;
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;  // fp16
};
// Activations only: x = d · q, with bsums[j] = Σ q over values 16j .. 16j+15 (for the K-quant minimums).
struct BlockQ8_K {
  static constexpr int kElems = kQK;
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};
// 8 sub-blocks of 32: x = d · (s_j − 32) · kIQ4NL[q]; s_j 6-bit: low 4 bits in nibble j % 2 of
// scales_l[j / 2], high 2 bits at bits 2j..2j+1 of scales_h. Sub-block j's values are in
// qs[16j .. 16j+16) with the IQ4_NL nibble order (value i low, value i + 16 high).
struct BlockIQ4_XS {
  static constexpr int kElems = kQK;
  uint16_t d;  // fp16
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292 &&
              sizeof(BlockIQ4_XS) == 136);

// The IQ4_NL / IQ4_XS grid: 16 levels, roughly uniform in the quantiles of a bell-shaped weight
// distribution, hence asymmetric (−127 … 113).
inline constexpr int8_t kIQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// ---- packed scales ---------------------------------------------------------------------------------

// Q4_K / Q5_K: eight 6-bit scales and eight 6-bit minimums in 12 bytes. Bytes 0–3 hold scales 0–3
// and bytes 4–7 minimums 0–3 in their low 6 bits; bytes 8–11 hold the low nibbles of scale 4+i (low)
// and minimum 4+i (high), whose top 2 bits sit in the spare top bits of bytes i and 4+i.
// Word-parallel: four 6-bit fields per 32-bit word (little-endian bytes); k4_scale_words gives the
// scales and the minimums as two words of bytes (byte j: scale j, minimum j), in registers.
[[gnu::always_inline]] static inline void k4_scale_words(const uint8_t s[12], uint64_t& scale, uint64_t& min) {
  uint32_t w[3];
  std::memcpy(w, s, 12);
  const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, top2 = 0x03030303;
  scale = (w[0] & low6) | uint64_t((w[2] & low4) | ((w[0] >> 6) & top2) << 4) << 32;         // 0-3 | 4-7
  min = (w[1] & low6) | uint64_t(((w[2] >> 4) & low4) | ((w[1] >> 6) & top2) << 4) << 32;
}
[[gnu::always_inline]] static inline void unpack_k4_scales(const uint8_t s[12], uint8_t scale[8], uint8_t min[8]) {
  uint64_t sc, mn;
  k4_scale_words(s, sc, mn);
  std::memcpy(scale, &sc, 8);
  std::memcpy(min, &mn, 8);
}
static inline void pack_k4_scales(const uint8_t scale[8], const uint8_t min[8], uint8_t s[12]) {
  for (int j = 0; j < 4; ++j) {
    s[j] = uint8_t((scale[j] & 63) | (scale[j + 4] >> 4) << 6);
    s[j + 4] = uint8_t((min[j] & 63) | (min[j + 4] >> 4) << 6);
    s[j + 8] = uint8_t((scale[j + 4] & 15) | (min[j + 4] & 15) << 4);
  }
}

// Q3_K: sixteen 6-bit scales stored as s + 32. Low 4 bits of scale j: low nibble of byte j (j < 8) or
// high nibble of byte j − 8; high 2 bits: bits 2(j/4)..2(j/4)+1 of byte 8 + j % 4.
// Word-parallel, four scales per 32-bit word; u − 32 for u ∈ [0, 63] as an int8 is u ^ 0x20 with bits 6
// and 7 also set when bit 5 of u was clear (the result is negative), which never carries across bytes.
static inline void unpack_q3k_scales(const uint8_t s[12], int8_t scale[16]) {
  uint32_t w[3];
  std::memcpy(w, s, 12);
  const uint32_t low4 = 0x0f0f0f0f, top2 = 0x03030303, bit5 = 0x20202020;
  uint32_t u[4] = {(w[0] & low4) | (w[2] & top2) << 4, (w[1] & low4) | ((w[2] >> 2) & top2) << 4,
                   ((w[0] >> 4) & low4) | ((w[2] >> 4) & top2) << 4, ((w[1] >> 4) & low4) | ((w[2] >> 6) & top2) << 4};
  for (uint32_t& x : u) {
    x ^= bit5;
    x |= (x & bit5) << 1 | (x & bit5) << 2;
  }
  std::memcpy(scale, u, 16);
}
static inline void pack_q3k_scales(const int8_t scale[16], uint8_t s[12]) {
  for (int i = 0; i < 12; ++i) s[i] = 0;
  for (int j = 0; j < 16; ++j) {
    const int u = scale[j] + 32;  // 0..63
    s[j % 8] |= uint8_t((u & 15) << (j < 8 ? 0 : 4));
    s[8 + j % 4] |= uint8_t((u >> 4) << (2 * (j / 4)));
  }
}

// IQ4_XS: eight 6-bit scales stored as s + 32.
static inline int iq4xs_scale(const BlockIQ4_XS& b, int j) {
  const int low = (b.scales_l[j / 2] >> (4 * (j % 2))) & 15;
  const int high = (b.scales_h >> (2 * j)) & 3;
  return (low | high << 4) - 32;
}

}  // namespace r1::quant

#include "kernels/cpu/quant_blocks_iq.h"  // the codebook types below 4 bits
