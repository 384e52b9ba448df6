// The SIMD int8 kernels, written once over an instruction-set policy P (quant_dot_avx2.cpp,
// quant_dot_avx512.h, quant_dot_neon.h). Each kernel computes the integer sums of a recipe
// (quant_dot_ref.h) with vector instructions and finishes every block through the recipe, so results
// equal the scalar reference bit for bit.
//
// A policy works on groups of 64 byte lanes (P::V; on AVX2 a pair of 256-bit registers, on AVX-512 one
// 512-bit register, on NEON four 128-bit ones) split in two halves of 32: the 32 values of a sub-block
// or block per half.
//   load64, load2x32, broadcast32         64 bytes; 32 + 32 from two places; 32 bytes in both halves
//   nibbles32(p)                          [p & 15 | p >> 4] for 32 bytes p (two 32-value sub-blocks)
//   nibbles16x2(p0, p1)                   two 32-value blocks' nibble orders: [p0 & 15, p0 >> 4 | p1 ...]
//   high_nibbles, and_, or_, set1, shl16<lo, hi>, shr16<lo, hi>   (shifts per half, 16-bit lanes)
//   test_bits(x, m_lo, m_hi)              0xff where x & m ≠ 0 (m per half), else 0
//   bits_to_bytes(b_lo, b_hi)             0xff where bit i of the half's 32-bit word is set
//   lookup16(table, idx)                  table[idx] for idx < 16
//   abs8, sign8(a, v)                     |v|; a with the sign of v (for signed·signed via unsigned·signed)
//   dot(acc, u, s)                        acc += Σ of 4 adjacent u·s in each int32 lane (u unsigned)
//   dot_scaled(acc, u, s, sc)             acc += (u·s summed in pairs) · sc, sc an int16 per pair
//   table8_u8(word), table8_i8(p)        eight 8-bit scales (bytes of a word; at p) made ready for picking:
//   pick_2x32(t, k), pick_4x16(t, g)      int16 scales [t[2k] | t[2k+1]] per half, [t[4g] … t[4g+3]] per quarter
//   zero_acc()                            an accumulator of zeros (int32 lanes, Acc)
//   dot_signed(acc, v, x)                 optional: acc += Σ v·x for signed v, where the ISA multiplies
//                                         signed bytes (else abs8 and sign8 make it unsigned·signed)
//   fold256(acc), add_low(acc, x)         acc's sum as a Wide (only its total counts); acc + x
//   block_sums4(a01, a23, out)            the four per-half totals
// and beside the groups (quant_dot_x86.h, quant_dot_neon.h):
//   F4: f4_zero, f4_set, f4_store, f4_halves(four fp16), f4_mul,             four float partial sums
//       fma4(a, b, c) = a·b + c and fnma4(a, b, c) = c − a·b, each rounded once
//   Wide: wide_zero, totals4(w0..w3) -> F4                                    unreduced int32 sums
//   min_products_k4(mins, bsums), scale_products16<k>(sc, bsums),            sums over Q8_K's bsums
//   shift_products16(qh, sc, bsums) -> Wide
// All products stay below int16 saturation: u ≤ 128 in dot_scaled and dot for the non-VNNI forms,
// activations in [−127, 127].
//
// Internal linkage throughout: each instruction set's translation unit has its own copy.
#pragma once

#include <type_traits>

#include "kernels/cpu/quant_dot_ref.h"

namespace r1::quant {
namespace {

template <class P>
struct SimdKernels {
  using V = typename P::V;
  using Acc = typename P::Acc;
  // A 256-value block's integer sums against one activation row, not yet reduced: Sums::q is the total
  // of q's lanes, Sums::m of m's (K-quants with minimums; zero for the others).
  struct Raw {
    Acc q;
    typename P::Wide m;
  };
  using F4 = typename P::F4;

  // ---- 32-value types: two blocks per group --------------------------------------------------------

  static V values(const BlockQ8_0& w0, const BlockQ8_0& w1) { return P::load2x32(w0.qs, w1.qs); }
  static V values(const BlockQ4_0& w0, const BlockQ4_0& w1) { return P::nibbles16x2(w0.qs, w1.qs); }
  static V values(const BlockQ4_1& w0, const BlockQ4_1& w1) { return P::nibbles16x2(w0.qs, w1.qs); }
  template <class Block5>
  static V values5(const Block5& w0, const Block5& w1) {
    uint32_t h0, h1;
    std::memcpy(&h0, w0.qh, 4);
    std::memcpy(&h1, w1.qh, 4);
    return P::or_(P::nibbles16x2(w0.qs, w1.qs), P::and_(P::bits_to_bytes(h0, h1), P::set1(16)));
  }
  static V values(const BlockQ5_0& w0, const BlockQ5_0& w1) { return values5(w0, w1); }
  static V values(const BlockQ5_1& w0, const BlockQ5_1& w1) { return values5(w0, w1); }
  static V values(const BlockIQ4_NL& w0, const BlockIQ4_NL& w1) {
    return P::lookup16(kIQ4NL, P::nibbles16x2(w0.qs, w1.qs));
  }

  // Σ value·qa of the two blocks whose values are v, against activation blocks a[0], a[1]: one per half.
  template <class R>
  static Acc pair_sums(V v, const ActBlock32* a) {
    const V x = P::load2x32(a[0].qs, a[1].qs);
    if constexpr (R::kSignedValues && requires(Acc acc, V y) { P::dot_signed(acc, y, y); }) {
      return P::dot_signed(P::zero_acc(), v, x);
    } else if constexpr (R::kSignedValues) {
      return P::dot(P::zero_acc(), P::abs8(v), P::sign8(x, v));
    } else {
      return P::dot(P::zero_acc(), v, x);
    }
  }

  // kTokens activation rows at once: each weight block is decoded once for all of them (prefill).
  template <class R, int kTokens>
  static void dot32(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
    const auto* w = static_cast<const typename R::Block*>(wv);
    const ActBlock32* a[kTokens];
    for (int t = 0; t < kTokens; ++t) a[t] = reinterpret_cast<const ActBlock32*>(static_cast<const uint8_t*>(av) + t * stride);
    const int64_t blocks = n / kQ;
    Partials acc[kTokens];
    int64_t b = 0;
    for (; b + 4 <= blocks; b += 4) {
      const V v01 = values(w[b], w[b + 1]), v23 = values(w[b + 2], w[b + 3]);
      for (int t = 0; t < kTokens; ++t) {
        int32_t s[4];
        P::block_sums4(pair_sums<R>(v01, a[t] + b), pair_sums<R>(v23, a[t] + b + 2), s);
        for (int k = 0; k < 4; ++k) R::finish(acc[t], k, w[b + k], a[t][b + k], Sums{s[k], 0});
      }
    }
    // The last blocks one by one (lanes 0, 1, 2: b is a multiple of 4 here).
    for (int t = 0; t < kTokens; ++t) {
      for_each_block(blocks - b, [&](int64_t i, int lane) {
        R::finish(acc[t], lane, w[b + i], a[t][b + i], R::sums(w[b + i], a[t][b + i]));
      });
      out[t] = acc[t].total();
    }
  }

  // ---- 256-value types: one super-block at a time, for kTokens activation rows a[t] ------------------

  // Q2_K / Q3_K: per half h, group p holds values 64p .. 64p+63 of the half: bits 4p..4p+1 (low half)
  // and 4p+2..4p+3 (high half) of the same 32 bytes qs[32h ..]. Scales come four per group.
  static V low2_group(V qs, int p) {
    return P::and_(p == 0 ? P::template shr16<0, 2>(qs) : P::template shr16<4, 6>(qs), P::set1(3));
  }

  template <int kTokens>
  static void zero(Acc (&acc)[kTokens]) {
    for (Acc& x : acc) x = P::zero_acc();
  }

  // Q2_K: scales[j] = sc_j | m_j << 4.
  template <int kTokens>
  static void sums(const BlockQ2_K& w, const BlockQ8_K* const* a, Raw* out) {
    uint64_t words[2], sc[2], mn[2];
    std::memcpy(words, w.scales, 16);
    for (int i = 0; i < 2; ++i) {
      sc[i] = words[i] & 0x0f0f0f0f0f0f0f0full;
      mn[i] = (words[i] >> 4) & 0x0f0f0f0f0f0f0f0full;
    }
    Acc acc[kTokens];
    zero(acc);
    for (int h = 0; h < 2; ++h) {
      const auto scales = P::table8_u8(sc[h]);
      const V qs = P::broadcast32(w.qs + 32 * h);
      for (int p = 0; p < 2; ++p) {
        const V u = low2_group(qs, p);
        const auto sc4 = P::pick_4x16(scales, p);
        for (int t = 0; t < kTokens; ++t) acc[t] = P::dot_scaled(acc[t], u, P::load64(a[t]->qs + 128 * h + 64 * p), sc4);
      }
    }
    for (int t = 0; t < kTokens; ++t) out[t] = {acc[t], P::template scale_products16<1>(reinterpret_cast<const int8_t*>(mn), a[t]->bsums)};
  }

  // Q3_K: the third bit of value 128h + 32g + l is bit 4h + g of hmask[l].
  template <int kTokens>
  static void sums(const BlockQ3_K& w, const BlockQ8_K* const* a, Raw* out) {
    int8_t sc[16];
    unpack_q3k_scales(w.scales, sc);
    const V hmask = P::broadcast32(w.hmask), four = P::set1(4);
    Acc acc[kTokens];
    zero(acc);
    for (int h = 0; h < 2; ++h) {
      const auto scales = P::table8_i8(sc + 8 * h);
      const V qs = P::broadcast32(w.qs + 32 * h);
      for (int p = 0; p < 2; ++p) {
        const int bit = 4 * h + 2 * p;
        const V high = P::and_(P::test_bits(hmask, uint8_t(1 << bit), uint8_t(2 << bit)), four);
        const V u = P::or_(low2_group(qs, p), high);
        const auto sc4 = P::pick_4x16(scales, p);
        for (int t = 0; t < kTokens; ++t) acc[t] = P::dot_scaled(acc[t], u, P::load64(a[t]->qs + 128 * h + 64 * p), sc4);
      }
    }
    for (int t = 0; t < kTokens; ++t) out[t] = {P::add_low(acc[t], P::template scale_products16<-4>(sc, a[t]->bsums)), P::wide_zero()};
  }

  // Q4_K / Q5_K: group c holds sub-blocks 2c (low nibbles of qs[32c..]) and 2c+1 (high nibbles).
  template <int kTokens, class Block>
  static void sums_k45(const Block& w, const BlockQ8_K* const* a, Raw* out) {
    uint64_t sc, mn;
    k4_scale_words(w.scales, sc, mn);
    const auto scales = P::table8_u8(sc);
    Acc acc[kTokens];
    zero(acc);
    for (int c = 0; c < 4; ++c) {
      V u = P::nibbles32(w.qs + 32 * c);
      if constexpr (std::is_same_v<Block, BlockQ5_K>) {  // bit 4: bit j of qh[l] for sub-block j
        const V bits = P::test_bits(P::broadcast32(w.qh), uint8_t(1 << (2 * c)), uint8_t(2 << (2 * c)));
        u = P::or_(u, P::and_(bits, P::set1(16)));
      }
      const auto sc2 = P::pick_2x32(scales, c);
      for (int t = 0; t < kTokens; ++t) acc[t] = P::dot_scaled(acc[t], u, P::load64(a[t]->qs + 64 * c), sc2);
    }
    for (int t = 0; t < kTokens; ++t) out[t] = {acc[t], P::min_products_k4(mn, a[t]->bsums)};
  }
  template <int kTokens>
  static void sums(const BlockQ4_K& w, const BlockQ8_K* const* a, Raw* out) { sums_k45<kTokens>(w, a, out); }
  template <int kTokens>
  static void sums(const BlockQ5_K& w, const BlockQ8_K* const* a, Raw* out) { sums_k45<kTokens>(w, a, out); }

  // Q6_K: per half h, group 0 is values 0..63 (low nibbles of ql[64h..64h+64], qh bits 0-1 | 2-3) and
  // group 1 values 64..127 (high nibbles, qh bits 4-5 | 6-7); the 2 high bits land on bits 4-5.
  template <int kTokens>
  static void sums(const BlockQ6_K& w, const BlockQ8_K* const* a, Raw* out) {
    Acc acc[kTokens];
    zero(acc);
    const V low4 = P::set1(15), bits45 = P::set1(0x30);
    for (int h = 0; h < 2; ++h) {
      const auto scales = P::table8_i8(w.scales + 8 * h);
      const V ql = P::load64(w.ql + 64 * h), qh = P::broadcast32(w.qh + 32 * h);
      const V u0 = P::or_(P::and_(ql, low4), P::and_(P::template shl16<4, 2>(qh), bits45));
      const V u1 = P::or_(P::high_nibbles(ql), P::and_(P::template shr16<0, 2>(qh), bits45));
      const auto sc0 = P::pick_4x16(scales, 0), sc1 = P::pick_4x16(scales, 1);
      for (int t = 0; t < kTokens; ++t) {
        acc[t] = P::dot_scaled(acc[t], u0, P::load64(a[t]->qs + 128 * h), sc0);
        acc[t] = P::dot_scaled(acc[t], u1, P::load64(a[t]->qs + 128 * h + 64), sc1);
      }
    }
    for (int t = 0; t < kTokens; ++t) out[t] = {P::add_low(acc[t], P::template scale_products16<-32>(w.scales, a[t]->bsums)), P::wide_zero()};
  }

  // The codebook types: per 64 values, the eight codebook words and eight sign words (±1 bytes) looked
  // up with the block's indices (quant_blocks_iq.h) and put in a register as they are read -- built
  // there, not stored and reloaded, which would stall the vector load on eight pending stores -- then
  // the int8 products as Q6_K's with the signs moved onto the activations. IQ1's values are 8g ± 1:
  // the entries times 8 plus the ±1 shift bytes.
  template <class F>
  static V words8(F&& word) {
    return P::set64(word(0), word(1), word(2), word(3), word(4), word(5), word(6), word(7));
  }
  template <int kTokens, class Block>
  static void sums_iq(const Block& w, const BlockQ8_K* const* a, Raw* out) {
    // IQ1_S: one shift sign per 32 values, so Σ sc·(8g ± 1)·qa = Σ 8sc·g·qa ± Σ sc·(Σ qa over the 32),
    // the second term from the activation block's per-16 sums (as llama.cpp computes it).
    constexpr bool kShiftPer32 = std::is_same_v<Block, BlockIQ1_S>;
    int8_t sc[16];
    iq_scales(w, sc);
    typename P::Wide shift[kTokens];
    if constexpr (kShiftPer32) {
      for (int t = 0; t < kTokens; ++t) shift[t] = P::shift_products16(w.qh, sc, a[t]->bsums);
      for (int8_t& s : sc) s = int8_t(8 * s);  // IQ1_S scales are odd numbers below 16
    }
    Acc acc[kTokens];
    zero(acc);
    for (int h = 0; h < 2; ++h) {
      const auto scales = P::table8_i8(sc + 8 * h);
      for (int p = 0; p < 2; ++p) {
        IqGroups64 g;
        iq_groups64(w, 2 * h + p, g);
        const V grid = words8([&](int i) { return iq_entry8<Block>(g, i); });
        const auto sc4 = P::pick_4x16(scales, p);
        V u, s;
        if constexpr (kShiftPer32) {  // the shift's part comes from the activation sums, below
          u = P::abs8(grid);
          s = grid;
        } else if constexpr (Block::kShifted) {
          const V signs = words8([&](int i) { return iq_sign_word<Block>(g, i); });
          const V g2 = P::add8(grid, grid), g4 = P::add8(g2, g2);
          s = P::add8(P::add8(g4, g4), signs);
          u = P::abs8(s);
        } else {
          u = grid;
          s = words8([&](int i) { return iq_sign_word<Block>(g, i); });
        }
        for (int t = 0; t < kTokens; ++t) {
          acc[t] = P::dot_scaled(acc[t], u, P::sign8(P::load64(a[t]->qs + 128 * h + 64 * p), s), sc4);
        }
      }
    }
    for (int t = 0; t < kTokens; ++t) {
      if constexpr (kShiftPer32) {
        out[t] = {P::add_low(acc[t], shift[t]), P::wide_zero()};
      } else {
        out[t] = {acc[t], P::wide_zero()};
      }
    }
  }
  template <int kTokens> static void sums(const BlockIQ2_XXS& w, const BlockQ8_K* const* a, Raw* out) { sums_iq<kTokens>(w, a, out); }
  // Kept out of line: inlined into dot256's four-block loop, IQ2_XS ran 1.45x slower (2.05 vs 1.40 ms
  // for 4096 x 4096 on one thread, in cache); the other types measured faster inlined.
  template <int kTokens>
  [[gnu::noinline]] static void sums(const BlockIQ2_XS& w, const BlockQ8_K* const* a, Raw* out) { sums_iq<kTokens>(w, a, out); }
  template <int kTokens> static void sums(const BlockIQ2_S& w, const BlockQ8_K* const* a, Raw* out) { sums_iq<kTokens>(w, a, out); }
  template <int kTokens> static void sums(const BlockIQ3_XXS& w, const BlockQ8_K* const* a, Raw* out) { sums_iq<kTokens>(w, a, out); }
  template <int kTokens> static void sums(const BlockIQ3_S& w, const BlockQ8_K* const* a, Raw* out) { sums_iq<kTokens>(w, a, out); }
  template <int kTokens> static void sums(const BlockIQ1_S& w, const BlockQ8_K* const* a, Raw* out) { sums_iq<kTokens>(w, a, out); }
  template <int kTokens> static void sums(const BlockIQ1_M& w, const BlockQ8_K* const* a, Raw* out) { sums_iq<kTokens>(w, a, out); }

  // IQ4_XS: group g holds sub-blocks 2g and 2g+1, each in IQ4_NL's nibble order.
  template <int kTokens>
  static void sums(const BlockIQ4_XS& w, const BlockQ8_K* const* a, Raw* out) {
    int8_t ls[8];
    for (int j = 0; j < 8; ++j) ls[j] = int8_t(iq4xs_scale(w, j));
    const auto scales = P::table8_i8(ls);
    Acc acc[kTokens];
    zero(acc);
    for (int g = 0; g < 4; ++g) {
      const V v = P::lookup16(kIQ4NL, P::nibbles16x2(w.qs + 32 * g, w.qs + 32 * g + 16));
      const V av = P::abs8(v);
      const auto sc2 = P::pick_2x32(scales, g);
      for (int t = 0; t < kTokens; ++t) {
        acc[t] = P::dot_scaled(acc[t], av, P::sign8(P::load64(a[t]->qs + 64 * g), v), sc2);
      }
    }
    for (int t = 0; t < kTokens; ++t) out[t] = {acc[t], P::wide_zero()};
  }

  // Four blocks at a time, block i + k's sums in lane k: their totals come from one transposing
  // reduction instead of four horizontal sums, and their float contributions from one fused
  // multiply-add per factor on the four partial sums (Partials' lanes) -- per lane the operations of
  // finish256, so the result is the scalar reference's bit for bit. With fewer than four blocks
  // (kCount, a row's last 1-3) the missing lanes get zero sums and zero factors: fma(0, 0, p) is p.
  // w[k], a[k]: block k's weights and activations -- consecutive blocks of a row (pointers), or blocks
  // gathered from several rows (Gathered).
  template <class R, int kCount, class W, class A>
  static F4 finish4(F4 partials, const W& w, const A& a, const Raw* const* raw, std::integral_constant<int, kCount>) {
    const auto lanes = [&](auto factor) {
      const auto at = [&](int k) { return k < kCount ? factor(w[k], a[k]) : 0.0f; };
      return P::f4_set(at(0), at(1), at(2), at(3));
    };
    const F4 q = P::totals4(P::fold256(raw[0]->q), P::fold256(raw[1]->q), P::fold256(raw[2]->q), P::fold256(raw[3]->q));
    if constexpr (requires { R::kHalfTimesActScale; }) {
      // The factors of four blocks at once: the fp16 scales converted together (exactly, as one by one),
      // times the activation scales (one rounding each, as R::scale); x − y·m is fma(−y, m, x) bit for bit.
      const auto at = [&](int k, auto field) -> uint16_t { return k < kCount ? field(w[k]) : 0; };
      const auto halves = [&](auto field) { return P::f4_halves(at(0, field), at(1, field), at(2, field), at(3, field)); };
      const F4 act = lanes([](const auto&, const auto& ak) { return ak.d; });
      partials = P::fma4(P::f4_mul(halves([](const auto& wk) { return wk.d; }), act), q, partials);
      const F4 m = P::totals4(raw[0]->m, raw[1]->m, raw[2]->m, raw[3]->m);
      partials = P::fnma4(P::f4_mul(halves([](const auto& wk) { return wk.dmin; }), act), m, partials);
    } else {
      partials = P::fma4(lanes([](const auto& wk, const auto& ak) { return R::scale(wk, ak); }), q, partials);
      if constexpr (R::kMinSums) {
        const F4 m = P::totals4(raw[0]->m, raw[1]->m, raw[2]->m, raw[3]->m);
        partials = P::fma4(lanes([](const auto& wk, const auto& ak) { return R::min_scale(wk, ak); }), m, partials);
      }
    }
    return partials;
  }

  // Block i's sums against each token's activation row, into raw[t].
  template <int kTokens, class Block>
  static void block_sums(const Block* w, const BlockQ8_K* const* a, int64_t i, Raw (&raw)[4][kTokens], int k) {
    const BlockQ8_K* ai[kTokens];
    for (int t = 0; t < kTokens; ++t) ai[t] = a[t] + i;
    sums<kTokens>(w[i], ai, raw[k]);
  }

  // A row's last 1-3 blocks as one padded group of four. Kept out of line: a second inlined copy of the
  // block sums slowed the main loop of long rows by 8-10 % (RESULTS.md).
  template <class R, int kTokens>
  [[gnu::noinline]] static void last_blocks(int count, const typename R::Block* w, const BlockQ8_K* const* a,
                                            F4* partials) {
    Raw raw[4][kTokens] = {};
    for (int k = 0; k < count; ++k) block_sums<kTokens>(w, a, k, raw, k);
    for (int t = 0; t < kTokens; ++t) {
      const Raw* const r[4] = {&raw[0][t], &raw[1][t], &raw[2][t], &raw[3][t]};
      switch (count) {
        case 1: partials[t] = finish4<R>(partials[t], w, a[t], r, std::integral_constant<int, 1>{}); break;
        case 2: partials[t] = finish4<R>(partials[t], w, a[t], r, std::integral_constant<int, 2>{}); break;
        default: partials[t] = finish4<R>(partials[t], w, a[t], r, std::integral_constant<int, 3>{}); break;
      }
    }
  }

  // Blocks [0, body) of a row (body a multiple of 4) against kTokens activation rows, into partials[t].
  template <class R, int kTokens>
  static void body_blocks(const typename R::Block* w, const BlockQ8_K* const* a, int64_t body, F4* partials) {
    for (int64_t i = 0; i < body; i += 4) {
      Raw raw[4][kTokens];
      for (int k = 0; k < 4; ++k) block_sums<kTokens>(w, a, i + k, raw, k);
      for (int t = 0; t < kTokens; ++t) {
        const Raw* const r[4] = {&raw[0][t], &raw[1][t], &raw[2][t], &raw[3][t]};
        partials[t] = finish4<R>(partials[t], w + i, a[t] + i, r, std::integral_constant<int, 4>{});
      }
    }
  }

  template <class R, int kTokens>
  static void dot256(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
    const auto* w = static_cast<const typename R::Block*>(wv);
    const BlockQ8_K* a[kTokens];
    for (int t = 0; t < kTokens; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(av) + t * stride);
    F4 partials[kTokens];
    for (F4& p : partials) p = P::f4_zero();
    const int64_t blocks = n / kQK, i = blocks & ~int64_t(3);
    body_blocks<R, kTokens>(w, a, i, partials);
    if (i < blocks) [[unlikely]] {
      const BlockQ8_K* ai[kTokens];
      for (int t = 0; t < kTokens; ++t) ai[t] = a[t] + i;
      last_blocks<R, kTokens>(int(blocks - i), w + i, ai, partials);
    }
    for (int t = 0; t < kTokens; ++t) {  // Partials::total's order
      Partials acc;
      P::f4_store(acc.p, partials[t]);
      out[t] = acc.total();
    }
  }

  // ---- several rows against one activation row (decode), rows paired where their last blocks fit ---

  // Blocks picked from different rows, indexed like a row's consecutive blocks.
  template <class T>
  struct Gathered {
    const T* const* at;
    const T& operator[](int k) const { return *at[k]; }
  };

  // Two rows whose last two blocks (from block `body` on) make one full group of four: lanes 0-1 are
  // the first row's blocks body, body + 1, lanes 2-3 the second's; each is finished into the partial
  // sum the one-row kernel gives it (lane 0 or 1: body is a multiple of 4), which no other tail block
  // touches, so every partial sum sees the same additions in the same order. Out of line, like
  // last_blocks.
  template <class R>
  [[gnu::noinline]] static void paired_tails(const typename R::Block* w0, const typename R::Block* w1,
                                             const BlockQ8_K* a, float* p0, float* p1) {
    using Block = typename R::Block;
    const Block* wk[4] = {w0, w0 + 1, w1, w1 + 1};
    const BlockQ8_K* ak[4] = {a, a + 1, a, a + 1};
    Raw raw[4][1];
    for (int k = 0; k < 4; ++k) sums<1>(*wk[k], &ak[k], raw[k]);
    const Raw* const r[4] = {&raw[0][0], &raw[1][0], &raw[2][0], &raw[3][0]};
    const F4 p = P::f4_set(p0[0], p0[1], p1[0], p1[1]);
    float q[4];
    P::f4_store(q, finish4<R>(p, Gathered<Block>{wk}, Gathered<BlockQ8_K>{ak}, r, std::integral_constant<int, 4>{}));
    p0[0] = q[0], p0[1] = q[1], p1[0] = q[2], p1[1] = q[3];
  }

  // One row's blocks [0, body). Out of line, so that the loop is laid out as in dot256's.
  template <class R>
  [[gnu::noinline]] static F4 row_body(const typename R::Block* w, const BlockQ8_K* a, int64_t body) {
    F4 p = P::f4_zero();
    body_blocks<R, 1>(w, &a, body, &p);
    return p;
  }

  // Rows of 256-value types whose length leaves two blocks after the groups of four (R1-Distill's 1,536
  // values: six blocks) go in pairs, the two rows' last blocks finished together instead of each padded
  // to four; other rows one by one (pairing rows with one or three blocks left over, four rows at a time,
  // measured slower: 397 -> 416-431 us for 1,536 x 8,960 Q4_K).
  template <class R>
  static void mat_vec(int64_t n, const void* wv, size_t row_bytes, int rows, const void* av, float* out) {
    const auto* w = static_cast<const uint8_t*>(wv);
    const auto row = [&](int r) { return reinterpret_cast<const typename R::Block*>(w + size_t(r) * row_bytes); };
    int r = 0;
    if constexpr (R::Block::kElems == kQK) {
      const auto* a = static_cast<const BlockQ8_K*>(av);
      const int64_t blocks = n / kQK, body = blocks & ~int64_t(3);
      for (; blocks - body == 2 && r + 2 <= rows; r += 2) {
        float p[2][4];
        P::f4_store(p[0], row_body<R>(row(r), a, body));
        P::f4_store(p[1], row_body<R>(row(r + 1), a, body));
        paired_tails<R>(row(r) + body, row(r + 1) + body, a + body, p[0], p[1]);
        for (int k = 0; k < 2; ++k) {  // Partials::total's order
          Partials acc;
          std::memcpy(acc.p, p[k], sizeof acc.p);
          out[r + k] = acc.total();
        }
      }
    }
    for (; r < rows; ++r) out[r] = dot_one<R>(n, row(r), av);
  }

  template <class R, int kTokens>
  static void dot_tokens(int64_t n, const void* w, const void* a, size_t stride, float* out) {
    if constexpr (R::Block::kElems == kQ) {
      dot32<R, kTokens>(n, w, a, stride, out);
    } else {
      dot256<R, kTokens>(n, w, a, stride, out);
    }
  }
  template <class R>
  static float dot_one(int64_t n, const void* w, const void* a) {
    float out;
    dot_tokens<R, 1>(n, w, a, 0, &out);
    return out;
  }
  template <class R>
  static void dot_rows(int64_t n, const void* w, const void* a, size_t stride, int tokens, float* out) {
    switch (tokens) {
      case 1: return dot_tokens<R, 1>(n, w, a, stride, out);
      case 2: return dot_tokens<R, 2>(n, w, a, stride, out);
      case 3: return dot_tokens<R, 3>(n, w, a, stride, out);
      default: return dot_tokens<R, 4>(n, w, a, stride, out);
    }
  }

  static VecDot table(DType t) {
    return with_recipe(t, [](auto recipe) -> VecDot { return dot_one<decltype(recipe)>; }, VecDot(nullptr));
  }
  static MatVec table_mat_vec(DType t) {
    return with_recipe(t, [](auto recipe) -> MatVec { return mat_vec<decltype(recipe)>; }, MatVec(nullptr));
  }
  static VecDotRows table_rows(DType t) {
    return with_recipe(t, [](auto recipe) -> VecDotRows { return dot_rows<decltype(recipe)>; }, VecDotRows(nullptr));
  }
};

}  // namespace
}  // namespace r1::quant
