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
#else
  return f16_table()[h];
#endif
}

// Integer sums of one block: `q` over the quantized values, `m` over the minimums (K-quants).
struct Sums {
  int32_t q = 0, m = 0;
};

// Four running sums; block b's contribution goes to p[b % 4] through one fused multiply-add.
struct Partials {
  float p[4] = {0, 0, 0, 0};
  void add(int64_t b, float scale, int32_t v) { p[b & 3] = std::fma(scale, float(v), p[b & 3]); }
  float total() const { return (p[0] + p[1]) + (p[2] + p[3]); }
};

// Value j of a 32-value block's nibbles (j < 16: low nibble of byte j; else high nibble of byte j − 16).
inline int nibble(const uint8_t* qs16, int j) { return j < 16 ? qs16[j] & 15 : qs16[j - 16] >> 4; }

// ---- 32-value types: activations ActBlock32 ---------------------------------------------------------

// Q8_0: x = d·q.  Σ x·a = d·da · Σ q·qa
struct RecipeQ8_0 {
  using Block = BlockQ8_0;
  using Act = ActBlock32;
  static constexpr bool kSignedValues = true;
  static Sums sums(const Block& w, const Act& a) {
    Sums s;
    for (int j = 0; j < 32; ++j) s.q += int32_t(w.qs[j]) * a.qs[j];
    return s;
  }
  static void finish(Partials& acc, int64_t b, const Block& w, const Act& a, Sums s) {
    acc.add(b, half_to_float(w.d) * a.d, s.q);
  }
};

// Q4_0 / Q5_0: x = d·(q − o), o = 2^(bits−1):  d·da · (Σ q·qa − o·Σ qa)
// Q4_1 / Q5_1: x = d·q + m:                     d·da · Σ q·qa, then m·da · Σ qa
template <int kBits, bool kHasMin, class BlockT>
struct RecipeLegacy {
  using Block = BlockT;
  using Act = ActBlock32;
  static constexpr bool kSignedValues = false;
  static int value(const Block& w, int j) {
    int q = nibble(w.qs, j);
    if constexpr (kBits == 5) {
      uint32_t qh;
      std::memcpy(&qh, w.qh, 4);
      q |= int((qh >> j) & 1) << 4;
    }
    return q;
  }
  static Sums sums(const Block& w, const Act& a) {
    Sums s;
    for (int j = 0; j < 32; ++j) s.q += value(w, j) * a.qs[j];
    return s;
  }
  static void finish(Partials& acc, int64_t b, const Block& w, const Act& a, Sums s) {
    if constexpr (kHasMin) {
      acc.add(b, half_to_float(w.d) * a.d, s.q);
      acc.add(b, half_to_float(w.m) * a.d, a.sum);
    } else {
      acc.add(b, half_to_float(w.d) * a.d, s.q - (1 << (kBits - 1)) * a.sum);
    }
  }
};
using RecipeQ4_0 = RecipeLegacy<4, false, BlockQ4_0>;
using RecipeQ4_1 = RecipeLegacy<4, true, BlockQ4_1>;
using RecipeQ5_0 = RecipeLegacy<5, false, BlockQ5_0>;
using RecipeQ5_1 = RecipeLegacy<5, true, BlockQ5_1>;

// IQ4_NL: x = d·grid[q]:  d·da · Σ grid[q]·qa
struct RecipeIQ4_NL {
  using Block = BlockIQ4_NL;
  using Act = ActBlock32;
  static constexpr bool kSignedValues = true;
  static Sums sums(const Block& w, const Act& a) {
    Sums s;
    for (int j = 0; j < 32; ++j) s.q += kIQ4NL[nibble(w.qs, j)] * a.qs[j];
    return s;
  }
  static void finish(Partials& acc, int64_t b, const Block& w, const Act& a, Sums s) {
    acc.add(b, half_to_float(w.d) * a.d, s.q);
  }
};

// ---- 256-value types: activations BlockQ8_K ----------------------------------------------------------

// Q4_K / Q5_K: x = d·sc_j·q − dmin·m_j over sub-blocks j of 32:
//   d·da · Σ_j sc_j·Σ q·qa  −  dmin·da · Σ_j m_j·Σ_j qa   (Σ_j qa from the Q8_K per-16 sums)
template <int kBits, class BlockT>
struct RecipeK45 {
  using Block = BlockT;
  using Act = BlockQ8_K;
  static int value(const Block& w, int j, int l) {  // value l of sub-block j
    int q = (w.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15;
    if constexpr (kBits == 5) q |= ((w.qh[l] >> j) & 1) << 4;
    return q;
  }
  static int32_t min_sum(const uint8_t mn[8], const Act& a) {
    int32_t m = 0;
    for (int j = 0; j < 8; ++j) m += mn[j] * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
    return m;
  }
  static Sums sums(const Block& w, const Act& a) {
    uint8_t sc[8], mn[8];
    unpack_k4_scales(w.scales, sc, mn);
    Sums s;
    for (int j = 0; j < 8; ++j) {
      int32_t sub = 0;
      for (int l = 0; l < 32; ++l) sub += value(w, j, l) * a.qs[32 * j + l];
      s.q += sc[j] * sub;
    }
    s.m = min_sum(mn, a);
    return s;
  }
  static void finish(Partials& acc, int64_t b, const Block& w, const Act& a, Sums s) {
    acc.add(b, half_to_float(w.d) * a.d, s.q);
    acc.add(b, -(half_to_float(w.dmin) * a.d), s.m);
  }
};
using RecipeQ4_K = RecipeK45<4, BlockQ4_K>;
using RecipeQ5_K = RecipeK45<5, BlockQ5_K>;

// Q6_K: x = d·sc_j·(q − 32) over sub-blocks j of 16:  d·da · Σ_j sc_j·(Σ q·qa − 32·Σ_j qa)
struct RecipeQ6_K {
  using Block = BlockQ6_K;
  using Act = BlockQ8_K;
  static int value(const Block& w, int e) {  // the unsigned 6-bit q of value e
    const int h = e / 128, g = (e % 128) / 32, l = e % 32;
    const int lo = (w.ql[64 * h + 32 * (g % 2) + l] >> (4 * (g / 2))) & 15;
    return lo | ((w.qh[32 * h + l] >> (2 * g)) & 3) << 4;
  }
  static int32_t offset_sum(const Block& w, const Act& a) {  // Σ_j sc_j·Σ_j qa
    int32_t m = 0;
    for (int j = 0; j < 16; ++j) m += w.scales[j] * a.bsums[j];
    return m;
  }
  static Sums sums(const Block& w, const Act& a) {
    Sums s;
    for (int j = 0; j < 16; ++j) {
      int32_t sub = 0;
      for (int e = 16 * j; e < 16 * j + 16; ++e) sub += value(w, e) * a.qs[e];
      s.q += w.scales[j] * sub;
    }
    s.q -= 32 * offset_sum(w, a);
    return s;
  }
  static void finish(Partials& acc, int64_t b, const Block& w, const Act& a, Sums s) {
    acc.add(b, half_to_float(w.d) * a.d, s.q);
  }
};

// IQ4_XS: x = d·ls_j·grid[q] over sub-blocks j of 32:  d·da · Σ_j ls_j·Σ grid[q]·qa
struct RecipeIQ4_XS {
  using Block = BlockIQ4_XS;
  using Act = BlockQ8_K;
  static Sums sums(const Block& w, const Act& a) {
    Sums s;
    for (int j = 0; j < 8; ++j) {
      int32_t sub = 0;
      for (int i = 0; i < 32; ++i) sub += kIQ4NL[nibble(w.qs + 16 * j, i)] * a.qs[32 * j + i];
      s.q += iq4xs_scale(w, j) * sub;
    }
    return s;
  }
  static void finish(Partials& acc, int64_t b, const Block& w, const Act& a, Sums s) {
    acc.add(b, half_to_float(w.d) * a.d, s.q);
  }
};

// A row's dot product from per-block integer sums computed by `sums_of(w_block, a_block, b)`.
template <class R, class SumsOf>
float dot_row(int64_t n, const void* wv, const void* av, SumsOf&& sums_of) {
  const auto* w = static_cast<const typename R::Block*>(wv);
  const auto* a = static_cast<const typename R::Act*>(av);
  Partials acc;
  for (int64_t b = 0; b < n / R::Block::kElems; ++b) R::finish(acc, b, w[b], a[b], sums_of(w[b], a[b]));
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
    case DType::Q4_K: return fn(RecipeQ4_K{});
    case DType::Q5_K: return fn(RecipeQ5_K{});
    case DType::Q6_K: return fn(RecipeQ6_K{});
    case DType::IQ4_XS: return fn(RecipeIQ4_XS{});
    default: return none;
  }
}

}  // namespace
}  // namespace r1::quant
