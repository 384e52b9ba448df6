// The AArch64 NEON policy of the int8 kernels (Advanced SIMD, on every AArch64 CPU). kDot: byte dot
// products with sdot (the dot-product extension, Armv8.2+) instead of widening multiplies. Included by
// quant_dot_neon.cpp and quant_dot_neondot.cpp, each compiled for its own feature set.
// A group of 64 values is four 128-bit registers: r[0], r[1] the low half (32 values), r[2], r[3]
// the high half. Unlike x86, NEON multiplies signed bytes by signed bytes, so signed weights need no
// abs/sign split (dot_signed), and scales apply per 16 values to int32 sums of products.
#pragma once

#include <arm_neon.h>

#include <type_traits>

#include "kernels/cpu/quant_dot_simd.h"

namespace r1::quant {
namespace {

template <bool kDot>
struct Neon {
  struct V {
    int8x16_t r[4];
  };
  struct Acc {
    int32x4_t lo, hi;  // the two halves' sums, kept apart (block_sums4 needs each half's total)
  };
  struct Wide {
    int32x4_t a, b;
  };
  using F4 = float32x4_t;
  // One scale per 16 values, multiplied into sdot's int32 sums (kDot) or into pairwise int16 sums.
  using Scale = std::conditional_t<kDot, int32x4_t, int16x8_t>;
  struct Scales {
    Scale r[4];
  };
  struct Table {
    int16_t s[8];
  };

  template <class F>
  static V map(V a, F f) {
    return {f(a.r[0]), f(a.r[1]), f(a.r[2]), f(a.r[3])};
  }
  template <class F>
  static V map2(V a, V b, F f) {
    return {f(a.r[0], b.r[0]), f(a.r[1], b.r[1]), f(a.r[2], b.r[2]), f(a.r[3], b.r[3])};
  }
  static int8x16_t ld(const void* p) { return vld1q_s8(static_cast<const int8_t*>(p)); }
  static int8x16_t lo4(int8x16_t x) { return vandq_s8(x, vdupq_n_s8(15)); }
  static int8x16_t hi4(int8x16_t x) { return vreinterpretq_s8_u8(vshrq_n_u8(vreinterpretq_u8_s8(x), 4)); }
  static const int8_t* at(const void* p, int offset) { return static_cast<const int8_t*>(p) + offset; }

  static V zero() { return set1(0); }
  static V set1(int8_t v) {
    const int8x16_t x = vdupq_n_s8(v);
    return {x, x, x, x};
  }
  static V load64(const void* p) { return {ld(p), ld(at(p, 16)), ld(at(p, 32)), ld(at(p, 48))}; }
  static V load2x32(const void* p0, const void* p1) { return {ld(p0), ld(at(p0, 16)), ld(p1), ld(at(p1, 16))}; }
  static V broadcast32(const void* p) {
    const int8x16_t x0 = ld(p), x1 = ld(at(p, 16));
    return {x0, x1, x0, x1};
  }
  static V and_(V a, V b) { return map2(a, b, [](int8x16_t x, int8x16_t y) { return vandq_s8(x, y); }); }
  static V or_(V a, V b) { return map2(a, b, [](int8x16_t x, int8x16_t y) { return vorrq_s8(x, y); }); }
  static V nibbles32(const uint8_t* p) {
    const int8x16_t x0 = ld(p), x1 = ld(p + 16);
    return {lo4(x0), lo4(x1), hi4(x0), hi4(x1)};
  }
  static V nibbles16x2(const uint8_t* p0, const uint8_t* p1) {
    const int8x16_t x0 = ld(p0), x1 = ld(p1);
    return {lo4(x0), hi4(x0), lo4(x1), hi4(x1)};
  }
  static V high_nibbles(V x) { return map(x, hi4); }
  // Shifts of 16-bit lanes, by kLo in the low half and kHi in the high one (as x86's per-half shifts).
  template <int kShift>
  static int8x16_t shl16_1(int8x16_t x) {
    if constexpr (kShift == 0) return x;
    else return vreinterpretq_s8_u16(vshlq_n_u16(vreinterpretq_u16_s8(x), kShift));
  }
  template <int kShift>
  static int8x16_t shr16_1(int8x16_t x) {
    if constexpr (kShift == 0) return x;
    else return vreinterpretq_s8_u16(vshrq_n_u16(vreinterpretq_u16_s8(x), kShift));
  }
  template <int kLo, int kHi>
  static V shl16(V x) { return {shl16_1<kLo>(x.r[0]), shl16_1<kLo>(x.r[1]), shl16_1<kHi>(x.r[2]), shl16_1<kHi>(x.r[3])}; }
  template <int kLo, int kHi>
  static V shr16(V x) { return {shr16_1<kLo>(x.r[0]), shr16_1<kLo>(x.r[1]), shr16_1<kHi>(x.r[2]), shr16_1<kHi>(x.r[3])}; }
  static int8x16_t test1(int8x16_t x, uint8_t m) { return vreinterpretq_s8_u8(vtstq_s8(x, vdupq_n_s8(int8_t(m)))); }
  static V test_bits(V x, uint8_t m_lo, uint8_t m_hi) {
    return {test1(x.r[0], m_lo), test1(x.r[1], m_lo), test1(x.r[2], m_hi), test1(x.r[3], m_hi)};
  }
  // Byte i: 0xff where bit i of the 32-bit word is set (16 bytes from its bytes 2k, 2k + 1).
  static int8x16_t bits16(uint32_t bits, int k) {
    const uint8x16_t spread = vcombine_u8(vdup_n_u8(uint8_t(bits >> (16 * k))), vdup_n_u8(uint8_t(bits >> (16 * k + 8))));
    const uint8x16_t bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ull));
    return vreinterpretq_s8_u8(vtstq_u8(spread, bit));
  }
  static V bits_to_bytes(uint32_t lo, uint32_t hi) { return {bits16(lo, 0), bits16(lo, 1), bits16(hi, 0), bits16(hi, 1)}; }
  static V lookup16(const int8_t* table, V idx) {
    const int8x16_t t = vld1q_s8(table);
    return map(idx, [t](int8x16_t i) { return vqtbl1q_s8(t, vreinterpretq_u8_s8(i)); });
  }
  static V abs8(V x) { return map(x, [](int8x16_t v) { return vabsq_s8(v); }); }
  static V add8(V a, V b) { return map2(a, b, [](int8x16_t x, int8x16_t y) { return vaddq_s8(x, y); }); }
  static int8x16_t words2(uint64_t a, uint64_t b) { return vreinterpretq_s8_u64(vcombine_u64(vcreate_u64(a), vcreate_u64(b))); }
  static V set64(uint64_t e0, uint64_t e1, uint64_t e2, uint64_t e3, uint64_t e4, uint64_t e5, uint64_t e6, uint64_t e7) {
    return {words2(e0, e1), words2(e2, e3), words2(e4, e5), words2(e6, e7)};
  }
  // a where v > 0, −a where v < 0 (0 where v = 0, as x86's psignb: abs8(v) is 0 there anyway).
  static V sign8(V a, V v) {
    return map2(a, v, [](int8x16_t x, int8x16_t s) {
      const int8x16_t neg = vbslq_s8(vcltzq_s8(s), vnegq_s8(x), x);
      return vbslq_s8(vceqzq_s8(s), vdupq_n_s8(0), neg);
    });
  }

  // Σ of the products of 16 signed bytes, four per int32 lane (sdot) or from pairwise int16 sums.
  static int16x8_t products16(int8x16_t u, int8x16_t s) {  // lanes i and i + 8 summed: |·| ≤ 2·128·127
    return vmlal_high_s8(vmull_s8(vget_low_s8(u), vget_low_s8(s)), u, s);
  }
  static int32x4_t dot16(int32x4_t acc, int8x16_t u, int8x16_t s) {
    if constexpr (kDot) {
      return vdotq_s32(acc, u, s);
    } else {
      return vpadalq_s16(acc, products16(u, s));
    }
  }
  static Acc zero_acc() { return {vdupq_n_s32(0), vdupq_n_s32(0)}; }
  // u < 128 here (values 0..63 of the K-quants and codebooks), so the signed multiply is exact.
  static Acc dot(Acc acc, V u, V s) { return dot_signed(acc, u, s); }
  static Acc dot_signed(Acc acc, V v, V x) {
    return {dot16(dot16(acc.lo, v.r[0], x.r[0]), v.r[1], x.r[1]), dot16(dot16(acc.hi, v.r[2], x.r[2]), v.r[3], x.r[3])};
  }
  static int32x4_t scaled16(int32x4_t acc, int8x16_t u, int8x16_t s, Scale sc) {
    if constexpr (kDot) {
      return vmlaq_s32(acc, vdotq_s32(vdupq_n_s32(0), u, s), sc);
    } else {
      const int16x8_t p = products16(u, s);
      return vmlal_high_s16(vmlal_s16(acc, vget_low_s16(p), vget_low_s16(sc)), p, sc);
    }
  }
  static Scale scale(int16_t s) {
    if constexpr (kDot) {
      return vdupq_n_s32(s);
    } else {
      return vdupq_n_s16(s);
    }
  }
  static Acc dot_scaled(Acc acc, V u, V s, const Scales& sc) {
    return {scaled16(scaled16(acc.lo, u.r[0], s.r[0], sc.r[0]), u.r[1], s.r[1], sc.r[1]),
            scaled16(scaled16(acc.hi, u.r[2], s.r[2], sc.r[2]), u.r[3], s.r[3], sc.r[3])};
  }
  static Table table8_u8(uint64_t s) {
    Table t;
    for (int i = 0; i < 8; ++i) t.s[i] = int16_t(uint8_t(s >> (8 * i)));
    return t;
  }
  static Table table8_i8(const int8_t* s) {
    Table t;
    for (int i = 0; i < 8; ++i) t.s[i] = s[i];
    return t;
  }
  static Scales pick_2x32(const Table& t, int k) {
    const Scale lo = scale(t.s[2 * k]), hi = scale(t.s[2 * k + 1]);
    return {lo, lo, hi, hi};
  }
  static Scales pick_4x16(const Table& t, int g) {
    return {scale(t.s[4 * g]), scale(t.s[4 * g + 1]), scale(t.s[4 * g + 2]), scale(t.s[4 * g + 3])};
  }
  static Wide fold256(Acc a) { return {a.lo, a.hi}; }
  static Acc add_low(Acc a, Wide x) { return {vaddq_s32(a.lo, vaddq_s32(x.a, x.b)), a.hi}; }
  static void block_sums4(Acc a01, Acc a23, int32_t out[4]) {
    vst1q_s32(out, vpaddq_s32(vpaddq_s32(a01.lo, a01.hi), vpaddq_s32(a23.lo, a23.hi)));
  }

  // ---- beside the groups ---------------------------------------------------------------------------
  static F4 f4_zero() { return vdupq_n_f32(0.0f); }
  static F4 f4_set(float a, float b, float c, float d) {
    const float v[4] = {a, b, c, d};
    return vld1q_f32(v);
  }
  static void f4_store(float* out, F4 x) { vst1q_f32(out, x); }
  static F4 f4_halves(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
    const uint16_t h[4] = {a, b, c, d};
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
  }
  static F4 f4_mul(F4 a, F4 b) { return vmulq_f32(a, b); }
  static F4 fma4(F4 a, F4 b, F4 c) { return vfmaq_f32(c, a, b); }   // a·b + c, rounded once
  static F4 fnma4(F4 a, F4 b, F4 c) { return vfmsq_f32(c, a, b); }  // c − a·b, rounded once
  static int32x4_t sum2(Wide w) { return vaddq_s32(w.a, w.b); }
  static F4 totals4(Wide a, Wide b, Wide c, Wide d) {
    return vcvtq_f32_s32(vpaddq_s32(vpaddq_s32(sum2(a), sum2(b)), vpaddq_s32(sum2(c), sum2(d))));
  }
  static Wide wide_zero() { return {vdupq_n_s32(0), vdupq_n_s32(0)}; }
  // Σ_j m_j·(bsums[2j] + bsums[2j+1]) over the eight bytes m_j of `mins`.
  static Wide min_products_k4(uint64_t mins, const int16_t bsums[16]) {
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));  // |·| ≤ 2·16·127
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(mins)));
    return {vmull_s16(vget_low_s16(pairs), vget_low_s16(m)), vmull_high_s16(pairs, m)};
  }
  // kFactor·Σ_j sc_j·bsums[j].
  template <int kFactor>
  static Wide scale_products16(const int8_t sc[16], const int16_t bsums[16]) {
    const int8x16_t s8 = vld1q_s8(sc);
    int16x8_t s0 = vmovl_s8(vget_low_s8(s8)), s1 = vmovl_high_s8(s8);
    if constexpr (kFactor != 1) {
      s0 = vmulq_n_s16(s0, kFactor);
      s1 = vmulq_n_s16(s1, kFactor);
    }
    const int16x8_t b0 = vld1q_s16(bsums), b1 = vld1q_s16(bsums + 8);
    return {vmlal_high_s16(vmull_s16(vget_low_s16(s0), vget_low_s16(b0)), s0, b0),
            vmlal_high_s16(vmull_s16(vget_low_s16(s1), vget_low_s16(b1)), s1, b1)};
  }
  // Σ_j ±sc_j·bsums[j], negative where bit 15 of qh[j / 2] is set (IQ1_S's shifts).
  static Wide shift_products16(const uint16_t qh[8], const int8_t sc[16], const int16_t bsums[16]) {
    const int16x8_t neg = vshrq_n_s16(vreinterpretq_s16_u16(vld1q_u16(qh)), 15);  // 0 or −1 per word
    const int16x8_t neg0 = vzip1q_s16(neg, neg), neg1 = vzip2q_s16(neg, neg);    // one per sc_j
    const int8x16_t s8 = vld1q_s8(sc);
    const int16x8_t s0 = vsubq_s16(veorq_s16(vmovl_s8(vget_low_s8(s8)), neg0), neg0);
    const int16x8_t s1 = vsubq_s16(veorq_s16(vmovl_high_s8(s8), neg1), neg1);
    const int16x8_t b0 = vld1q_s16(bsums), b1 = vld1q_s16(bsums + 8);
    return {vmlal_high_s16(vmull_s16(vget_low_s16(s0), vget_low_s16(b0)), s0, b0),
            vmlal_high_s16(vmull_s16(vget_low_s16(s1), vget_low_s16(b1)), s1, b1)};
  }
};

}  // namespace
}  // namespace r1::quant
