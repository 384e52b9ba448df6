// The tiled int8 matrix product on AVX2 (also taken by AVX-512 CPUs without VNNI): 8 tokens per
// register. Without vpdpbusd, vpmaddubsw multiplies the activation bytes (qa + 128, unsigned) by the
// weights (signed) and adds neighbours into int16 -- at most 2 · 255 · 64 in magnitude, so exact for the
// types whose decoded weights stay within ±64 (all but Q8_0, IQ4_NL and IQ4_XS, which keep quant_dot's
// multi-token kernel) -- and vpmaddwd multiplies those pair sums by the sub-block's scale into int32.
// Built with R1_AVX_VNNI (src/CMakeLists.txt) it is AVX512-VNNI's scheme on 8 lanes: vpdpbusd adds the
// four products into int32 and the sub-block's scale comes after (kScaleInDot = false), so every type,
// Q8_0 and the IQ4s included, has the tiled kernel (r1_bench_quant --tokens 64 --footprint-mb 0, 4096 × 4096,
// one thread, built with -march=alderlake: Q4_K 16.1 -> 9.1 ms, Q6_K 15.3 -> 10.2, Q8_0 37.1 -> 15.0,
// IQ4_XS 33.4 -> 8.5 against AVX2).
#include <immintrin.h>

#include "kernels/cpu/avx_vnni.h"
#include "kernels/cpu/quant_gemm_simd.h"

namespace r1::quant {
namespace {

using int32_alias = int32_t __attribute__((may_alias, aligned(1)));  // four weight bytes read as one word

struct Avx2Gemm {
  static constexpr int kLanes = 8;
  // Three spill the 16 registers (8-13 % slower at 96 tokens); with AVX-VNNI one or three are 5-35 % slower.
  static constexpr int kMaxGroups = 2;
  using I = __m256i;
  using F = __m256;
  static I zero_i() { return _mm256_setzero_si256(); }
  static F zero_f() { return _mm256_setzero_ps(); }
  static I set1_i(int32_t x) { return _mm256_set1_epi32(x); }
  static F set1_f(float x) { return _mm256_set1_ps(x); }
  static I load_i(const int32_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
  static F load_f(const float* p) { return _mm256_load_ps(p); }
  static void store_f(float* p, F x) { _mm256_store_ps(p, x); }
  static I add_i(I a, I b) { return _mm256_add_epi32(a, b); }
  static I sub_i(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I mullo_i(I a, I b) { return _mm256_mullo_epi32(a, b); }
  static I dot2_i16(I c, I x, I w) { return _mm256_add_epi32(c, _mm256_madd_epi16(x, w)); }
  static F add_f(F a, F b) { return _mm256_add_ps(a, b); }
  static F mul_f(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fma_f(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F cvt(I x) { return _mm256_cvtepi32_ps(x); }
  static I load_act(const uint8_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
  static I broadcast4(const int8_t* p) { return _mm256_set1_epi32(*reinterpret_cast<const int32_alias*>(p)); }
#if defined(R1_AVX_VNNI)
  static constexpr bool kScaleInDot = false;
  static I dot4(I c, I x, I w) { return dpbusd256(c, x, w); }
#else
  static constexpr bool kScaleInDot = true;
  static I scale16(int32_t s) { return _mm256_set1_epi16(int16_t(s)); }
  static I dot4_scaled(I c, I x, I w, I sc) {
    return _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), sc));
  }
#endif

  // y[l·ld + r] = v[r][l] (+ bias[r]) for 4 rows × 8 tokens: a 4 × 4 transpose per 128-bit half turns the
  // token-lane vectors into one 4-row store per token.
  static void store_panel(const F v[kPanel], float* y, int64_t ld, const float* bias) {
    static_assert(kPanel == 4);
    const __m256 a = _mm256_unpacklo_ps(v[0], v[1]), b = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 c = _mm256_unpacklo_ps(v[2], v[3]), d = _mm256_unpackhi_ps(v[2], v[3]);
    // Half k of t[j] holds rows 0-3 of token 4k + j.
    const __m256 t[4] = {_mm256_shuffle_ps(a, c, 0x44), _mm256_shuffle_ps(a, c, 0xee), _mm256_shuffle_ps(b, d, 0x44),
                         _mm256_shuffle_ps(b, d, 0xee)};
    const __m128 add = bias ? _mm_loadu_ps(bias) : _mm_setzero_ps();
    const auto put = [&](int token, __m128 x) { _mm_storeu_ps(y + token * ld, bias ? _mm_add_ps(x, add) : x); };
    for (int j = 0; j < 4; ++j) {
      put(j, _mm256_castps256_ps128(t[j]));
      put(4 + j, _mm256_extractf128_ps(t[j], 1));
    }
  }
};

}  // namespace

#if defined(R1_AVX_VNNI)
bool gemm_avxvnni_has(DType type) { return gemm_has<Avx2Gemm>(type); }
void gemm_avxvnni(std::span<const GemmArgs> jobs, ThreadPool& pool) { gemm_run<Avx2Gemm>(jobs, pool); }
#else
bool gemm_avx2_has(DType type) { return gemm_has<Avx2Gemm>(type); }
void gemm_avx2(std::span<const GemmArgs> jobs, ThreadPool& pool) { gemm_run<Avx2Gemm>(jobs, pool); }
#endif

}  // namespace r1::quant
