// The row-group mat-vec (row_groups.h) for AVX-512 F/BW/VL + VNNI: each int32 lane is one of the group's
// 16 rows, so a block's sums need no reduction across lanes.
#include "kernels/cpu/avx512_intrinsics.h"  // first: it sets warning state before <immintrin.h>
#include "kernels/cpu/quant_dot_ref.h"
#include "kernels/cpu/row_groups.h"
#include "kernels/cpu/row_groups_blocks.h"

namespace r1::quant {

namespace {

__m512i widen(__m128i bytes) { return _mm512_cvtepu8_epi32(bytes); }
__m512 halves(const uint16_t* h) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h))); }
__m512i broadcast4(const int8_t* p) {
  int32_t x;
  std::memcpy(&x, p, 4);
  return _mm512_set1_epi32(x);
}

// The 16 rows' integer sums of one block against activation block a, as RecipeQ4_K::sums gives each:
// q = Σ_j sc_j · Σ_{l ∈ j} v_l·qa_l and m = Σ_j mn_j · (Σ qa over sub-block j).
[[gnu::always_inline]] inline void block_sums_q4k(const GroupQ4_K& g, const BlockQ8_K& a, __m512i& q, __m512i& m) {
  // The 6-bit scales and minimums of sub-block j for all 16 rows (unpack_k4_scales, bytewise).
  __m128i s[12];
  for (int k = 0; k < 12; ++k) s[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.scales[k]));
  const __m128i low6 = _mm_set1_epi8(63), low4 = _mm_set1_epi8(15), bits45 = _mm_set1_epi8(0x30);
  __m128i sc[8], mn[8];
  for (int j = 0; j < 4; ++j) {
    sc[j] = _mm_and_si128(s[j], low6);
    mn[j] = _mm_and_si128(s[j + 4], low6);
    sc[j + 4] = _mm_or_si128(_mm_and_si128(s[j + 8], low4), _mm_and_si128(_mm_srli_epi16(s[j], 2), bits45));
    mn[j + 4] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(s[j + 8], 4), low4),
                             _mm_and_si128(_mm_srli_epi16(s[j + 4], 2), bits45));
  }
  const __m512i nibble = _mm512_set1_epi8(15);
  q = _mm512_setzero_si512();
  for (int c = 0; c < 4; ++c) {  // sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles)
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
    for (int k = 0; k < 8; ++k) {
      const __m512i w = _mm512_loadu_si512(g.qs[8 * c + k]);
      lo = _mm512_dpbusd_epi32(lo, _mm512_and_si512(w, nibble), broadcast4(a.qs + 64 * c + 4 * k));
      hi = _mm512_dpbusd_epi32(hi, _mm512_and_si512(_mm512_srli_epi16(w, 4), nibble), broadcast4(a.qs + 64 * c + 32 + 4 * k));
    }
    q = _mm512_add_epi32(q, _mm512_mullo_epi32(lo, widen(sc[2 * c])));
    q = _mm512_add_epi32(q, _mm512_mullo_epi32(hi, widen(sc[2 * c + 1])));
  }
  m = _mm512_setzero_si512();
  for (int j = 0; j < 8; ++j) {
    const __m512i bsum = _mm512_set1_epi32(a.bsums[2 * j] + a.bsums[2 * j + 1]);
    m = _mm512_add_epi32(m, _mm512_mullo_epi32(widen(mn[j]), bsum));
  }
}

// Block b's contribution into partial sum p (lane per row), as RecipeQ4_K::finish: fma(d·da, q, p), then
// fma(−(dmin·da), m, p).
[[gnu::always_inline]] inline __m512 finish_q4k(const GroupQ4_K& g, const BlockQ8_K& a, __m512 p) {
  __m512i q, m;
  block_sums_q4k(g, a, q, m);
  const __m512 da = _mm512_set1_ps(a.d);
  p = _mm512_fmadd_ps(_mm512_mul_ps(halves(g.d), da), _mm512_cvtepi32_ps(q), p);
  return _mm512_fnmadd_ps(_mm512_mul_ps(halves(g.dmin), da), _mm512_cvtepi32_ps(m), p);
}

// Q6_K: per half h and l < 32, values l, l+32, l+64, l+96 are the low nibble of ql[64h+l], of
// ql[64h+32+l], the high nibbles of both, with bits 0-1, 2-3, 4-5, 6-7 of qh[32h+l] as bits 4-5
// (RecipeQ6_K::unpack); value e is in sub-block e / 16. q = Σ_j sc_j · (Σ_{l ∈ j} u_l·qa_l − 32·bsum_j)
// as RecipeQ6_K::sums, then fma(d·da, q, p).
[[gnu::always_inline]] inline __m512 finish_q6k(const GroupQ6_K& g, const BlockQ8_K& a, __m512 p) {
  const __m512i low4 = _mm512_set1_epi8(15), bits45 = _mm512_set1_epi8(0x30);
  __m512i q = _mm512_setzero_si512();
  for (int h = 0; h < 2; ++h) {
    for (int half = 0; half < 2; ++half) {  // l < 16, then l ≥ 16: sub-blocks 8h + 2k + half
      __m512i s[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
      for (int c = 4 * half; c < 4 * half + 4; ++c) {  // bytes l = 4c .. 4c+3
        const auto& step = g.q[8 * h + c];
        const __m512i l0 = _mm512_loadu_si512(step[0]), l1 = _mm512_loadu_si512(step[1]), hb = _mm512_loadu_si512(step[2]);
        const __m512i u[4] = {
            _mm512_or_si512(_mm512_and_si512(l0, low4), _mm512_and_si512(_mm512_slli_epi16(hb, 4), bits45)),
            _mm512_or_si512(_mm512_and_si512(l1, low4), _mm512_and_si512(_mm512_slli_epi16(hb, 2), bits45)),
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l0, 4), low4), _mm512_and_si512(hb, bits45)),
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l1, 4), low4), _mm512_and_si512(_mm512_srli_epi16(hb, 2), bits45))};
        for (int k = 0; k < 4; ++k) s[k] = _mm512_dpbusd_epi32(s[k], u[k], broadcast4(a.qs + 128 * h + 32 * k + 4 * c));
      }
      for (int k = 0; k < 4; ++k) {
        const int j = 8 * h + 2 * k + half;
        const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.scales[j])));
        const __m512i offset = _mm512_set1_epi32(32 * a.bsums[j]);
        q = _mm512_add_epi32(q, _mm512_mullo_epi32(_mm512_sub_epi32(s[k], offset), sc));
      }
    }
  }
  return _mm512_fmadd_ps(_mm512_mul_ps(halves(g.d), _mm512_set1_ps(a.d)), _mm512_cvtepi32_ps(q), p);
}

// Four partial sums per row (block b into partial b % 4), added as Partials::total does, lane by lane.
template <class Group, __m512 (*kFinish)(const Group&, const BlockQ8_K&, __m512)>
void mat_vec_groups(int64_t n, const void* wv, int groups, const void* av, float* out) {
  const auto* a = static_cast<const BlockQ8_K*>(av);
  const int64_t blocks = n / kQK;
  const auto* w = static_cast<const Group*>(wv);
  for (int grp = 0; grp < groups; ++grp, w += blocks) {
    __m512 p[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t b = 0;
    for (; b + 4 <= blocks; b += 4) {
      for (int k = 0; k < 4; ++k) p[k] = kFinish(w[b + k], a[b + k], p[k]);
    }
    for (int k = 0; b + k < blocks; ++k) p[k] = kFinish(w[b + k], a[b + k], p[k]);
    _mm512_storeu_ps(out + kRowGroup * grp, _mm512_add_ps(_mm512_add_ps(p[0], p[1]), _mm512_add_ps(p[2], p[3])));
  }
}

}  // namespace

MatVecGroups mat_vec_groups_avx512vnni(DType t) {
  switch (t) {
    case DType::Q4_K: return mat_vec_groups<GroupQ4_K, finish_q4k>;
    case DType::Q6_K: return mat_vec_groups<GroupQ6_K, finish_q6k>;
    default: return nullptr;
  }
}

}  // namespace r1::quant
