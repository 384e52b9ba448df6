// The row-group kernels (row_groups_simd.h) for AVX-512 F/BW/VL + VNNI: the 16 rows in one register.
#include "kernels/cpu/avx512_intrinsics.h"  // first: it sets warning state before <immintrin.h>
#include "kernels/cpu/row_groups_simd.h"
#include "kernels/cpu/row_groups_sse2.h"

namespace r1::quant {

namespace {

struct Avx512VnniRows : Sse2RowBytes {
  using B = __m512i;
  using I = __m512i;
  using F = __m512;
  static constexpr bool kPrefetchWide = false;  // row_groups_simd.h's kPrefetch
  static constexpr bool kQ8Offset = true;  // vpdpbusd takes the stored bytes as they are

  static B load(const void* p) { return _mm512_loadu_si512(p); }
  static B and_(B a, B b) { return _mm512_and_si512(a, b); }
  static B or_(B a, B b) { return _mm512_or_si512(a, b); }
  template <int kBits> static B srli16(B x) { return _mm512_srli_epi16(x, kBits); }
  template <int kBits> static B slli16(B x) { return _mm512_slli_epi16(x, kBits); }
  static B srl16(B x, int bits) { return _mm512_srl_epi16(x, _mm_cvtsi32_si128(bits)); }
  static B bytes(int8_t v) { return _mm512_set1_epi8(v); }

  static I zero() { return _mm512_setzero_si512(); }
  static I add(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I mullo(I a, I b) { return _mm512_mullo_epi32(a, b); }
  static I set1(int32_t v) { return _mm512_set1_epi32(v); }
  static I broadcast4(const int8_t* a4) {
    int32_t x;
    std::memcpy(&x, a4, 4);
    return _mm512_set1_epi32(x);
  }
  static I dot(I acc, B u, const int8_t* a4) { return _mm512_dpbusd_epi32(acc, u, broadcast4(a4)); }
  static I dot_q8(I acc, B stored, const int8_t* a4) { return _mm512_dpbusd_epi32(acc, stored, broadcast4(a4)); }
  static B lookup16(const uint8_t* table, B idx) {
    return _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(table))), idx);
  }
  static I widen_u8(__m128i x) { return _mm512_cvtepu8_epi32(x); }
  static I widen_i8(__m128i x) { return _mm512_cvtepi8_epi32(x); }

  static F zerof() { return _mm512_setzero_ps(); }
  static F halves(const uint16_t* h) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h))); }
  static F set1f(float v) { return _mm512_set1_ps(v); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  static F cvt(I x) { return _mm512_cvtepi32_ps(x); }
  static F addf(F a, F b) { return _mm512_add_ps(a, b); }
  static void store(float* p, F x) { _mm512_storeu_ps(p, x); }
};

}  // namespace

MatVecGroups mat_vec_groups_avx512vnni(DType t) { return RowGroupKernels<Avx512VnniRows>::table(t); }

}  // namespace r1::quant
