// What the x86 policies of the int8 kernels (AVX2, AVX-512) share: the 128- and 256-bit parts of
// quant_dot_simd.h's policy interface -- the four float partial sums of a row (F4), the unreduced
// 8-lane int32 sums that come from Q8_K's per-16 activation sums (Wide), and their reductions.
// Included by quant_dot_avx2.cpp and quant_dot_avx512.h, each compiled for its own feature set.
#pragma once

#include <immintrin.h>

#include "kernels/cpu/quant_dot_simd.h"

namespace r1::quant {
namespace {

// Totals of four 8-lane int32 vectors.
inline __m128i hsum4_epi32(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_hadd_epi32(a, b), cd = _mm256_hadd_epi32(c, d);
  const __m256i abcd = _mm256_hadd_epi32(ab, cd);  // per 128-bit half: a, b, c, d partial totals
  return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}
inline void hsum4_epi32(__m256i a, __m256i b, __m256i c, __m256i d, int32_t out[4]) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), hsum4_epi32(a, b, c, d));
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

struct X86Lanes {
  using F4 = __m128;
  using Wide = __m256i;

  static F4 f4_zero() { return _mm_setzero_ps(); }
  static F4 f4_set(float a, float b, float c, float d) { return _mm_setr_ps(a, b, c, d); }
  static void f4_store(float* out, F4 x) { _mm_storeu_ps(out, x); }
  static F4 f4_halves(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
    return _mm_cvtph_ps(_mm_setr_epi16(short(a), short(b), short(c), short(d), 0, 0, 0, 0));
  }
  static F4 f4_mul(F4 a, F4 b) { return _mm_mul_ps(a, b); }
  static F4 fma4(F4 a, F4 b, F4 c) { return _mm_fmadd_ps(a, b, c); }    // a·b + c, rounded once
  static F4 fnma4(F4 a, F4 b, F4 c) { return _mm_fnmadd_ps(a, b, c); }  // c − a·b, rounded once
  // The totals of four Wide sums, as floats.
  static F4 totals4(Wide a, Wide b, Wide c, Wide d) { return _mm_cvtepi32_ps(hsum4_epi32(a, b, c, d)); }

  static Wide wide_zero() { return _mm256_setzero_si256(); }
  // The parts of a 256-value block's integer sums that come from Q8_K's per-16 activation sums `bsums`
  // rather than from the values, unreduced (8 int32 lanes):
  //   RecipeK45::min_sum:            Σ_j m_j·(bsums[2j] + bsums[2j+1])   (m_j: 8 unsigned bytes in a word)
  static Wide min_products_k4(uint64_t mins, const int16_t bsums[16]) {
    const __m128i m = _mm_cvtsi64_si128(int64_t(mins));
    return _mm256_madd_epi16(load256(bsums), _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m)));
  }
  //   Q2_K's minimums (kFactor = 1), Q3_K's and Q6_K's offsets (−4, −32): kFactor·Σ_j sc_j·bsums[j]
  //   (kFactor·sc_j fits int16)
  template <int kFactor>
  static Wide scale_products16(const int8_t sc[16], const int16_t bsums[16]) {
    __m256i s = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    if constexpr (kFactor != 1) s = _mm256_mullo_epi16(s, _mm256_set1_epi16(kFactor));
    return _mm256_madd_epi16(s, load256(bsums));
  }
  //   IQ1_S's shifts: Σ_j ±sc_j·bsums[j], negative where bit 15 of qh[j / 2] is set
  static Wide shift_products16(const uint16_t qh[8], const int8_t sc[16], const int16_t bsums[16]) {
    // 0 or -1 per int16 lane (the arithmetic shift), widened so that each qh word covers two lanes.
    const __m256i neg = _mm256_cvtepi16_epi32(_mm_srai_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qh)), 15));
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    return _mm256_madd_epi16(_mm256_sub_epi16(_mm256_xor_si256(s16, neg), neg), load256(bsums));
  }
};

}  // namespace
}  // namespace r1::quant
