// The row-group kernels (row_groups_simd.h) for AVX2 + FMA + F16C: the 16 rows in two 256-bit halves
// (rows 0-7, 8-15). Without vpdpbusd, four u·qa products are summed by vpmaddubsw (pairs, int16:
// exact while u ≤ 128) and vpmaddwd; built with R1_AVX_VNNI (src/CMakeLists.txt), by 256-bit vpdpbusd.
#include <immintrin.h>

#include "kernels/cpu/avx_vnni.h"
#include "kernels/cpu/row_groups_simd.h"
#include "kernels/cpu/row_groups_sse2.h"

namespace r1::quant {

namespace {

struct Avx2Rows : Sse2RowBytes {
  struct B {
    __m256i lo, hi;
  };
  using I = B;
  struct F {
    __m256 lo, hi;
  };
  static constexpr bool kPrefetchWide = true;  // row_groups_simd.h's kPrefetch
#if defined(R1_AVX_VNNI)
  static constexpr bool kQ8Offset = true;  // vpdpbusd takes Q8_0's stored bytes as they are
#else
  static constexpr bool kQ8Offset = false;  // Q8_0's values are restored to signed bytes first
#endif

  template <class Op>
  static B each(B a, B b, Op op) { return {op(a.lo, b.lo), op(a.hi, b.hi)}; }

  static B load(const void* p) {
    const auto* v = static_cast<const __m256i*>(p);
    return {_mm256_loadu_si256(v), _mm256_loadu_si256(v + 1)};
  }
  static B and_(B a, B b) { return each(a, b, [](__m256i x, __m256i y) { return _mm256_and_si256(x, y); }); }
  static B or_(B a, B b) { return each(a, b, [](__m256i x, __m256i y) { return _mm256_or_si256(x, y); }); }
  template <int kBits> static B srli16(B x) { return {_mm256_srli_epi16(x.lo, kBits), _mm256_srli_epi16(x.hi, kBits)}; }
  template <int kBits> static B slli16(B x) { return {_mm256_slli_epi16(x.lo, kBits), _mm256_slli_epi16(x.hi, kBits)}; }
  static B srl16(B x, int bits) {
    const __m128i n = _mm_cvtsi32_si128(bits);
    return {_mm256_srl_epi16(x.lo, n), _mm256_srl_epi16(x.hi, n)};
  }
  static B bytes(int8_t v) { return {_mm256_set1_epi8(v), _mm256_set1_epi8(v)}; }

  static I zero() { return {_mm256_setzero_si256(), _mm256_setzero_si256()}; }
  static I add(I a, I b) { return each(a, b, [](__m256i x, __m256i y) { return _mm256_add_epi32(x, y); }); }
  static I sub(I a, I b) { return each(a, b, [](__m256i x, __m256i y) { return _mm256_sub_epi32(x, y); }); }
  static I mullo(I a, I b) { return each(a, b, [](__m256i x, __m256i y) { return _mm256_mullo_epi32(x, y); }); }
  static I set1(int32_t v) { return {_mm256_set1_epi32(v), _mm256_set1_epi32(v)}; }
  static __m256i broadcast4(const int8_t* a4) {
    int32_t x;
    std::memcpy(&x, a4, 4);
    return _mm256_set1_epi32(x);
  }
  // acc += Σ of four u·s per int32 lane, u unsigned ≤ 128.
  static I dot_us(I acc, B u, B s) {
#if defined(R1_AVX_VNNI)
    return {dpbusd256(acc.lo, u.lo, s.lo), dpbusd256(acc.hi, u.hi, s.hi)};
#else
    const __m256i ones = _mm256_set1_epi16(1);
    return each(acc, each(u, s, [&](__m256i x, __m256i y) { return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones); }),
                [](__m256i x, __m256i y) { return _mm256_add_epi32(x, y); });
#endif
  }
  static I dot(I acc, B u, const int8_t* a4) {
    const __m256i a = broadcast4(a4);
    return dot_us(acc, u, {a, a});
  }
  // The stored v + 128 back to v, then |v| · (qa with v's sign); with vpdpbusd, (v + 128)·qa.
  static I dot_q8(I acc, B stored, const int8_t* a4) {
    const __m256i a = broadcast4(a4);
#if defined(R1_AVX_VNNI)
    return dot_us(acc, stored, {a, a});
#else
    const B v = each(stored, bytes(int8_t(0x80)), [](__m256i x, __m256i y) { return _mm256_xor_si256(x, y); });
    return dot_us(acc, {_mm256_abs_epi8(v.lo), _mm256_abs_epi8(v.hi)}, {_mm256_sign_epi8(a, v.lo), _mm256_sign_epi8(a, v.hi)});
#endif
  }
  static B lookup16(const uint8_t* table, B idx) {
    const __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(table)));
    return {_mm256_shuffle_epi8(t, idx.lo), _mm256_shuffle_epi8(t, idx.hi)};
  }
  static I widen_u8(__m128i x) { return {_mm256_cvtepu8_epi32(x), _mm256_cvtepu8_epi32(_mm_srli_si128(x, 8))}; }
  static I widen_i8(__m128i x) { return {_mm256_cvtepi8_epi32(x), _mm256_cvtepi8_epi32(_mm_srli_si128(x, 8))}; }

  template <class Op>
  static F eachf(F a, F b, Op op) { return {op(a.lo, b.lo), op(a.hi, b.hi)}; }
  static F zerof() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static F halves(const uint16_t* h) {
    const auto* v = reinterpret_cast<const __m128i*>(h);
    return {_mm256_cvtph_ps(_mm_loadu_si128(v)), _mm256_cvtph_ps(_mm_loadu_si128(v + 1))};
  }
  static F set1f(float v) { return {_mm256_set1_ps(v), _mm256_set1_ps(v)}; }
  static F mul(F a, F b) { return eachf(a, b, [](__m256 x, __m256 y) { return _mm256_mul_ps(x, y); }); }
  static F fmadd(F a, F b, F c) { return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
  static F fnmadd(F a, F b, F c) { return {_mm256_fnmadd_ps(a.lo, b.lo, c.lo), _mm256_fnmadd_ps(a.hi, b.hi, c.hi)}; }
  static F cvt(I x) { return {_mm256_cvtepi32_ps(x.lo), _mm256_cvtepi32_ps(x.hi)}; }
  static F addf(F a, F b) { return eachf(a, b, [](__m256 x, __m256 y) { return _mm256_add_ps(x, y); }); }
  static void store(float* p, F x) {
    _mm256_storeu_ps(p, x.lo);
    _mm256_storeu_ps(p + 8, x.hi);
  }
};

}  // namespace

#if defined(R1_AVX_VNNI)
MatVecGroups mat_vec_groups_avxvnni(DType t) { return RowGroupKernels<Avx2Rows>::table(t); }
#else
MatVecGroups mat_vec_groups_avx2(DType t) { return RowGroupKernels<Avx2Rows>::table(t); }
#endif

}  // namespace r1::quant
