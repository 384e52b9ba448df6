// The AVX-512 (F, BW, VL) policy of the int8 kernels: one 512-bit register per group of 64 values.
// kVnni: byte dot products with vpdpbusd / vpdpwssd (AVX512-VNNI) instead of vpmaddubsw + vpmaddwd.
// Included by quant_dot_avx512.cpp and quant_dot_avx512vnni.cpp, each compiled for its own feature set.
#pragma once

#include "kernels/cpu/avx512_intrinsics.h"  // first: it sets warning state before <immintrin.h>
#include "kernels/cpu/quant_dot_x86.h"

namespace r1::quant {
namespace {

template <bool kVnni>
struct Avx512 : X86Lanes {
  using V = __m512i;
  using Acc = __m512i;  // 16 int32 lanes: 0-7 sum the low half's values, 8-15 the high half's

  static __m256i loadu256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static __m128i loadu128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
  // Per-half constants of 16-bit lanes.
  static V halves16(short lo, short hi) { return _mm512_inserti64x4(_mm512_set1_epi16(lo), _mm256_set1_epi16(hi), 1); }
  static V low4(V x) { return _mm512_and_si512(x, _mm512_set1_epi8(15)); }

  static V zero() { return _mm512_setzero_si512(); }
  static Acc zero_acc() { return zero(); }
  static V set1(int8_t v) { return _mm512_set1_epi8(v); }
  static V load64(const void* p) { return _mm512_loadu_si512(p); }
  static V load2x32(const void* p0, const void* p1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(loadu256(p0)), loadu256(p1), 1);
  }
  static V broadcast32(const void* p) { return _mm512_broadcast_i64x4(loadu256(p)); }
  static V and_(V a, V b) { return _mm512_and_si512(a, b); }
  static V or_(V a, V b) { return _mm512_or_si512(a, b); }
  static V nibbles32(const uint8_t* p) { return low4(_mm512_srlv_epi16(broadcast32(p), halves16(0, 4))); }
  static V nibbles16x2(const uint8_t* p0, const uint8_t* p1) {
    // 128-bit lanes [p0, p0, p1, p1], shifted by 0, 4, 0, 4.
    V x = _mm512_inserti32x4(_mm512_castsi128_si512(loadu128(p0)), loadu128(p1), 2);
    x = _mm512_shuffle_i64x2(x, x, _MM_SHUFFLE(2, 2, 0, 0));
    const V shifts = _mm512_broadcast_i64x4(_mm256_set_m128i(_mm_set1_epi16(4), _mm_set1_epi16(0)));
    return low4(_mm512_srlv_epi16(x, shifts));
  }
  static V high_nibbles(V x) { return low4(_mm512_srli_epi16(x, 4)); }
  template <int kLo, int kHi>
  static V shl16(V x) { return _mm512_sllv_epi16(x, halves16(kLo, kHi)); }
  template <int kLo, int kHi>
  static V shr16(V x) { return _mm512_srlv_epi16(x, halves16(kLo, kHi)); }
  static V test_bits(V x, uint8_t m_lo, uint8_t m_hi) {
    const V m = _mm512_inserti64x4(_mm512_set1_epi8(char(m_lo)), _mm256_set1_epi8(char(m_hi)), 1);
    return _mm512_movm_epi8(_mm512_test_epi8_mask(x, m));
  }
  static V bits_to_bytes(uint32_t lo, uint32_t hi) { return _mm512_movm_epi8(__mmask64(lo) | __mmask64(hi) << 32); }
  static V lookup16(const int8_t* table, V idx) { return _mm512_shuffle_epi8(_mm512_broadcast_i32x4(loadu128(table)), idx); }
  static V abs8(V x) { return _mm512_abs_epi8(x); }
  static V add8(V a, V b) { return _mm512_add_epi8(a, b); }
  // Eight words, built in registers (a vector load of just-stored words would wait for the stores).
  static V set64(uint64_t e0, uint64_t e1, uint64_t e2, uint64_t e3, uint64_t e4, uint64_t e5, uint64_t e6, uint64_t e7) {
    return _mm512_set_epi64(int64_t(e7), int64_t(e6), int64_t(e5), int64_t(e4), int64_t(e3), int64_t(e2), int64_t(e1), int64_t(e0));
  }
  static V sign8(V a, V v) { return _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(v), zero(), a); }
  static Acc dot(Acc acc, V u, V s) {
    if constexpr (kVnni) {
      return _mm512_dpbusd_epi32(acc, u, s);
    } else {
      return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
    }
  }
  static Acc dot_scaled(Acc acc, V u, V s, V sc) {
    if constexpr (kVnni) {
      return _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(u, s), sc);
    } else {
      return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), sc));
    }
  }
  // A table: the eight scales as int16 in the low 128 bits; picking permutes int16 lanes.
  static V table8_u8(uint64_t s) { return _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(s)))); }
  static V table8_i8(const int8_t* s) {
    return _mm512_castsi128_si512(_mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s))));
  }
  static V pick_2x32(V t, int k) { return _mm512_permutexvar_epi16(halves16(short(2 * k), short(2 * k + 1)), t); }
  static V pick_4x16(V t, int g) {
    const __m128i q0 = _mm_set1_epi16(short(4 * g)), q1 = _mm_set1_epi16(short(4 * g + 1));
    const __m128i q2 = _mm_set1_epi16(short(4 * g + 2)), q3 = _mm_set1_epi16(short(4 * g + 3));
    const V idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(q1, q0)), _mm256_set_m128i(q3, q2), 1);
    return _mm512_permutexvar_epi16(idx, t);
  }
  static __m256i fold256(Acc a) { return _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1)); }
  static Acc add_low(Acc a, __m256i x) { return _mm512_add_epi32(a, _mm512_zextsi256_si512(x)); }
  static void block_sums4(Acc a01, Acc a23, int32_t out[4]) {
    hsum4_epi32(_mm512_castsi512_si256(a01), _mm512_extracti64x4_epi64(a01, 1), _mm512_castsi512_si256(a23),
                _mm512_extracti64x4_epi64(a23, 1), out);
  }
};

}  // namespace
}  // namespace r1::quant
