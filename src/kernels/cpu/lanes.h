// 16 floats as one vector (GCC/Clang vector extension: one AVX-512 register, two AVX2 ones, ...): the
// unit of the plain-C++ float kernels, which then vectorize the same way on every target and keep a
// fixed summation order.
#pragma once

namespace r1 {

typedef float Lanes16 __attribute__((vector_size(16 * sizeof(float))));

}  // namespace r1
