// The tiled int8 matrix product on AVX512-VNNI: 16 tokens per register, vpdpbusd (quant_gemm_simd.h).

#include "kernels/cpu/avx512_intrinsics.h"  // first: it sets warning state before <immintrin.h>

#include "kernels/cpu/quant_gemm_simd.h"

namespace r1::quant {
namespace {

using int32_alias = int32_t __attribute__((may_alias, aligned(1)));  // four weight bytes read as one word

struct Avx512Vnni {
  static constexpr int kLanes = 16;
  // Three token groups: 12 accumulator chains (as many vpdpbusd in flight as its latency times its
  // throughput asks for) and 12 block sums fit the 32 registers; an MoE expert's 48 tokens take one call
  // instead of two, 4-9 % faster than with two (r1_bench_quant, bench/RESULTS.md).
  static constexpr int kMaxGroups = 3;
  using I = __m512i;
  using F = __m512;
  static I zero_i() { return _mm512_setzero_si512(); }
  static F zero_f() { return _mm512_setzero_ps(); }
  static I set1_i(int32_t x) { return _mm512_set1_epi32(x); }
  static F set1_f(float x) { return _mm512_set1_ps(x); }
  static I load_i(const int32_t* p) { return _mm512_load_si512(p); }
  static F load_f(const float* p) { return _mm512_load_ps(p); }
  static void store_f(float* p, F x) { _mm512_store_ps(p, x); }
  static I add_i(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub_i(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I mullo_i(I a, I b) { return _mm512_mullo_epi32(a, b); }
  static I dot2_i16(I c, I x, I w) { return _mm512_dpwssd_epi32(c, x, w); }
  static F add_f(F a, F b) { return _mm512_add_ps(a, b); }
  static F mul_f(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fma_f(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F cvt(I x) { return _mm512_cvtepi32_ps(x); }
  static I load_act(const uint8_t* p) { return _mm512_load_si512(p); }
  static I broadcast4(const int8_t* p) { return _mm512_set1_epi32(*reinterpret_cast<const int32_alias*>(p)); }
  static constexpr bool kScaleInDot = false;
  static I dot4(I c, I x, I w) { return _mm512_dpbusd_epi32(c, x, w); }

  // y[l·ld + r] = v[r][l] (+ bias[r]) for 4 rows × 16 tokens: a 4 × 4 transpose per 128-bit lane turns the
  // token-lane vectors into one 4-row store per token.
  static void store_panel(const F v[kPanel], float* y, int64_t ld, const float* bias) {
    static_assert(kPanel == 4);
    const __m512 a = _mm512_unpacklo_ps(v[0], v[1]), b = _mm512_unpackhi_ps(v[0], v[1]);
    const __m512 c = _mm512_unpacklo_ps(v[2], v[3]), d = _mm512_unpackhi_ps(v[2], v[3]);
    // Lane k of t[j] holds rows 0-3 of token 4k + j.
    const __m512 t[4] = {_mm512_shuffle_ps(a, c, 0x44), _mm512_shuffle_ps(a, c, 0xee), _mm512_shuffle_ps(b, d, 0x44),
                         _mm512_shuffle_ps(b, d, 0xee)};
    const __m128 add = bias ? _mm_loadu_ps(bias) : _mm_setzero_ps();
    const auto put = [&](int token, __m128 x) { _mm_storeu_ps(y + token * ld, bias ? _mm_add_ps(x, add) : x); };
    for (int j = 0; j < 4; ++j) {
      put(j, _mm512_castps512_ps128(t[j]));
      put(4 + j, _mm512_extractf32x4_ps(t[j], 1));
      put(8 + j, _mm512_extractf32x4_ps(t[j], 2));
      put(12 + j, _mm512_extractf32x4_ps(t[j], 3));
    }
  }
};

}  // namespace

bool gemm_avx512vnni_has(DType type) { return gemm_has<Avx512Vnni>(type); }
void gemm_avx512vnni(std::span<const GemmArgs> jobs, ThreadPool& pool) { gemm_run<Avx512Vnni>(jobs, pool); }

}  // namespace r1::quant
