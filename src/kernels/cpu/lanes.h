// 16 floats as one vector (GCC/Clang vector extension: one AVX-512 register, two AVX2 ones, ...): the
// unit of the plain-C++ float kernels, which then vectorize the same way on every target and keep a
// fixed summation order.
#pragma once

#include <cstring>

namespace r1 {

typedef float Lanes16 __attribute__((vector_size(16 * sizeof(float))));

// 16 floats from / to any address (byte copies: no alignment assumed, one vector load or store).
inline Lanes16 load16(const float* p) {
  Lanes16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float* p, Lanes16 v) { std::memcpy(p, &v, sizeof v); }

}  // namespace r1
