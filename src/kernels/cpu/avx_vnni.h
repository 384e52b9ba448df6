// AVX-VNNI's byte and word dot products on 256-bit registers, for the AVX2 kernels' second build
// (R1_AVX_VNNI, src/CMakeLists.txt). Register-only asm statements rather than the intrinsics: with
// _mm256_dpbusd_avx_epi32 GCC 12 copied the accumulators between registers around every instruction
// (the Q8 attention at 16k, one thread: 3.9 ms per layer with the intrinsic, 2.7 with these; 3.8 and
// 3.3 in a build for baseline x86-64).
// "x" keeps the operands in ymm0-15, which the VEX encoding reaches.
#pragma once

#include <immintrin.h>

namespace r1 {

// acc + the products of unsigned a and signed b's bytes, four per int32 lane.
inline __m256i dpbusd256(__m256i acc, __m256i a, __m256i b) {
  asm("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(a), "x"(b));
  return acc;
}

// acc + the products of a and b's int16 lanes, two per int32 lane.
inline __m256i dpwssd256(__m256i acc, __m256i a, __m256i b) {
  asm("%{vex%} vpdpwssd %2, %1, %0" : "+x"(acc) : "x"(a), "x"(b));
  return acc;
}

}  // namespace r1
