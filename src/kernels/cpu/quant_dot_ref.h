// One "recipe" per weight type of the int8 path: the integer sums of one weight block against one
// activation block (written plainly, the reference), and how those sums become the block's float
// contribution. quant_dot_scalar.cpp runs the recipes as they are; the SIMD kernels compute the same
// integer sums with vector instructions and finish every block through the same `finish`, which is
// what makes all versions bit-identical (see quant_dot.h).
//
// Internal linkage throughout (unnamed namespace): this header is also compiled into the SIMD
// translation units, with other instruction sets enabled, and their copies must stay apart.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_dot.h"

namespace r1::quant {
namespace {

inline float half_to_float(uint16_t h) {
#if defined(__F16C__)
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
#elif defined(__aarch64__)
  __fp16 x;  // AArch64 converts half precision in hardware (exact, like the table)
  std::memcpy(&x, &h, sizeof x);
  return float(x);
#else
  return f16_table()[h];
#endif
}

// Integer sums of one block: `q` over the quantized values, `m` over the minimums (K-quants).
struct Sums {
  int32_t q = 0, m = 0;
};

// Four running sums; block b's contribution goes to p[b % 4] (its "lane") through one fused multiply-add.
struct Partials {
  float p[4] = {0, 0, 0, 0};
  void add(int lane, float scale, int32_t v) { p[lane] = std::fma(scale, float(v), p[lane]); }
  float total() const { return (p[0] + p[1]) + (p[2] + p[3]); }
};

// Σ v[i]·a[i] over n values.
template <class T>
int32_t idot(const T* v, const int8_t* a, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; ++i) s += int32_t(v[i]) * a[i];
  return s;
}

// A 32-value block's nibbles as values: value j < 16 is the low nibble of byte j, value j + 16 its high one.
inline void unpack_nibbles32(const uint8_t* qs16, uint8_t v[32]) {
  for (int j = 0; j < 16; ++j) {
    v[j] = qs16[j] & 15;
    v[j + 16] = qs16[j] >> 4;
  }
}

// ---- 32-value types: activations ActBlock32 ---------------------------------------------------------

// Q8_0: x = d·q.  Σ x·a = d·da · Σ q·qa
struct RecipeQ8_0 {
  using Block = BlockQ8_0;
  using Act = ActBlock32;
  static constexpr bool kSignedValues = true;
  static Sums sums(const Block& w, const Act& a) { return {idot(w.qs, a.qs, 32), 0}; }
  static void finish(Partials& acc, int lane, const Block& w, const Act& a, Sums s) {
    acc.add(lane, half_to_float(w.d) * a.d, s.q);
  }
};

// Q4_0 / Q5_0: x = d·(q − o), o = 2^(bits−1):  d·da · (Σ q·qa − o·Σ qa)
// Q4_1 / Q5_1: x = d·q + m:                     d·da · Σ q·qa, then m·da · Σ qa
template <int kBits, bool kHasMin, class BlockT>
struct RecipeLegacy {
  using Block = BlockT;
  using Act = ActBlock32;
  static constexpr bool kSignedValues = false;
  // The block's values q (before the offset or minimum): nibbles, plus bit j of qh as bit 4 of value j.
  static void unpack(const Block& w, uint8_t v[32]) {
    unpack_nibbles32(w.qs, v);
    if constexpr (kBits == 5) {
      uint32_t qh;
      std::memcpy(&qh, w.qh, 4);
      for (int j = 0; j < 32; ++j) v[j] |= uint8_t(((qh >> j) & 1) << 4);
    }
  }
  static Sums sums(const Block& w, const Act& a) {
    uint8_t v[32];
    unpack(w, v);
    return {idot(v, a.qs, 32), 0};
  }
  static void finish(Partials& acc, int lane, const Block& w, const Act& a, Sums s) {
    if constexpr (kHasMin) {
      acc.add(lane, half_to_float(w.d) * a.d, s.q);
      acc.add(lane, half_to_float(w.m) * a.d, a.sum);
    } else {
      acc.add(lane, half_to_float(w.d) * a.d, s.q - (1 << (kBits - 1)) * a.sum);
    }
  }
};
using RecipeQ4_0 = RecipeLegacy<4, false, BlockQ4_0>;
using RecipeQ4_1 = RecipeLegacy<4, true, BlockQ4_1>;
using RecipeQ5_0 = RecipeLegacy<5, false, BlockQ5_0>;
using RecipeQ5_1 = RecipeLegacy<5, true, BlockQ5_1>;

// Σ grid[q_j]·a_j over a 32-value IQ4 block's nibbles (a plain loop: a table lookup per value does not
// vectorize well, and compilers make it worse by trying).
inline int32_t iq4_dot32(const uint8_t* qs16, const int8_t* a) {
  int32_t s = 0;
  for (int j = 0; j < 16; ++j) s += kIQ4NL[qs16[j] & 15] * a[j] + kIQ4NL[qs16[j] >> 4] * a[j + 16];
  return s;
}

// IQ4_NL: x = d·grid[q]:  d·da · Σ grid[q]·qa
struct RecipeIQ4_NL {
  using Block = BlockIQ4_NL;
  using Act = ActBlock32;
  static constexpr bool kSignedValues = true;
  static Sums sums(const Block& w, const Act& a) { return {iq4_dot32(w.qs, a.qs), 0}; }
  static void finish(Partials& acc, int lane, const Block& w, const Act& a, Sums s) {
    acc.add(lane, half_to_float(w.d) * a.d, s.q);
  }
};

// ---- 256-value types: activations BlockQ8_K ----------------------------------------------------------

// A 256-value block's float contribution: R::scale(w, a)·q, then R::min_scale(w, a)·m for the types
// whose blocks have minimums (R::kMinSums). The SIMD kernels apply the same two factors to four blocks'
// lanes at once. R::kHalfTimesActScale marks the recipes with minimums whose factors are
// half_to_float(w.d)·a.d and −(half_to_float(w.dmin)·a.d): the SIMD kernels compute both for four blocks
// with one conversion each (for one factor per block, as Q6_K's, that measured slower than four scalar
// conversions: 8,960 × 1,536 Q6_K 424 -> 442 us on one thread, while Q4_K went 483 -> 461).
template <class R>
inline void finish256(Partials& acc, int lane, const typename R::Block& w, const BlockQ8_K& a, Sums s) {
  acc.add(lane, R::scale(w, a), s.q);
  if constexpr (R::kMinSums) acc.add(lane, R::min_scale(w, a), s.m);
}

// Q2_K / Q3_K: the 2 low bits of value e = 128h + 32g + l are bits 2g..2g+1 of qs[32h + l].
inline void unpack_low2(const uint8_t qs[64], uint8_t v[256]) {
  for (int h = 0; h < 2; ++h) {
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) v[128 * h + 32 * g + l] = (qs[32 * h + l] >> (2 * g)) & 3;
    }
  }
}

// Q2_K: x = d·sc_j·q − dmin·m_j over sub-blocks j of 16 (scales[j] = sc_j | m_j << 4):
//   d·da · Σ_j sc_j·Σ q·qa  −  dmin·da · Σ_j m_j·Σ_j qa
struct RecipeQ2_K {
  using Block = BlockQ2_K;
  using Act = BlockQ8_K;
  static Sums sums(const Block& w, const Act& a) {
    uint8_t v[256];
    unpack_low2(w.qs, v);
    Sums s;
    for (int j = 0; j < 16; ++j) {
      s.q += (w.scales[j] & 15) * idot(v + 16 * j, a.qs + 16 * j, 16);
      s.m += (w.scales[j] >> 4) * a.bsums[j];
    }
    return s;
  }
  static constexpr bool kMinSums = true;
  static constexpr bool kHalfTimesActScale = true;
  static float scale(const Block& w, const Act& a) { return half_to_float(w.d) * a.d; }
  static float min_scale(const Block& w, const Act& a) { return -(half_to_float(w.dmin) * a.d); }
  static void finish(Partials& acc, int lane, const Block& w, const Act& a, Sums s) { finish256<RecipeQ2_K>(acc, lane, w, a, s); }
};

// Q3_K: x = d·s_j·(u − 4) over sub-blocks j of 16, u = (2 low bits) + 4·(hmask bit) ∈ [0, 7]:
//   d·da · Σ_j s_j·(Σ u·qa − 4·Σ_j qa)
struct RecipeQ3_K {
  using Block = BlockQ3_K;
  using Act = BlockQ8_K;
  // u per value: the 2 low bits, plus bit e / 32 of hmask[e % 32] as bit 2.
  static void unpack(const Block& w, uint8_t v[256]) {
    unpack_low2(w.qs, v);
    for (int g = 0; g < 8; ++g) {  // 32 values per bit of hmask: this loop nest vectorizes
      for (int l = 0; l < 32; ++l) v[32 * g + l] |= uint8_t(((w.hmask[l] >> g) & 1) << 2);
    }
  }
  static Sums sums(const Block& w, const Act& a) {
    uint8_t v[256];
    unpack(w, v);
    int8_t sc[16];
    unpack_q3k_scales(w.scales, sc);
    Sums s;
    for (int j = 0; j < 16; ++j) s.q += sc[j] * (idot(v + 16 * j, a.qs + 16 * j, 16) - 4 * a.bsums[j]);
    return s;
  }
  static constexpr bool kMinSums = false;
  static float scale(const Block& w, const Act& a) { return half_to_float(w.d) * a.d; }
  static void finish(Partials& acc, int lane, const Block& w, const Act& a, Sums s) { finish256<RecipeQ3_K>(acc, lane, w, a, s); }
};

// Q4_K / Q5_K: x = d·sc_j·q − dmin·m_j over sub-blocks j of 32:
//   d·da · Σ_j sc_j·Σ q·qa  −  dmin·da · Σ_j m_j·Σ_j qa   (Σ_j qa from the Q8_K per-16 sums)
template <int kBits, class BlockT>
struct RecipeK45 {
  using Block = BlockT;
  using Act = BlockQ8_K;
  // Sub-blocks 2c and 2c+1 are the low and high nibbles of qs[32c .. 32c+32); Q5_K's bit 4 of value l
  // of sub-block j is bit j of qh[l].
  static void unpack(const Block& w, uint8_t v[256]) {
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        v[64 * c + l] = w.qs[32 * c + l] & 15;
        v[64 * c + 32 + l] = w.qs[32 * c + l] >> 4;
      }
    }
    if constexpr (kBits == 5) {
      for (int j = 0; j < 8; ++j) {
        for (int l = 0; l < 32; ++l) v[32 * j + l] |= uint8_t(((w.qh[l] >> j) & 1) << 4);
      }
    }
  }
  static int32_t min_sum(const uint8_t mn[8], const Act& a) {
    int32_t m = 0;
    for (int j = 0; j < 8; ++j) m += mn[j] * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
    return m;
  }
  static Sums sums(const Block& w, const Act& a) {
    uint8_t sc[8], mn[8], v[256];
    unpack_k4_scales(w.scales, sc, mn);
    unpack(w, v);
    Sums s;
    for (int j = 0; j < 8; ++j) s.q += sc[j] * idot(v + 32 * j, a.qs + 32 * j, 32);
    s.m = min_sum(mn, a);
    return s;
  }
  static constexpr bool kMinSums = true;
  static constexpr bool kHalfTimesActScale = true;
  static float scale(const Block& w, const Act& a) { return half_to_float(w.d) * a.d; }
  static float min_scale(const Block& w, const Act& a) { return -(half_to_float(w.dmin) * a.d); }
  static void finish(Partials& acc, int lane, const Block& w, const Act& a, Sums s) { finish256<RecipeK45>(acc, lane, w, a, s); }
};
using RecipeQ4_K = RecipeK45<4, BlockQ4_K>;
using RecipeQ5_K = RecipeK45<5, BlockQ5_K>;

// Q6_K: x = d·sc_j·(q − 32) over sub-blocks j of 16:  d·da · Σ_j sc_j·(Σ q·qa − 32·Σ_j qa)
struct RecipeQ6_K {
  using Block = BlockQ6_K;
  using Act = BlockQ8_K;
  // Per half h and l < 32: values l, l+32, l+64, l+96 take the low nibble of ql[64h+l], of ql[64h+32+l],
  // the high nibble of ql[64h+l], of ql[64h+32+l], and bits 0-1, 2-3, 4-5, 6-7 of qh[32h+l] as bits 4-5.
  static void unpack(const Block& w, uint8_t v[256]) {
    for (int h = 0; h < 2; ++h) {
      const uint8_t *ql = w.ql + 64 * h, *qh = w.qh + 32 * h;
      uint8_t* vh = v + 128 * h;
      for (int l = 0; l < 32; ++l) {
        vh[l] = uint8_t((ql[l] & 15) | (qh[l] & 3) << 4);
        vh[l + 32] = uint8_t((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4);
        vh[l + 64] = uint8_t((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4);
        vh[l + 96] = uint8_t((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4);
      }
    }
  }
  static int32_t offset_sum(const Block& w, const Act& a) {  // Σ_j sc_j·Σ_j qa
    int32_t m = 0;
    for (int j = 0; j < 16; ++j) m += w.scales[j] * a.bsums[j];
    return m;
  }
  static Sums sums(const Block& w, const Act& a) {
    uint8_t v[256];
    unpack(w, v);
    Sums s;
    for (int j = 0; j < 16; ++j) s.q += w.scales[j] * idot(v + 16 * j, a.qs + 16 * j, 16);
    s.q -= 32 * offset_sum(w, a);
    return s;
  }
  static constexpr bool kMinSums = false;
  static float scale(const Block& w, const Act& a) { return half_to_float(w.d) * a.d; }
  static void finish(Partials& acc, int lane, const Block& w, const Act& a, Sums s) { finish256<RecipeQ6_K>(acc, lane, w, a, s); }
};

// IQ4_XS: x = d·ls_j·grid[q] over sub-blocks j of 32:  d·da · Σ_j ls_j·Σ grid[q]·qa
struct RecipeIQ4_XS {
  using Block = BlockIQ4_XS;
  using Act = BlockQ8_K;
  static Sums sums(const Block& w, const Act& a) {
    Sums s;
    for (int j = 0; j < 8; ++j) s.q += iq4xs_scale(w, j) * iq4_dot32(w.qs + 16 * j, a.qs + 32 * j);
    return s;
  }
  static constexpr bool kMinSums = false;
  static float scale(const Block& w, const Act& a) { return half_to_float(w.d) * a.d; }
  static void finish(Partials& acc, int lane, const Block& w, const Act& a, Sums s) { finish256<RecipeIQ4_XS>(acc, lane, w, a, s); }
};

// The codebook types (quant_blocks_iq.h): x = d·F·sc_j·v_i over groups j of 16:  d·F·da · Σ_j sc_j·Σ v·qa
template <class B>
struct RecipeIQ {
  using Block = B;
  using Act = BlockQ8_K;
  static Sums sums(const Block& w, const Act& a) {
    int8_t v[256], sc[16];
    iq_unpack(w, v, sc);
    Sums s;
    for (int j = 0; j < 16; ++j) s.q += sc[j] * idot(v + 16 * j, a.qs + 16 * j, 16);
    return s;
  }
  static constexpr bool kMinSums = false;
  static float scale(const Block& w, const Act& a) { return half_to_float(iq_d_bits(w)) * Block::kFactor * a.d; }
  static void finish(Partials& acc, int lane, const Block& w, const Act& a, Sums s) { finish256<RecipeIQ>(acc, lane, w, a, s); }
};

// Runs block(i, lane) for i in [0, blocks) with lane = i % 4 always a literal, so that the four
// partial sums can live in registers (a variable index would keep them in memory, and every block's
// fused multiply-add would wait for the previous store).
template <class Block>
inline void for_each_block(int64_t blocks, Block&& block) {
  int64_t i = 0;
  for (; i + 4 <= blocks; i += 4) {
    block(i, 0);
    block(i + 1, 1);
    block(i + 2, 2);
    block(i + 3, 3);
  }
  if (i < blocks) block(i, 0);
  if (i + 1 < blocks) block(i + 1, 1);
  if (i + 2 < blocks) block(i + 2, 2);
}

// A row's dot product from per-block integer sums computed by `sums_of(w_block, a_block)`.
template <class R, class SumsOf>
float dot_row(int64_t n, const void* wv, const void* av, SumsOf&& sums_of) {
  const auto* w = static_cast<const typename R::Block*>(wv);
  const auto* a = static_cast<const typename R::Act*>(av);
  Partials acc;
  for_each_block(n / R::Block::kElems, [&](int64_t i, int lane) { R::finish(acc, lane, w[i], a[i], sums_of(w[i], a[i])); });
  return acc.total();
}

// The recipe of each weight type, by DType: calls fn(Recipe{}) and returns its result, or `none`.
template <class Fn, class T>
T with_recipe(DType t, Fn&& fn, T none) {
  switch (t) {
    case DType::Q8_0: return fn(RecipeQ8_0{});
    case DType::Q4_0: return fn(RecipeQ4_0{});
    case DType::Q4_1: return fn(RecipeQ4_1{});
    case DType::Q5_0: return fn(RecipeQ5_0{});
    case DType::Q5_1: return fn(RecipeQ5_1{});
    case DType::IQ4_NL: return fn(RecipeIQ4_NL{});
    case DType::Q2_K: return fn(RecipeQ2_K{});
    case DType::Q3_K: return fn(RecipeQ3_K{});
    case DType::Q4_K: return fn(RecipeQ4_K{});
    case DType::Q5_K: return fn(RecipeQ5_K{});
    case DType::Q6_K: return fn(RecipeQ6_K{});
    case DType::IQ4_XS: return fn(RecipeIQ4_XS{});
    case DType::IQ2_XXS: return fn(RecipeIQ<BlockIQ2_XXS>{});
    case DType::IQ2_XS: return fn(RecipeIQ<BlockIQ2_XS>{});
    case DType::IQ2_S: return fn(RecipeIQ<BlockIQ2_S>{});
    case DType::IQ3_XXS: return fn(RecipeIQ<BlockIQ3_XXS>{});
    case DType::IQ3_S: return fn(RecipeIQ<BlockIQ3_S>{});
    case DType::IQ1_S: return fn(RecipeIQ<BlockIQ1_S>{});
    case DType::IQ1_M: return fn(RecipeIQ<BlockIQ1_M>{});
    default: return none;
  }
}

}  // namespace
}  // namespace r1::quant
