// exp of 16 floats at once, for the softmax weights of attention (x <= 0 there: a score minus the
// running maximum). Cephes' expf method: x = n·ln2 + r with |r| <= ln2/2 (ln2 split in two constants
// so n·ln2 is exact), e^r from a degree-7 polynomial, 2^n put in the exponent bits. Within 2 ulp of
// expf for x in [-87, 88]; below -87 the result is e^-87 ≈ 1.6e-38 instead of a denormal or 0, which
// no softmax sum can tell apart. The same lanes give the same bits on any thread and for any batch.
#pragma once

#include <cstdint>

#include "kernels/cpu/lanes.h"

namespace r1 {

inline Lanes16 exp16(Lanes16 x) {
  const Lanes16 lo = Lanes16{} - 87.0f, hi = Lanes16{} + 88.0f;
  x = x < lo ? lo : x;  // lane-wise select (vector extension comparison)
  x = x > hi ? hi : x;
  // n = round(x / ln2) by the 1.5·2^23 trick: the sum's low mantissa bits hold n. Fused multiply-adds
  // throughout (one rounding each, the same on every ISA: fmadd16): the chain is half the instructions of
  // separate multiplies and adds (a 256-row Q8 attention step's 16 heads: 1.39 -> 0.88 µs).
  constexpr float kMagic = 12582912.0f;
  const Lanes16 t = fmadd16(x, broadcast16(1.44269504088896341f), broadcast16(kMagic));
  const Lanes16 n = t - kMagic;
  const Lanes16 r = fmadd16(n, broadcast16(2.12194440e-4f), fmadd16(n, broadcast16(-0.693359375f), x));
  Lanes16 p = fmadd16(r, broadcast16(1.9875691500e-4f), broadcast16(1.3981999507e-3f));
  p = fmadd16(p, r, broadcast16(8.3334519073e-3f));
  p = fmadd16(p, r, broadcast16(4.1665795894e-2f));
  p = fmadd16(p, r, broadcast16(1.6666665459e-1f));
  p = fmadd16(p, r, broadcast16(5.0000001201e-1f));
  const Lanes16 y = fmadd16(p, r * r, r + 1.0f);
  Ints16 bits;
  __builtin_memcpy(&bits, &t, sizeof bits);
  bits = (bits - Ints16{} - 0x4B400000 + 127) << 23;  // t's bits - magic's bits = n; then 2^n
  Lanes16 scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

}  // namespace r1
