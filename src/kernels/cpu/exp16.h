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
  // n = round(x / ln2) by the 1.5·2^23 trick: the sum's low mantissa bits hold n.
  constexpr float kMagic = 12582912.0f;
  const Lanes16 t = x * 1.44269504088896341f + kMagic;
  const Lanes16 n = t - kMagic;
  const Lanes16 r = x - n * 0.693359375f - n * -2.12194440e-4f;
  Lanes16 p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const Lanes16 y = p * r * r + r + 1.0f;
  Ints16 bits;
  __builtin_memcpy(&bits, &t, sizeof bits);
  bits = (bits - Ints16{} - 0x4B400000 + 127) << 23;  // t's bits - magic's bits = n; then 2^n
  Lanes16 scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

}  // namespace r1
