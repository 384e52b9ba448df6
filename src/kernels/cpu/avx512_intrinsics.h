// <immintrin.h> for the AVX-512 translation units (quant_dot_avx512*.cpp, quant_gemm_avx512vnni.cpp).
//
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_epi32(), which -W(maybe-)uninitialized
// reports wherever they are inlined; the state must be set before <immintrin.h> is first read, so
// include this header first.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <immintrin.h>
