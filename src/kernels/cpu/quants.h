// Codecs of GGML's block-quantized types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K … Q6_K, Q8_K, IQ4_NL,
// IQ4_XS; and decoders only for the codebook types IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S
// (files made by llama.cpp's quantizer). Layouts and the math of each block: quant_blocks.h.
//
// dequantize_row reproduces ggml's decoding exactly (same float operations). quantize_row is r1's own
// quantizer: round-to-nearest for the 32-value types, and a least-squares search over candidate scales
// (and minimums) per sub-block for the K-quants and the IQ4 types, followed by quantizing those scales
// to their stored precision. Measured relative RMS error on Gaussian rows: tests/unit/quants_test.cpp.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace r1 {

// dst[0..n) = the values of the blocks at src. `t` is a block type; n a multiple of its block size.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// Encodes src[0..n) as blocks of type `t` into dst (dtype_row_bytes(t, n) bytes). Q8_K is the int8
// activation format of the K-quant dot products: d = max|x| / 127, with per-16 sums.
void quantize_row(DType t, const float* src, void* dst, int64_t n);
// Whether quantize_row can write `t` (every block type except the codebook types below 4 bits).
bool can_quantize(DType t);

}  // namespace r1
