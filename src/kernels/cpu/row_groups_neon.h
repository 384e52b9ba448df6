// The row-group kernels (row_groups_simd.h) for AArch64 NEON: the 16 rows in four 128-bit registers
// (rows 4k .. 4k + 3 in register k, four bytes each, as the group blocks store them). kDot: four
// products per int32 lane with sdot (the dot-product extension, Armv8.2+); without it, widening
// multiplies (int16: exact, |u·qa| ≤ 128 · 128) and two pairwise adds. NEON multiplies signed bytes by
// signed bytes, so Q8_0's stored v + 128 goes back to v (no offset to take off) and the unsigned values
// of the other types (at most 127) are used as they are. Included by row_groups_neon.cpp and
// row_groups_neondot.cpp, each compiled for its own feature set.
#pragma once

#include <arm_neon.h>

#include "kernels/cpu/row_groups_simd.h"

namespace r1::quant {
namespace {

template <bool kDot>
struct NeonRows {
  struct B {
    uint8x16_t v[4];
  };
  struct I {
    int32x4_t v[4];
  };
  struct F {
    float32x4_t v[4];
  };
  using R = uint8x16_t;
  static constexpr bool kPrefetchWide = false;  // row_groups_simd.h's kPrefetch (not measured on Arm)
  static constexpr bool kQ8Offset = false;

  template <class T, class Op>
  static T each(T a, Op op) { return {{op(a.v[0]), op(a.v[1]), op(a.v[2]), op(a.v[3])}}; }
  template <class T, class Op>
  static T each(T a, T b, Op op) { return {{op(a.v[0], b.v[0]), op(a.v[1], b.v[1]), op(a.v[2], b.v[2]), op(a.v[3], b.v[3])}}; }

  static B load(const void* p) {
    const auto* b = static_cast<const uint8_t*>(p);
    return {{vld1q_u8(b), vld1q_u8(b + 16), vld1q_u8(b + 32), vld1q_u8(b + 48)}};
  }
  static B and_(B a, B b) { return each(a, b, [](uint8x16_t x, uint8x16_t y) { return vandq_u8(x, y); }); }
  static B or_(B a, B b) { return each(a, b, [](uint8x16_t x, uint8x16_t y) { return vorrq_u8(x, y); }); }
  template <int kBits> static B srli16(B x) { return each(x, [](uint8x16_t y) { return vshrq_n_u8(y, kBits); }); }
  template <int kBits> static B slli16(B x) { return each(x, [](uint8x16_t y) { return vshlq_n_u8(y, kBits); }); }
  static B srl16(B x, int bits) {
    const int8x16_t n = vdupq_n_s8(int8_t(-bits));
    return each(x, [&](uint8x16_t y) { return vshlq_u8(y, n); });
  }
  static B bytes(int8_t v) {
    const uint8x16_t x = vdupq_n_u8(uint8_t(v));
    return {{x, x, x, x}};
  }

  static I zero() { return set1(0); }
  static I set1(int32_t v) {
    const int32x4_t x = vdupq_n_s32(v);
    return {{x, x, x, x}};
  }
  static I add(I a, I b) { return each(a, b, [](int32x4_t x, int32x4_t y) { return vaddq_s32(x, y); }); }
  static I sub(I a, I b) { return each(a, b, [](int32x4_t x, int32x4_t y) { return vsubq_s32(x, y); }); }
  static I mullo(I a, I b) { return each(a, b, [](int32x4_t x, int32x4_t y) { return vmulq_s32(x, y); }); }

  // acc += the four products of each int32 lane's bytes of u with the four bytes of a.
  static int32x4_t dot4(int32x4_t acc, int8x16_t u, int8x16_t a) {
    if constexpr (kDot) {
      return vdotq_s32(acc, u, a);
    } else {
      const int16x8_t lo = vmull_s8(vget_low_s8(u), vget_low_s8(a)), hi = vmull_high_s8(u, a);
      return vaddq_s32(acc, vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
    }
  }
  static int8x16_t broadcast4(const int8_t* a4) {
    int32_t x;
    std::memcpy(&x, a4, 4);
    return vreinterpretq_s8_s32(vdupq_n_s32(x));
  }
  static I dot(I acc, B u, const int8_t* a4) {
    const int8x16_t a = broadcast4(a4);
    for (int k = 0; k < 4; ++k) acc.v[k] = dot4(acc.v[k], vreinterpretq_s8_u8(u.v[k]), a);
    return acc;
  }
  static I dot_q8(I acc, B stored, const int8_t* a4) {
    const int8x16_t a = broadcast4(a4);
    const uint8x16_t offset = vdupq_n_u8(0x80);
    for (int k = 0; k < 4; ++k) acc.v[k] = dot4(acc.v[k], vreinterpretq_s8_u8(veorq_u8(stored.v[k], offset)), a);
    return acc;
  }
  static B lookup16(const uint8_t* table, B idx) {
    const uint8x16_t t = vld1q_u8(table);
    return each(idx, [&](uint8x16_t x) { return vqtbl1q_u8(t, x); });
  }

  static R rload(const void* p) { return vld1q_u8(static_cast<const uint8_t*>(p)); }
  static R rand(R a, R b) { return vandq_u8(a, b); }
  static R ror(R a, R b) { return vorrq_u8(a, b); }
  static R radd(R a, R b) { return vaddq_u8(a, b); }
  static R rsub(R a, R b) { return vsubq_u8(a, b); }
  static R rset(int8_t v) { return vdupq_n_u8(uint8_t(v)); }
  static R rshr(R x, int bits) { return vshlq_u8(x, vdupq_n_s8(int8_t(-bits))); }
  static R rshl(R x, int bits) { return vshlq_u8(x, vdupq_n_s8(int8_t(bits))); }
  static void rsplit16(const uint16_t* h, R& lo, R& hi) {  // little-endian: each uint16's low byte first
    const uint8x16x2_t bytes = vld2q_u8(reinterpret_cast<const uint8_t*>(h));
    lo = bytes.val[0];
    hi = bytes.val[1];
  }
  static I widen_u8(R x) {
    const uint16x8_t lo = vmovl_u8(vget_low_u8(x)), hi = vmovl_high_u8(x);
    return {{vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(lo))), vreinterpretq_s32_u32(vmovl_high_u16(lo)),
             vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(hi))), vreinterpretq_s32_u32(vmovl_high_u16(hi))}};
  }
  static I widen_i8(R x) {
    const int8x16_t s = vreinterpretq_s8_u8(x);
    const int16x8_t lo = vmovl_s8(vget_low_s8(s)), hi = vmovl_high_s8(s);
    return {{vmovl_s16(vget_low_s16(lo)), vmovl_high_s16(lo), vmovl_s16(vget_low_s16(hi)), vmovl_high_s16(hi)}};
  }

  static F zerof() { return set1f(0.0f); }
  static F set1f(float v) {
    const float32x4_t x = vdupq_n_f32(v);
    return {{x, x, x, x}};
  }
  static F halves(const uint16_t* h) {
    F f;
    for (int k = 0; k < 4; ++k) f.v[k] = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + 4 * k)));
    return f;
  }
  static F mul(F a, F b) { return each(a, b, [](float32x4_t x, float32x4_t y) { return vmulq_f32(x, y); }); }
  static F addf(F a, F b) { return each(a, b, [](float32x4_t x, float32x4_t y) { return vaddq_f32(x, y); }); }
  static F fmadd(F a, F b, F c) {
    for (int k = 0; k < 4; ++k) c.v[k] = vfmaq_f32(c.v[k], a.v[k], b.v[k]);
    return c;
  }
  static F fnmadd(F a, F b, F c) {  // c − a·b, rounded once
    for (int k = 0; k < 4; ++k) c.v[k] = vfmsq_f32(c.v[k], a.v[k], b.v[k]);
    return c;
  }
  static F cvt(I x) {
    F f;
    for (int k = 0; k < 4; ++k) f.v[k] = vcvtq_f32_s32(x.v[k]);
    return f;
  }
  static void store(float* p, F x) {
    for (int k = 0; k < 4; ++k) vst1q_f32(p + 4 * k, x.v[k]);
  }
};

}  // namespace
}  // namespace r1::quant
