// The row-group kernels' R operations (row_groups_simd.h: 16 bytes, one per row) in SSE2, shared by the
// x86 policies (row_groups_avx2.cpp, row_groups_avx512vnni.cpp). x86 has no byte shifts: rshr / rshl
// shift 16-bit lanes, and the kernels mask what they keep to bits of the same byte.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace r1::quant {
namespace {

struct Sse2RowBytes {
  using R = __m128i;
  static R rload(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
  static R rand(R a, R b) { return _mm_and_si128(a, b); }
  static R ror(R a, R b) { return _mm_or_si128(a, b); }
  static R radd(R a, R b) { return _mm_add_epi8(a, b); }
  static R rsub(R a, R b) { return _mm_sub_epi8(a, b); }
  static R rset(int8_t v) { return _mm_set1_epi8(v); }
  static R rshr(R x, int bits) { return _mm_srl_epi16(x, _mm_cvtsi32_si128(bits)); }
  static R rshl(R x, int bits) { return _mm_sll_epi16(x, _mm_cvtsi32_si128(bits)); }
  static void rsplit16(const uint16_t* h, R& lo, R& hi) {
    const R h0 = rload(h), h1 = rload(h + 8);
    const R low = _mm_set1_epi16(0xff);
    lo = _mm_packus_epi16(_mm_and_si128(h0, low), _mm_and_si128(h1, low));
    hi = _mm_packus_epi16(_mm_srli_epi16(h0, 8), _mm_srli_epi16(h1, 8));
  }
};

}  // namespace
}  // namespace r1::quant
