// The row-group mat-vec kernels (row_groups.h), written once over an instruction-set policy P
// (row_groups_avx512vnni.cpp, row_groups_avx2.cpp, row_groups_neon.h). Each int32 lane is one of the
// group's 16 rows, so a block's sums need no reduction across lanes; they are the recipe's exact integer
// sums (quant_dot_ref.h), finished with the recipe's float operations lane by lane: the scalar
// reference's bits for every row.
//
// P works on 16 lanes: B (64 bytes, four per row), I (16 int32), F (16 float):
//   load(p), and_, or_, srli16<n>, slli16<n>, srl16(x, n), bytes(v)   B (shifts: see below)
//   zero, add, sub, mullo, set1(int32)                          I
//   dot(acc, u, a4)            acc += Σ of each row's four u·qa, u ≤ 127 unsigned, qa = a4[0..3] (all rows)
//   dot_q8(acc, stored, a4)    the same for Q8_0's stored bytes v + 128: Σ (v + 128)·qa where
//                              kQ8Offset, else Σ v·qa
//   kPrefetchWide              whether Q4_K, Q5_K, Q8_0 and IQ4_XS are prefetched too (kPrefetch below)
//   lookup16(table, idx)       table[idx] per byte, idx < 16 (the IQ4 grid)
//   halves(p), set1f, mul, fmadd, fnmadd, cvt, addf, store      F; fmadd and fnmadd rounded once
// and R, 16 bytes, one per row (the rows' scale bytes):
//   rload(p), rand, ror, radd, rsub (bytewise), rset(v), rshr(x, n), rshl(x, n)
//   rsplit16(h, lo, hi)        the low and high bytes of the 16 rows' uint16 h[16]
//   widen_u8, widen_i8(x)      the 16 bytes of x as I
// Shifts of B and R: x86 shifts 16-bit lanes, NEON bytes; every use masks the result to bits that came
// from the same byte, where the two agree.
//
// Internal linkage throughout: each instruction set's translation unit has its own copy.
#pragma once

#include <array>
#include <cstring>
#include <type_traits>

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
  using R = typename P::R;

  // Each kernel takes kT ≤ kMaxTokens activation rows (a[t]: token t's block) and updates every token's
  // partial sums p[t] from one pass over the weight bytes: the weights are decoded once per block for all
  // tokens, and each token sees exactly the operations it would alone.

  // The recipes' float step of a block: p[t] = fma(d·da_t, q_t, p[t]), d the rows' fp16 scales (the
  // codebook types: (d·F)·da_t, F their power of two).
  template <int kT, class Act>
  static void add_scaled(const uint16_t* d16, const Act* const* a, const I* q, F* p, float factor = 1.0f) {
    const F d = factor == 1.0f ? P::halves(d16) : P::mul(P::halves(d16), P::set1f(factor));
    for (int t = 0; t < kT; ++t) p[t] = P::fmadd(P::mul(d, P::set1f(a[t]->d)), P::cvt(q[t]), p[t]);
  }
  // The K-quants' minimums after it: p[t] = fma(−(dmin·da_t), Σ_j mn_j·bsum(a_t, j), p[t]), mn[j] the rows'
  // minimum j.
  template <int kT, int kSubs, class BlockSum>
  static void subtract_mins(const uint16_t* dmin16, const R* mn, const BlockQ8_K* const* a, BlockSum&& bsum, F* p) {
    const F dmin = P::halves(dmin16);
    for (int t = 0; t < kT; ++t) {
      I m = P::zero();
      for (int j = 0; j < kSubs; ++j) m = P::add(m, P::mullo(P::widen_u8(mn[j]), P::set1(bsum(*a[t], j))));
      p[t] = P::fnmadd(P::mul(dmin, P::set1f(a[t]->d)), P::cvt(m), p[t]);
    }
  }
  // Sums over values stored plus 128 (dot_q8) less 128·Σ qa, where the policy's dot leaves that in.
  static I unshifted(I sum, int32_t qa_sum) {
    if constexpr (P::kQ8Offset) return P::sub(sum, P::set1(128 * qa_sum));
    return sum;
  }

  // Q4_K / Q5_K: q = Σ_j sc_j · Σ_{l ∈ j} v_l·qa_l and m = Σ_j mn_j · (Σ qa over sub-block j) as
  // RecipeK45::sums, then fma(d·da, q, p) and fma(−(dmin·da), m, p) as its finish. Q5_K's bit 4 of value l
  // of sub-block j is bit j of qh[l].
  template <int kT, class Group>
  [[gnu::always_inline]] static void finish_k45(const Group& g, const BlockQ8_K* const* a, F* p) {
    // The 6-bit scales and minimums of sub-block j for all 16 rows (unpack_k4_scales, bytewise).
    R s[12];
    for (int k = 0; k < 12; ++k) s[k] = P::rload(g.scales[k]);
    const R low6 = P::rset(63), low4 = P::rset(15), bits45 = P::rset(0x30);
    R sc[8], mn[8];
    for (int j = 0; j < 4; ++j) {
      sc[j] = P::rand(s[j], low6);
      mn[j] = P::rand(s[j + 4], low6);
      sc[j + 4] = P::ror(P::rand(s[j + 8], low4), P::rand(P::rshr(s[j], 2), bits45));
      mn[j + 4] = P::ror(P::rand(P::rshr(s[j + 8], 4), low4), P::rand(P::rshr(s[j + 4], 2), bits45));
    }
    const B nibble = P::bytes(15);
    I q[kT];
    for (I& x : q) x = P::zero();
    for (int c = 0; c < 4; ++c) {  // sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles)
      I lo[kT], hi[kT];
      for (int t = 0; t < kT; ++t) lo[t] = hi[t] = P::zero();
      for (int k = 0; k < 8; ++k) {
        const B w = P::load(g.qs[8 * c + k]);
        B ul = P::and_(w, nibble), uh = P::and_(P::template srli16<4>(w), nibble);
        if constexpr (std::is_same_v<Group, GroupQ5_K>) {  // bits 2c and 2c + 1 of each qh byte to bit 4
          const B h = P::srl16(P::load(g.qh[k]), 2 * c), bit4 = P::bytes(16);
          ul = P::or_(ul, P::and_(P::template slli16<4>(h), bit4));
          uh = P::or_(uh, P::and_(P::template slli16<3>(h), bit4));
        }
        for (int t = 0; t < kT; ++t) {
          lo[t] = P::dot(lo[t], ul, a[t]->qs + 64 * c + 4 * k);
          hi[t] = P::dot(hi[t], uh, a[t]->qs + 64 * c + 32 + 4 * k);
        }
      }
      const I sl = P::widen_u8(sc[2 * c]), sh = P::widen_u8(sc[2 * c + 1]);
      for (int t = 0; t < kT; ++t) q[t] = P::add(P::add(q[t], P::mullo(lo[t], sl)), P::mullo(hi[t], sh));
    }
    add_scaled<kT>(g.d, a, q, p);
    subtract_mins<kT, 8>(g.dmin, mn, a, [](const BlockQ8_K& x, int j) { return x.bsums[2 * j] + x.bsums[2 * j + 1]; }, p);
  }

  // Q6_K: per half h and l < 32, values l, l+32, l+64, l+96 are the low nibble of ql[64h+l], of
  // ql[64h+32+l], the high nibbles of both, with bits 0-1, 2-3, 4-5, 6-7 of qh[32h+l] as bits 4-5
  // (RecipeQ6_K::unpack); value e is in sub-block e / 16. q = Σ_j sc_j · (Σ_{l ∈ j} u_l·qa_l − 32·bsum_j)
  // as RecipeQ6_K::sums, then fma(d·da, q, p).
  template <int kT>
  [[gnu::always_inline]] static void finish_q6k(const GroupQ6_K& g, const BlockQ8_K* const* a, F* p) {
    const B low4 = P::bytes(15), bits45 = P::bytes(0x30);
    I q[kT];
    for (I& x : q) x = P::zero();
    for (int h = 0; h < 2; ++h) {
      for (int half = 0; half < 2; ++half) {  // l < 16, then l ≥ 16: sub-blocks 8h + 2k + half
        I s[kT][4];
        for (auto& st : s) {
          for (I& x : st) x = P::zero();
        }
        for (int c = 4 * half; c < 4 * half + 4; ++c) {  // bytes l = 4c .. 4c+3
          const auto& step = g.q[8 * h + c];
          const B l0 = P::load(step[0]), l1 = P::load(step[1]), hb = P::load(step[2]);
          const B u[4] = {
              P::or_(P::and_(l0, low4), P::and_(P::template slli16<4>(hb), bits45)),
              P::or_(P::and_(l1, low4), P::and_(P::template slli16<2>(hb), bits45)),
              P::or_(P::and_(P::template srli16<4>(l0), low4), P::and_(hb, bits45)),
              P::or_(P::and_(P::template srli16<4>(l1), low4), P::and_(P::template srli16<2>(hb), bits45))};
          for (int t = 0; t < kT; ++t) {
            for (int k = 0; k < 4; ++k) s[t][k] = P::dot(s[t][k], u[k], a[t]->qs + 128 * h + 32 * k + 4 * c);
          }
        }
        for (int k = 0; k < 4; ++k) {
          const int j = 8 * h + 2 * k + half;
          const I sc = P::widen_i8(P::rload(g.scales[j]));
          for (int t = 0; t < kT; ++t) q[t] = P::add(q[t], P::mullo(P::sub(s[t][k], P::set1(32 * a[t]->bsums[j])), sc));
        }
      }
    }
    add_scaled<kT>(g.d, a, q, p);
  }

  // Q2_K / Q3_K: value 128h + 32g + l is bits 2g..2g+1 of qs[32h + l] (Q3_K: plus bit 4h + g of hmask[l] as
  // bit 2), in sub-block j = 8h + 2g + (l ≥ 16). As RecipeQ2_K::sums: q = Σ_j sc_j · Σ_{l ∈ j} u_l·qa_l and
  // m = Σ_j m_j · bsum_j (scale byte j = sc_j | m_j << 4), finished as Q4_K; as RecipeQ3_K::sums:
  // q = Σ_j s_j · (Σ_{l ∈ j} u_l·qa_l − 4·bsum_j), s_j the unpacked scale minus 32, then fma(d·da, q, p).
  template <int kT, class Group>
  [[gnu::always_inline]] static void finish_q23k(const Group& g, const BlockQ8_K* const* a, F* p) {
    constexpr bool kQ3 = std::is_same_v<Group, GroupQ3_K>;
    const B low2 = P::bytes(3), bit2 = P::bytes(4);
    const R low4 = P::rset(15);
    R scale[16];  // the 16 rows' scale j (Q2_K: its low nibble; Q3_K: s_j, signed)
    if constexpr (kQ3) {  // unpack_q3k_scales, bytewise: low 4 bits from byte j % 8, high 2 from byte 8 + j % 4
      R s[12];
      for (int k = 0; k < 12; ++k) s[k] = P::rload(g.scales[k]);
      const R low2x = P::rset(3), k32 = P::rset(32);
      for (int j = 0; j < 16; ++j) {
        const R lo = P::rand(j < 8 ? s[j] : P::rshr(s[j - 8], 4), low4);
        const R hi = P::rand(P::rshr(s[8 + j % 4], 2 * (j / 4)), low2x);
        scale[j] = P::rsub(P::ror(lo, P::rshl(hi, 4)), k32);
      }
    } else {
      for (int j = 0; j < 16; ++j) scale[j] = P::rand(P::rload(g.scales[j]), low4);
    }
    I q[kT];
    for (I& x : q) x = P::zero();
    for (int h = 0; h < 2; ++h) {
      for (int half = 0; half < 2; ++half) {
        I s[kT][4];
        for (auto& st : s) {
          for (I& x : st) x = P::zero();
        }
        for (int c = 4 * half; c < 4 * half + 4; ++c) {  // bytes l = 4c .. 4c+3 of qs[32h ..]
          const B w = P::load(g.qs[8 * h + c]);
          for (int k = 0; k < 4; ++k) {
            B u = P::and_(P::srl16(w, 2 * k), low2);
            if constexpr (kQ3) u = P::or_(u, P::and_(P::template slli16<2>(P::srl16(P::load(g.hmask[c]), 4 * h + k)), bit2));
            for (int t = 0; t < kT; ++t) s[t][k] = P::dot(s[t][k], u, a[t]->qs + 128 * h + 32 * k + 4 * c);
          }
        }
        for (int k = 0; k < 4; ++k) {
          const int j = 8 * h + 2 * k + half;
          if constexpr (kQ3) {
            const I sc = P::widen_i8(scale[j]);
            for (int t = 0; t < kT; ++t) q[t] = P::add(q[t], P::mullo(P::sub(s[t][k], P::set1(4 * a[t]->bsums[j])), sc));
          } else {
            const I sc = P::widen_u8(scale[j]);
            for (int t = 0; t < kT; ++t) q[t] = P::add(q[t], P::mullo(s[t][k], sc));
          }
        }
      }
    }
    add_scaled<kT>(g.d, a, q, p);
    if constexpr (!kQ3) {  // Q2_K's minimums: the high nibbles of its scale bytes
      R mn[16];
      for (int j = 0; j < 16; ++j) mn[j] = P::rand(P::rshr(P::rload(g.scales[j]), 4), low4);
      subtract_mins<kT, 16>(g.dmin, mn, a, [](const BlockQ8_K& x, int j) { return int32_t(x.bsums[j]); }, p);
    }
  }

  // The codebook types' stored forms (row_groups_blocks.h) share two steps:
  // the 16 rows' odd scale 2s + 1 from nibble j of their nibble arrays (s = the nibble & mask), ...
  static I odd_scales(const uint8_t (*nibbles)[16], int j, int mask) {
    const R m = P::rload(nibbles[j / 2]);
    const R s = P::rand(j % 2 ? P::rshr(m, 4) : m, P::rset(int8_t(mask)));
    return P::widen_u8(P::radd(P::radd(s, s), P::rset(1)));
  }
  // ... and, for the 2-bit codes in Q2_K's value layout with a bit plane beside them (Q3_K's hmask layout,
  // or none), the sums over each 16 values j = 8h + 2k + half: done(j, s) with s[t] = Σ u·qa_t, u =
  // value(code, plane bit) as bytes, the code already masked to two bits, the bit to bit 0.
  template <int kT, class Value, class Done>
  [[gnu::always_inline]] static void sums_2bit(const uint8_t (*qs)[16][4], const uint8_t (*plane)[16][4],
                                               const BlockQ8_K* const* a, Value&& value, Done&& done) {
    const B low2 = P::bytes(3), bit0 = P::bytes(1);
    for (int h = 0; h < 2; ++h) {
      for (int half = 0; half < 2; ++half) {
        I s[4][kT];
        for (auto& sk : s) {
          for (I& x : sk) x = P::zero();
        }
        for (int c = 4 * half; c < 4 * half + 4; ++c) {  // bytes l = 4c .. 4c+3 of qs[32h ..] and of the plane
          const B w = P::load(qs[8 * h + c]), bits = plane ? P::load(plane[c]) : w;
          for (int k = 0; k < 4; ++k) {
            const B u = value(P::and_(P::srl16(w, 2 * k), low2), P::and_(P::srl16(bits, 4 * h + k), bit0));
            for (int t = 0; t < kT; ++t) s[k][t] = P::dot(s[k][t], u, a[t]->qs + 128 * h + 32 * k + 4 * c);
          }
        }
        for (int k = 0; k < 4; ++k) done(8 * h + 2 * k + half, s[k]);
      }
    }
  }

  // IQ1_S from its codes c = g + 1 (row_groups_blocks.h), in Q2_K's value layout: v = 8g ± 1 = 8c − δ with
  // δ = 7 (shift +1/8) or 9 (−1/8), so over each 16 values j, Σ v·qa = 8·Σ c·qa − δ·bsum_j, and
  // q = Σ_j sc_j·(8·Σ_{l ∈ j} c_l·qa_l − δ·bsum_j), sc = 2s + 1 and δ those of sub-block j / 2: the exact
  // integer RecipeIQ<BlockIQ1_S>::sums computes, then fma((d/8)·da, q, p) as its finish.
  template <int kT>
  [[gnu::always_inline]] static void finish_iq1s(const GroupIQ1_S& g, const BlockQ8_K* const* a, F* p) {
    I sc8[8], sd[8];  // per sub-block of 32: 8·sc and sc·δ, for the 16 rows
    for (int j = 0; j < 8; ++j) {  // meta nibble j: bits 0-2 s, bit 3 the shift's sign
      const R minus = P::rand(P::rshr(P::rload(g.meta[j / 2]), 4 * (j % 2) + 3), P::rset(1));
      const I sc = odd_scales(g.meta, j, 7);
      sc8[j] = P::mullo(sc, P::set1(8));
      sd[j] = P::mullo(sc, P::widen_u8(P::radd(P::rset(7), P::radd(minus, minus))));
    }
    I q[kT];
    for (I& x : q) x = P::zero();
    sums_2bit<kT>(g.qs, nullptr, a, [](B code, B) { return code; }, [&](int j, const I* s) {
      for (int t = 0; t < kT; ++t) q[t] = P::add(q[t], P::sub(P::mullo(s[t], sc8[j / 2]), P::mullo(sd[j / 2], P::set1(a[t]->bsums[j]))));
    });
    add_scaled<kT>(g.d, a, q, p, BlockIQ1_S::kFactor);
  }

  // IQ2_XXS / IQ2_XS / IQ2_S from their codes (row_groups_blocks.h): v = ±m, m in {8, 25, 43}; the index
  // code | sign << 2 looks up v + 43 (unsigned, at most 86), so over each 16 values j,
  // Σ v·qa = Σ (v + 43)·qa − 43·bsum_j, and q = Σ_j sc_j·(that) with sc = 2s + 1: RecipeIQ's exact
  // integers, then fma((d/8)·da, q, p).
  static constexpr std::array<uint8_t, 16> kIQ2Plus43 = [] {  // index code | sign << 2 (codes 0-2; the rest unused)
    std::array<uint8_t, 16> t{};
    for (unsigned c = 0; c < 4; ++c) {
      const int m = c < 3 ? iq2_magnitude(c) : 0;
      t[c] = uint8_t(43 + m);
      t[c + 4] = uint8_t(43 - m);
    }
    return t;
  }();
  template <int kT, class FileBlock>
  [[gnu::always_inline]] static void finish_iq2(const GroupIQ2<FileBlock>& g, const BlockQ8_K* const* a, F* p) {
    I sc[16];  // unpacked before the sums, as the kernels before the shared loop had them
    for (int j = 0; j < 16; ++j) sc[j] = odd_scales(g.scales, j, 15);
    I q[kT];
    for (I& x : q) x = P::zero();
    sums_2bit<kT>(g.qs, g.signs, a, [](B code, B sign) { return P::lookup16(kIQ2Plus43.data(), P::or_(code, P::template slli16<2>(sign))); },
                  [&](int j, const I* s) {
                    for (int t = 0; t < kT; ++t) q[t] = P::add(q[t], P::mullo(P::sub(s[t], P::set1(43 * a[t]->bsums[j])), sc[j]));
                  });
    add_scaled<kT>(g.d, a, q, p, FileBlock::kFactor);
  }

  // IQ3_XXS / IQ3_S from their codes (row_groups_blocks.h): v = ±m, m the code's magnitude; the nibble
  // code | sign << 3 looks up v + M (M the largest magnitude, 62 or 15: unsigned, at most 124), so over
  // each 32 values J, Σ v·qa = Σ (v + M)·qa − M·(bsum_2J + bsum_2J+1), and q = Σ_J sc_J·(that) with
  // sc = 2s + 1: RecipeIQ's exact integers, then fma((d·F)·da, q, p).
  template <class FileBlock>
  static constexpr std::array<uint8_t, 16> kIQ3PlusMax = [] {
    constexpr bool kXXS = std::is_same_v<FileBlock, BlockIQ3_XXS>;
    std::array<uint8_t, 16> t{};
    for (unsigned c = 0; c < 8; ++c) {
      t[c] = uint8_t(kIQ3Max<kXXS> + iq3_magnitude<kXXS>(c));
      t[c + 8] = uint8_t(kIQ3Max<kXXS> - iq3_magnitude<kXXS>(c));
    }
    return t;
  }();
  template <int kT, class FileBlock>
  [[gnu::always_inline]] static void finish_iq3(const GroupIQ3<FileBlock>& g, const BlockQ8_K* const* a, F* p) {
    constexpr int32_t kMax = kIQ3Max<std::is_same_v<FileBlock, BlockIQ3_XXS>>;
    const B nibble = P::bytes(15);
    I q[kT];
    for (I& x : q) x = P::zero();
    for (int c = 0; c < 4; ++c) {  // sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles)
      I lo[kT], hi[kT];
      for (int t = 0; t < kT; ++t) lo[t] = hi[t] = P::zero();
      for (int k = 0; k < 8; ++k) {
        const B w = P::load(g.qs[8 * c + k]);
        const B ul = P::lookup16(kIQ3PlusMax<FileBlock>.data(), P::and_(w, nibble));
        const B uh = P::lookup16(kIQ3PlusMax<FileBlock>.data(), P::and_(P::template srli16<4>(w), nibble));
        for (int t = 0; t < kT; ++t) {
          lo[t] = P::dot(lo[t], ul, a[t]->qs + 64 * c + 4 * k);
          hi[t] = P::dot(hi[t], uh, a[t]->qs + 64 * c + 32 + 4 * k);
        }
      }
      for (int n = 0; n < 2; ++n) {
        const int j = 2 * c + n;  // sub-block of 32
        const I sc = odd_scales(g.scales, j, 15);
        for (int t = 0; t < kT; ++t) {
          const I sum = n ? hi[t] : lo[t];
          q[t] = P::add(q[t], P::mullo(P::sub(sum, P::set1(kMax * (a[t]->bsums[2 * j] + a[t]->bsums[2 * j + 1]))), sc));
        }
      }
    }
    add_scaled<kT>(g.d, a, q, p, FileBlock::kFactor);
  }

  // IQ1_M from its codes (row_groups_blocks.h): v = 8g ± 1 = 8c − 9 + 2·plus (plus = 1 for a +1/8 shift,
  // one per eight values), so u = 4c + plus (at most 9) gives v = 2u − 9 and, over each 16 values j,
  // Σ v·qa = 2·Σ u·qa − 9·bsum_j; q = Σ_j sc_j·(that), sc = 2s + 1 per 16 values: RecipeIQ<BlockIQ1_M>'s
  // exact integers, then fma((d/8)·da, q, p).
  template <int kT>
  [[gnu::always_inline]] static void finish_iq1m(const GroupIQ1_M& g, const BlockQ8_K* const* a, F* p) {
    I sc[16];  // before the sums, as IQ2's
    for (int j = 0; j < 16; ++j) sc[j] = odd_scales(g.scales, j, 7);
    I q[kT];
    for (I& x : q) x = P::zero();
    sums_2bit<kT>(g.qs, g.plus, a, [](B code, B plus) { return P::or_(P::template slli16<2>(code), plus); },
                  [&](int j, const I* s) {
                    for (int t = 0; t < kT; ++t) {
                      q[t] = P::add(q[t], P::mullo(P::sub(P::add(s[t], s[t]), P::set1(9 * a[t]->bsums[j])), sc[j]));
                    }
                  });
    add_scaled<kT>(g.d, a, q, p, BlockIQ1_M::kFactor);
  }

  // Q4_0 / Q5_0: q = Σ u·qa − 2^(bits−1)·Σ qa over the block's values u (nibbles, plus the fifth bit), then
  // fma(d·da, q, p); Q4_1 / Q5_1: q = Σ u·qa, then fma(d·da, q, p) and fma(m·da, Σ qa, p) -- as
  // RecipeLegacy::finish.
  template <int kT, class Group>
  [[gnu::always_inline]] static void finish_legacy(const Group& g, const ActBlock32* const* a, F* p) {
    constexpr bool kFive = requires { g.qh; }, kMin = requires { g.m; };  // as fields_32 (row_groups.cpp)
    const B nibble = P::bytes(15), bit4 = P::bytes(16);
    I s[kT][2];  // values 0..15 and 16..31
    for (auto& st : s) st[0] = st[1] = P::zero();
    for (int c = 0; c < 4; ++c) {
      const B w = P::load(g.qs[c]);
      B lo = P::and_(w, nibble), hi = P::and_(P::template srli16<4>(w), nibble);
      if constexpr (kFive) {  // bit c of each byte -> bit 4 (values 4c + k), bit 4 + c -> bit 4 (16 + 4c + k)
        const B h = P::srl16(P::load(g.qh), c);
        lo = P::or_(lo, P::and_(P::template slli16<4>(h), bit4));
        hi = P::or_(hi, P::and_(h, bit4));
      }
      for (int t = 0; t < kT; ++t) {
        s[t][0] = P::dot(s[t][0], lo, a[t]->qs + 4 * c);
        s[t][1] = P::dot(s[t][1], hi, a[t]->qs + 16 + 4 * c);
      }
    }
    I q[kT];
    for (int t = 0; t < kT; ++t) {
      q[t] = P::add(s[t][0], s[t][1]);
      if constexpr (!kMin) q[t] = P::sub(q[t], P::set1((kFive ? 16 : 8) * a[t]->sum));
    }
    add_scaled<kT>(g.d, a, q, p);
    if constexpr (kMin) {
      const F m = P::halves(g.m);
      for (int t = 0; t < kT; ++t) p[t] = P::fmadd(P::mul(m, P::set1f(a[t]->d)), P::set1f(float(a[t]->sum)), p[t]);
    }
  }

  // kIQ4NL + 128: looked up, the values as dot_q8 takes them.
  static constexpr auto kGridPlus128 = [] {
    std::array<uint8_t, 16> t{};
    for (int i = 0; i < 16; ++i) t[size_t(i)] = uint8_t(kIQ4NL[i] + 128);
    return t;
  }();

  // The grid values (plus 128) of the low and high nibbles of one 64-byte chunk, into two sums per token:
  // s[t][0] += Σ grid[low]·qa at a_lo, s[t][1] += Σ grid[high]·qa at a_hi (plus 128·Σ qa where kQ8Offset).
  template <int kT>
  [[gnu::always_inline]] static void iq4_chunk(B w, const int8_t* const* a_lo, const int8_t* const* a_hi, I (*s)[2]) {
    const B nibble = P::bytes(15);
    const B lo = P::lookup16(kGridPlus128.data(), P::and_(w, nibble));
    const B hi = P::lookup16(kGridPlus128.data(), P::and_(P::template srli16<4>(w), nibble));
    for (int t = 0; t < kT; ++t) {
      s[t][0] = P::dot_q8(s[t][0], lo, a_lo[t]);
      s[t][1] = P::dot_q8(s[t][1], hi, a_hi[t]);
    }
  }

  // IQ4_NL: q = Σ grid[u]·qa, then fma(d·da, q, p) as RecipeIQ4_NL::finish.
  template <int kT>
  [[gnu::always_inline]] static void finish_iq4nl(const GroupIQ4_NL& g, const ActBlock32* const* a, F* p) {
    I s[kT][2];
    for (auto& st : s) st[0] = st[1] = P::zero();
    for (int c = 0; c < 4; ++c) {
      const int8_t* lo[kT];
      const int8_t* hi[kT];
      for (int t = 0; t < kT; ++t) lo[t] = a[t]->qs + 4 * c, hi[t] = a[t]->qs + 16 + 4 * c;
      iq4_chunk<kT>(P::load(g.qs[c]), lo, hi, s);
    }
    I q[kT];
    for (int t = 0; t < kT; ++t) q[t] = unshifted(P::add(s[t][0], s[t][1]), a[t]->sum);
    add_scaled<kT>(g.d, a, q, p);
  }

  // IQ4_XS: q = Σ_j ls_j · Σ_{l ∈ j} grid[u_l]·qa_l as RecipeIQ4_XS::sums, then fma(d·da, q, p).
  template <int kT>
  [[gnu::always_inline]] static void finish_iq4xs(const GroupIQ4_XS& g, const BlockQ8_K* const* a, F* p) {
    // The 16 rows' scale j (iq4xs_scale, bytewise): bits 2j, 2j + 1 of scales_h from its low or high bytes.
    R h[2];
    P::rsplit16(g.scales_h, h[0], h[1]);
    const R low2 = P::rset(3), low4 = P::rset(15), k32 = P::rset(32);
    I q[kT];
    for (I& x : q) x = P::zero();
    for (int j = 0; j < 8; ++j) {
      const R high = P::rand(P::rshr(h[j / 4], 2 * (j % 4)), low2);
      const R l = P::rload(g.scales_l[j / 2]);
      const R low = P::rand(j % 2 ? P::rshr(l, 4) : l, low4);
      const I ls = P::widen_i8(P::rsub(P::ror(low, P::rshl(high, 4)), k32));
      I s[kT][2];
      for (auto& st : s) st[0] = st[1] = P::zero();
      for (int c = 0; c < 4; ++c) {  // qs bytes 16j + 4c ..: values 4c.. (low nibbles) and 16 + 4c.. (high)
        const int8_t* lo[kT];
        const int8_t* hi[kT];
        for (int t = 0; t < kT; ++t) lo[t] = a[t]->qs + 32 * j + 4 * c, hi[t] = a[t]->qs + 32 * j + 16 + 4 * c;
        iq4_chunk<kT>(P::load(g.qs[4 * j + c]), lo, hi, s);
      }
      for (int t = 0; t < kT; ++t) {
        const I sj = unshifted(P::add(s[t][0], s[t][1]), a[t]->bsums[2 * j] + a[t]->bsums[2 * j + 1]);
        q[t] = P::add(q[t], P::mullo(sj, ls));
      }
    }
    add_scaled<kT>(g.d, a, q, p);
  }

  // Q8_0: q = Σ v·qa (from the stored v + 128), then fma(d·da, q, p) as RecipeQ8_0::finish.
  template <int kT>
  [[gnu::always_inline]] static void finish_q8_0(const GroupQ8_0& g, const ActBlock32* const* a, F* p) {
    I s[kT][2];  // two chains of four per token
    for (auto& st : s) st[0] = st[1] = P::zero();
    for (int c = 0; c < 8; ++c) {
      const B w = P::load(g.qs[c]);
      for (int t = 0; t < kT; ++t) s[t][c & 1] = P::dot_q8(s[t][c & 1], w, a[t]->qs + 4 * c);
    }
    I q[kT];
    for (int t = 0; t < kT; ++t) q[t] = unshifted(P::add(s[t][0], s[t][1]), a[t]->sum);
    add_scaled<kT>(g.d, a, q, p);
  }

  // Some kernels prefetch the group blocks kPrefetchBytes ahead of the one they decode: without it they
  // waited on their weight loads, at half the speed or less of what they compute from cache, while Q4_0 —
  // IQ4_NL's layout, one lookup less — and the K-quants read at the bandwidth unaided (why the hardware
  // prefetchers keep up with some kernels and not others is not understood). Chosen per type by what was
  // measured in models (bench/RESULTS.md, 2026-12-01): on for the 2-bit types (R1-Distill-1.5B decodes
  // ~2x faster with IQ2_XXS, IQ1_M and Q3_K matrices, 5-35 % with Q2_K) and for the 32-value types that
  // llama.cpp's mixes fall back to where a row is no whole 256-value block, as V2-Lite's experts' down
  // projections (1,408 columns): Q5_0 (Q4_K_M), IQ4_NL (IQ4_XS and the lower mixes), Q5_1 (Q5_K_M) and Q4_1
  // (Q5_1's layout) -- V2-Lite-8L decodes 8-35 % faster on one thread, and its Q5_1 row groups gained nothing
  // without it; off for IQ1_S and IQ3_XXS (no gain), Q4_K and Q5_K (a loss). Policies with kPrefetchWide
  // (the AVX2 kernels, with or without AVX-VNNI: 8960 × 1536 from memory, one thread, Q4_K 353 -> 258 µs
  // with AVX-VNNI, Q5_K ~1,000 -> 380-450, Q8_0 768 -> 569 with AVX-VNNI, IQ4_XS 322-468 -> 287-400) also
  // prefetch Q4_K, Q5_K, Q8_0 and IQ4_XS.
  template <class Group>
  static constexpr bool kPrefetchedWide = std::is_same_v<Group, GroupQ4_K> || std::is_same_v<Group, GroupQ5_K> ||
                                          std::is_same_v<Group, GroupQ8_0> || std::is_same_v<Group, GroupIQ4_XS>;
  template <class Group>
  static constexpr bool kPrefetch = (P::kPrefetchWide && kPrefetchedWide<Group>) ||
                                    std::is_same_v<Group, GroupQ2_K> || std::is_same_v<Group, GroupQ3_K> ||
                                    std::is_same_v<Group, GroupIQ1_M> || std::is_same_v<Group, GroupQ5_0> ||
                                    std::is_same_v<Group, GroupQ4_1> || std::is_same_v<Group, GroupQ5_1> ||
                                    std::is_same_v<Group, GroupIQ4_NL> ||
                                    std::is_same_v<typename StoredBlock<Group>::type, BlockIQ2Codes>;
  static constexpr size_t kPrefetchBytes = 2048;

  // Per token four partial sums per row (block b into partial b % 4), added as Partials::total does,
  // lane by lane.
  template <class Group, int kT>
  static void groups_tokens(int64_t n, const Group* w, int groups, const uint8_t* act, size_t act_stride, float* out,
                            size_t out_stride) {
    using Act = typename Group::Act;
    const int64_t blocks = n / Group::Block::kElems;
    const auto block = [&](int64_t b, int lane, F (*p)[kT]) {
      const Act* a[kT];
      for (int t = 0; t < kT; ++t) a[t] = reinterpret_cast<const Act*>(act + t * act_stride) + b;
      F* partial = p[lane];
      if constexpr (kPrefetch<Group>) {
        const char* ahead = reinterpret_cast<const char*>(w + b) + kPrefetchBytes;
        for (size_t off = 0; off < sizeof(Group); off += 64) __builtin_prefetch(ahead + off, 0, 3);
      }
      if constexpr (std::is_same_v<Group, GroupQ4_K> || std::is_same_v<Group, GroupQ5_K>) finish_k45<kT>(w[b], a, partial);
      if constexpr (std::is_same_v<Group, GroupQ6_K>) finish_q6k<kT>(w[b], a, partial);
      if constexpr (std::is_same_v<Group, GroupQ2_K> || std::is_same_v<Group, GroupQ3_K>) finish_q23k<kT>(w[b], a, partial);
      if constexpr (std::is_same_v<Group, GroupQ8_0>) finish_q8_0<kT>(w[b], a, partial);
      if constexpr (std::is_same_v<Group, GroupQ4_0> || std::is_same_v<Group, GroupQ5_0> || std::is_same_v<Group, GroupQ4_1> ||
                    std::is_same_v<Group, GroupQ5_1>) {
        finish_legacy<kT>(w[b], a, partial);
      }
      if constexpr (std::is_same_v<Group, GroupIQ4_NL>) finish_iq4nl<kT>(w[b], a, partial);
      if constexpr (std::is_same_v<Group, GroupIQ4_XS>) finish_iq4xs<kT>(w[b], a, partial);
      if constexpr (std::is_same_v<Group, GroupIQ1_S>) finish_iq1s<kT>(w[b], a, partial);
      if constexpr (requires { typename Group::Stored; } && std::is_same_v<typename StoredBlock<Group>::type, BlockIQ2Codes>) {
        finish_iq2<kT>(w[b], a, partial);
      }
      if constexpr (std::is_same_v<Group, GroupIQ1_M>) finish_iq1m<kT>(w[b], a, partial);
      if constexpr (requires { typename Group::Stored; } && std::is_same_v<typename StoredBlock<Group>::type, BlockIQ3Codes>) {
        finish_iq3<kT>(w[b], a, partial);
      }
    };
    for (int grp = 0; grp < groups; ++grp, w += blocks) {
      F p[4][kT];
      for (auto& lane : p) {
        for (F& x : lane) x = P::zerof();
      }
      int64_t b = 0;
      for (; b + 4 <= blocks; b += 4) {
        for (int k = 0; k < 4; ++k) block(b + k, k, p);
      }
      for (int k = 0; b + k < blocks; ++k) block(b + k, k, p);
      for (int t = 0; t < kT; ++t) {
        P::store(out + t * out_stride + kRowGroup * grp, P::addf(P::addf(p[0][t], p[1][t]), P::addf(p[2][t], p[3][t])));
      }
    }
  }

  template <class Group>
  static void mat_vec_groups(int64_t n, const void* w, int groups, const void* a, size_t a_stride, int tokens, float* out,
                             size_t out_stride) {
    const auto* g = static_cast<const Group*>(w);
    const auto* act = static_cast<const uint8_t*>(a);
    switch (tokens) {
      case 1: return groups_tokens<Group, 1>(n, g, groups, act, a_stride, out, out_stride);
      case 2: return groups_tokens<Group, 2>(n, g, groups, act, a_stride, out, out_stride);
      case 3: return groups_tokens<Group, 3>(n, g, groups, act, a_stride, out, out_stride);
      default: return groups_tokens<Group, 4>(n, g, groups, act, a_stride, out, out_stride);
    }
  }

  static MatVecGroups table(DType t) {
    MatVecGroups kernel = nullptr;
    with_group(t, [&](auto group) { kernel = mat_vec_groups<decltype(group)>; });
    return kernel;
  }
};

}  // namespace
}  // namespace r1::quant
