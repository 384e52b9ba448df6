// The int8 kernels for AVX2 + FMA + F16C (compiled with those enabled; chosen at run time).
// Byte products with vpmaddubsw (u8·s8 summed in pairs to int16), widened with vpmaddwd; built a second
// time with R1_AVX_VNNI (src/CMakeLists.txt), they are vpdpbusd / vpdpwssd instead: the same integer
// sums (the pairs never saturate int16 -- the kernels equal the scalar reference either way).
#include "kernels/cpu/avx_vnni.h"
#include "kernels/cpu/quant_dot_x86.h"

namespace r1::quant {

namespace {

struct Avx2 : X86Lanes {
  struct V {
    __m256i lo, hi;
  };
  using Acc = V;  // int32 lanes, the two halves kept apart

  static __m256i loadu(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static __m256i low4(__m256i x) { return _mm256_and_si256(x, _mm256_set1_epi8(15)); }
  template <class F>
  static V each(V a, V b, F f) { return {f(a.lo, b.lo), f(a.hi, b.hi)}; }

  static V zero() { return {_mm256_setzero_si256(), _mm256_setzero_si256()}; }
  static Acc zero_acc() { return zero(); }
  static V set1(int8_t v) { return {_mm256_set1_epi8(v), _mm256_set1_epi8(v)}; }
  static V load64(const void* p) { return {loadu(p), loadu(static_cast<const uint8_t*>(p) + 32)}; }
  static V load2x32(const void* p0, const void* p1) { return {loadu(p0), loadu(p1)}; }
  static V broadcast32(const void* p) {
    const __m256i x = loadu(p);
    return {x, x};
  }
  static V and_(V a, V b) { return each(a, b, [](__m256i x, __m256i y) { return _mm256_and_si256(x, y); }); }
  static V or_(V a, V b) { return each(a, b, [](__m256i x, __m256i y) { return _mm256_or_si256(x, y); }); }
  static V nibbles32(const uint8_t* p) {
    const __m256i x = loadu(p);
    return {low4(x), low4(_mm256_srli_epi16(x, 4))};
  }
  static __m256i nibbles16(const uint8_t* p) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return low4(_mm256_set_m128i(_mm_srli_epi16(x, 4), x));
  }
  static V nibbles16x2(const uint8_t* p0, const uint8_t* p1) { return {nibbles16(p0), nibbles16(p1)}; }
  static V high_nibbles(V x) { return {low4(_mm256_srli_epi16(x.lo, 4)), low4(_mm256_srli_epi16(x.hi, 4))}; }
  template <int kLo, int kHi>
  static V shl16(V x) { return {_mm256_slli_epi16(x.lo, kLo), _mm256_slli_epi16(x.hi, kHi)}; }
  template <int kLo, int kHi>
  static V shr16(V x) { return {_mm256_srli_epi16(x.lo, kLo), _mm256_srli_epi16(x.hi, kHi)}; }
  static V test_bits(V x, uint8_t m_lo, uint8_t m_hi) {
    const __m256i ml = _mm256_set1_epi8(char(m_lo)), mh = _mm256_set1_epi8(char(m_hi));
    return {_mm256_cmpeq_epi8(_mm256_and_si256(x.lo, ml), ml), _mm256_cmpeq_epi8(_mm256_and_si256(x.hi, mh), mh)};
  }
  static __m256i bits_to_bytes32(uint32_t bits) {
    // Byte i takes byte i / 8 of the word, then keeps bit i % 8.
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(int(bits)),
        _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  }
  static V bits_to_bytes(uint32_t lo, uint32_t hi) { return {bits_to_bytes32(lo), bits_to_bytes32(hi)}; }
  static V lookup16(const int8_t* table, V idx) {
    const __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(table)));
    return {_mm256_shuffle_epi8(t, idx.lo), _mm256_shuffle_epi8(t, idx.hi)};
  }
  static V abs8(V x) { return {_mm256_abs_epi8(x.lo), _mm256_abs_epi8(x.hi)}; }
  static V add8(V a, V b) { return each(a, b, [](__m256i x, __m256i y) { return _mm256_add_epi8(x, y); }); }
  static V set64(uint64_t e0, uint64_t e1, uint64_t e2, uint64_t e3, uint64_t e4, uint64_t e5, uint64_t e6, uint64_t e7) {
    return {_mm256_set_epi64x(int64_t(e3), int64_t(e2), int64_t(e1), int64_t(e0)),
            _mm256_set_epi64x(int64_t(e7), int64_t(e6), int64_t(e5), int64_t(e4))};
  }

  static V sign8(V a, V v) { return each(a, v, [](__m256i x, __m256i y) { return _mm256_sign_epi8(x, y); }); }
  static Acc dot_scaled(Acc acc, V u, V s, V sc) {
#if defined(R1_AVX_VNNI)
    return {dpwssd256(acc.lo, _mm256_maddubs_epi16(u.lo, s.lo), sc.lo),
            dpwssd256(acc.hi, _mm256_maddubs_epi16(u.hi, s.hi), sc.hi)};
#else
    return {_mm256_add_epi32(acc.lo, _mm256_madd_epi16(_mm256_maddubs_epi16(u.lo, s.lo), sc.lo)),
            _mm256_add_epi32(acc.hi, _mm256_madd_epi16(_mm256_maddubs_epi16(u.hi, s.hi), sc.hi))};
#endif
  }
  static Acc dot(Acc acc, V u, V s) {
#if defined(R1_AVX_VNNI)
    return {dpbusd256(acc.lo, u.lo, s.lo), dpbusd256(acc.hi, u.hi, s.hi)};
#else
    return dot_scaled(acc, u, s, {_mm256_set1_epi16(1), _mm256_set1_epi16(1)});
#endif
  }
  // A table: the eight scales as int16 in both 128-bit halves; picking broadcasts one int16 (bytes 2i, 2i+1).
  static __m256i table8_u8(uint64_t s) {
    return _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(s))));
  }
  static __m256i table8_i8(const int8_t* s) {
    return _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s))));
  }
  static __m256i pick(__m256i t, int i0, int i1) {  // int16 i0 in the low 128-bit half, i1 in the high one
    const __m128i m0 = _mm_set1_epi16(short(2 * i0 | (2 * i0 + 1) << 8)), m1 = _mm_set1_epi16(short(2 * i1 | (2 * i1 + 1) << 8));
    return _mm256_shuffle_epi8(t, _mm256_set_m128i(m1, m0));
  }
  static V pick_2x32(__m256i t, int k) { return {pick(t, 2 * k, 2 * k), pick(t, 2 * k + 1, 2 * k + 1)}; }
  static V pick_4x16(__m256i t, int g) { return {pick(t, 4 * g, 4 * g + 1), pick(t, 4 * g + 2, 4 * g + 3)}; }
  static __m256i fold256(Acc a) { return _mm256_add_epi32(a.lo, a.hi); }
  static Acc add_low(Acc a, __m256i x) { return {_mm256_add_epi32(a.lo, x), a.hi}; }
  static void block_sums4(Acc a01, Acc a23, int32_t out[4]) { hsum4_epi32(a01.lo, a01.hi, a23.lo, a23.hi, out); }
};

}  // namespace

#if defined(R1_AVX_VNNI)
VecDot vec_dot_avxvnni(DType t) { return SimdKernels<Avx2>::table(t); }
VecDotRows vec_dot_rows_avxvnni(DType t) { return SimdKernels<Avx2>::table_rows(t); }
MatVec mat_vec_avxvnni(DType t) { return SimdKernels<Avx2>::table_mat_vec(t); }
#else
VecDot vec_dot_avx2(DType t) { return SimdKernels<Avx2>::table(t); }
VecDotRows vec_dot_rows_avx2(DType t) { return SimdKernels<Avx2>::table_rows(t); }
MatVec mat_vec_avx2(DType t) { return SimdKernels<Avx2>::table_mat_vec(t); }
#endif

}  // namespace r1::quant
