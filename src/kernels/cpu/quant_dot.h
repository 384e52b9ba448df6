// The int8 path of the quantized matmul: activations quantized to int8 blocks, integer dot products
// per weight block, a scalar reference and SIMD versions selected at run time.
//
// Every kernel, scalar or SIMD, computes the same integer sum for each block and turns it into the same
// float contribution with the same operations (the formula beside each type in quant_dot_scalar.cpp);
// block b's contribution is added with one fused multiply-add to partial sum b % 4, and the result is
// (p0 + p1) + (p2 + p3). So all versions give bit-identical results: the instruction set the CPU
// happens to have changes the speed, never the numbers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace r1::quant {

// Activations paired with the 32-value weight types: x ≈ d · qs, plus Σ qs for the weight types whose
// values carry an offset (Q4_0's −8, Q4_1's minimum, ...). The K-quants and IQ4_XS pair with BlockQ8_K.
struct ActBlock32 {
  float d;
  int32_t sum;
  int8_t qs[32];
};

enum class ActFormat : uint8_t { Q8_32, Q8_K };

// The activation format a weight type's kernel reads (Q8_K for 256-value types, else Q8_32).
ActFormat act_format(DType weight_type);
size_t act_row_bytes(ActFormat f, int64_t n);
// x[0..n) -> int8 blocks: d = max|x| / 127 per block, q = round(x / d) ∈ [−127, 127].
void quantize_activations(ActFormat f, const float* x, void* dst, int64_t n);

// Σ_i w[i]·a[i] over one row of n values: `w` in the weight type's blocks, `a` in its ActFormat.
using VecDot = float (*)(int64_t n, const void* w, const void* a);

// The instruction sets with int8 kernels: x86's, and AArch64's NEON without and with sdot (NeonDot).
// AvxVnni is AVX2 with AVX-VNNI (vpdpbusd on 256-bit vectors, VEX-encoded): the AVX2 kernels compiled again
// with their byte products in vpdpbusd, for the CPUs that have it without AVX-512 (Intel's client cores
// from Alder Lake on).
enum class Isa : uint8_t { Scalar, Avx2, AvxVnni, Avx512, Avx512Vnni, Neon, NeonDot };
inline constexpr Isa kAllIsas[] = {Isa::Scalar,     Isa::Avx2, Isa::AvxVnni, Isa::Avx512,
                                   Isa::Avx512Vnni, Isa::Neon, Isa::NeonDot};
const char* isa_name(Isa isa);
// Whether this build has kernels for `isa` and this CPU (and OS) can run them.
bool isa_supported(Isa isa);
// The fastest supported; the environment variable R1_ISA=scalar|avx2|avxvnni|avx512|avx512vnni|neon|neondot
// caps it (to the named set or a slower one of the same family).
Isa best_isa();

// The kernel for weights of type `w` on `isa`; nullptr when that type has no int8 kernel (it then
// takes the dequantize-to-float path). Every GGML weight type r1 reads has one: Q8_0, Q4_0, Q4_1,
// Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS.
VecDot vec_dot(DType w, Isa isa);

// The same for up to kMaxTokens activation rows (row t at a + t·a_stride): out[t] = Σ w·a_t, bit for bit
// as VecDot gives it, with each weight block decoded once for all the rows (prefill).
constexpr int kMaxTokens = 4;
using VecDotRows = void (*)(int64_t n, const void* w, const void* a, size_t a_stride, int tokens, float* out);
VecDotRows vec_dot_rows(DType w, Isa isa);

// Decode: `rows` consecutive weight rows (row r at w + r·row_bytes) against one activation row,
// out[r] = Σ w_r·a bit for bit as VecDot gives each. Rows of 256-value types with two blocks after the
// groups of four (R1-Distill's 1,536 values: six blocks) go in pairs whose last blocks are finished
// together, instead of each row's last two padded to a group of four.
using MatVec = void (*)(int64_t n, const void* w, size_t row_bytes, int rows, const void* a, float* out);
MatVec mat_vec(DType w, Isa isa);

// The per-instruction-set tables (quant_dot_scalar.cpp, quant_dot_avx2.cpp, quant_dot_avx512*.cpp,
// quant_dot_neon.cpp); each build has the scalar one and those of its architecture.
VecDot vec_dot_scalar(DType w);
VecDot vec_dot_avx2(DType w);
VecDot vec_dot_avxvnni(DType w);
VecDot vec_dot_avx512(DType w);
VecDot vec_dot_avx512vnni(DType w);
VecDot vec_dot_neon(DType w);
VecDot vec_dot_neondot(DType w);
VecDotRows vec_dot_rows_scalar(DType w);
VecDotRows vec_dot_rows_avx2(DType w);
VecDotRows vec_dot_rows_avxvnni(DType w);
VecDotRows vec_dot_rows_avx512(DType w);
VecDotRows vec_dot_rows_avx512vnni(DType w);
VecDotRows vec_dot_rows_neon(DType w);
VecDotRows vec_dot_rows_neondot(DType w);
MatVec mat_vec_scalar(DType w);
MatVec mat_vec_avx2(DType w);
MatVec mat_vec_avxvnni(DType w);
MatVec mat_vec_avx512(DType w);
MatVec mat_vec_avx512vnni(DType w);
MatVec mat_vec_neon(DType w);
MatVec mat_vec_neondot(DType w);

}  // namespace r1::quant
