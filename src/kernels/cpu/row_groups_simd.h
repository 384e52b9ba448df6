// The row-group mat-vec kernels (row_groups.h), written once over an instruction-set policy P
// (row_groups_avx512vnni.cpp, row_groups_avx2.cpp). Each int32 lane is one of the group's 16 rows, so a
// block's sums need no reduction across lanes; they are the recipe's exact integer sums (quant_dot_ref.h),
// finished with the recipe's float operations lane by lane: the scalar reference's bits for every row.
//
// P works on 16 lanes: B (64 bytes, four per row), I (16 int32), F (16 float):
//   load(p), and_, or_, srli16<n>, slli16<n>, bytes(v)         B; shifts within 16-bit lanes
//   zero, add, sub, mullo, set1(int32)                          I
//   dot(acc, u, a4)            acc += Σ of each row's four u·qa, u ≤ 127 unsigned, qa = a4[0..3] (all rows)
//   dot_q8(acc, stored, a4)    the same for Q8_0's stored bytes v + 128: Σ (v + 128)·qa where
//                              kQ8Offset, else Σ v·qa
//   widen_u8, widen_i8(x)      the 16 bytes of x (one per row) as I
//   halves(p), set1f, mul, fmadd, fnmadd, cvt, addf, store      F; fmadd and fnmadd rounded once
//
// The 16 rows' scale bytes are unpacked with SSE2 (16 bytes, one per row): x86 only as written.
//
// Internal linkage throughout: each instruction set's translation unit has its own copy.
#pragma once

#include <cstring>

#include "kernels/cpu/quant_dot_ref.h"
#include "kernels/cpu/row_groups.h"
#include "kernels/cpu/row_groups_blocks.h"

namespace r1::quant {
namespace {

template <class P>
struct RowGroupKernels {
  using B = typename P::B;
  using I = typename P::I;
  using F = typename P::F;

  // The 16 rows' integer sums of one block against activation block a, as RecipeQ4_K::sums gives each:
  // q = Σ_j sc_j · Σ_{l ∈ j} v_l·qa_l and m = Σ_j mn_j · (Σ qa over sub-block j).
  [[gnu::always_inline]] static void block_sums_q4k(const GroupQ4_K& g, const BlockQ8_K& a, I& q, I& m) {
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
    const B nibble = P::bytes(15);
    q = P::zero();
    for (int c = 0; c < 4; ++c) {  // sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles)
      I lo = P::zero(), hi = P::zero();
      for (int k = 0; k < 8; ++k) {
        const B w = P::load(g.qs[8 * c + k]);
        lo = P::dot(lo, P::and_(w, nibble), a.qs + 64 * c + 4 * k);
        hi = P::dot(hi, P::and_(P::template srli16<4>(w), nibble), a.qs + 64 * c + 32 + 4 * k);
      }
      q = P::add(q, P::mullo(lo, P::widen_u8(sc[2 * c])));
      q = P::add(q, P::mullo(hi, P::widen_u8(sc[2 * c + 1])));
    }
    m = P::zero();
    for (int j = 0; j < 8; ++j) {
      m = P::add(m, P::mullo(P::widen_u8(mn[j]), P::set1(a.bsums[2 * j] + a.bsums[2 * j + 1])));
    }
  }

  // Block b's contribution into partial sum p (lane per row), as RecipeQ4_K::finish: fma(d·da, q, p), then
  // fma(−(dmin·da), m, p).
  [[gnu::always_inline]] static F finish_q4k(const GroupQ4_K& g, const BlockQ8_K& a, F p) {
    I q, m;
    block_sums_q4k(g, a, q, m);
    const F da = P::set1f(a.d);
    p = P::fmadd(P::mul(P::halves(g.d), da), P::cvt(q), p);
    return P::fnmadd(P::mul(P::halves(g.dmin), da), P::cvt(m), p);
  }

  // Q6_K: per half h and l < 32, values l, l+32, l+64, l+96 are the low nibble of ql[64h+l], of
  // ql[64h+32+l], the high nibbles of both, with bits 0-1, 2-3, 4-5, 6-7 of qh[32h+l] as bits 4-5
  // (RecipeQ6_K::unpack); value e is in sub-block e / 16. q = Σ_j sc_j · (Σ_{l ∈ j} u_l·qa_l − 32·bsum_j)
  // as RecipeQ6_K::sums, then fma(d·da, q, p).
  [[gnu::always_inline]] static F finish_q6k(const GroupQ6_K& g, const BlockQ8_K& a, F p) {
    const B low4 = P::bytes(15), bits45 = P::bytes(0x30);
    I q = P::zero();
    for (int h = 0; h < 2; ++h) {
      for (int half = 0; half < 2; ++half) {  // l < 16, then l ≥ 16: sub-blocks 8h + 2k + half
        I s[4] = {P::zero(), P::zero(), P::zero(), P::zero()};
        for (int c = 4 * half; c < 4 * half + 4; ++c) {  // bytes l = 4c .. 4c+3
          const auto& step = g.q[8 * h + c];
          const B l0 = P::load(step[0]), l1 = P::load(step[1]), hb = P::load(step[2]);
          const B u[4] = {
              P::or_(P::and_(l0, low4), P::and_(P::template slli16<4>(hb), bits45)),
              P::or_(P::and_(l1, low4), P::and_(P::template slli16<2>(hb), bits45)),
              P::or_(P::and_(P::template srli16<4>(l0), low4), P::and_(hb, bits45)),
              P::or_(P::and_(P::template srli16<4>(l1), low4), P::and_(P::template srli16<2>(hb), bits45))};
          for (int k = 0; k < 4; ++k) s[k] = P::dot(s[k], u[k], a.qs + 128 * h + 32 * k + 4 * c);
        }
        for (int k = 0; k < 4; ++k) {
          const int j = 8 * h + 2 * k + half;
          const I sc = P::widen_i8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.scales[j])));
          q = P::add(q, P::mullo(P::sub(s[k], P::set1(32 * a.bsums[j])), sc));
        }
      }
    }
    return P::fmadd(P::mul(P::halves(g.d), P::set1f(a.d)), P::cvt(q), p);
  }

  // Q8_0: q = Σ v·qa (from the stored v + 128 less 128·Σ qa where the policy's dot leaves it in), then
  // fma(d·da, q, p) as RecipeQ8_0::finish.
  [[gnu::always_inline]] static F finish_q8_0(const GroupQ8_0& g, const ActBlock32& a, F p) {
    I s[2] = {P::zero(), P::zero()};  // two chains of four
    for (int c = 0; c < 8; ++c) s[c & 1] = P::dot_q8(s[c & 1], P::load(g.qs[c]), a.qs + 4 * c);
    I q = P::add(s[0], s[1]);
    if constexpr (P::kQ8Offset) q = P::sub(q, P::set1(128 * a.sum));
    return P::fmadd(P::mul(P::halves(g.d), P::set1f(a.d)), P::cvt(q), p);
  }

  // Four partial sums per row (block b into partial b % 4), added as Partials::total does, lane by lane.
  template <class Group, class Act, F (*kFinish)(const Group&, const Act&, F)>
  static void mat_vec_groups(int64_t n, const void* wv, int groups, const void* av, float* out) {
    const auto* a = static_cast<const Act*>(av);
    const int64_t blocks = n / Group::Block::kElems;
    const auto* w = static_cast<const Group*>(wv);
    for (int grp = 0; grp < groups; ++grp, w += blocks) {
      F p[4] = {P::zerof(), P::zerof(), P::zerof(), P::zerof()};
      int64_t b = 0;
      for (; b + 4 <= blocks; b += 4) {
        for (int k = 0; k < 4; ++k) p[k] = kFinish(w[b + k], a[b + k], p[k]);
      }
      for (int k = 0; b + k < blocks; ++k) p[k] = kFinish(w[b + k], a[b + k], p[k]);
      P::store(out + kRowGroup * grp, P::addf(P::addf(p[0], p[1]), P::addf(p[2], p[3])));
    }
  }

  static MatVecGroups table(DType t) {
    switch (t) {
      case DType::Q4_K: return mat_vec_groups<GroupQ4_K, BlockQ8_K, finish_q4k>;
      case DType::Q6_K: return mat_vec_groups<GroupQ6_K, BlockQ8_K, finish_q6k>;
      case DType::Q8_0: return mat_vec_groups<GroupQ8_0, ActBlock32, finish_q8_0>;
      default: return nullptr;
    }
  }
};

}  // namespace
}  // namespace r1::quant
