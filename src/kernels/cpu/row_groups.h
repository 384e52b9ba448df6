// Weights in row groups: a decode-time layout for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, IQ4_XS, the codebook types
// IQ1_S … IQ3_S and the K-quants Q2_K … Q6_K, made once at load time.
//
// The one-token mat-vec of quant_dot.h puts a block's 256 values in the vector lanes and reduces them
// per row: about sixty instructions per row and block, so a thread decodes Q4_K slower than two cores'
// share of the memory bandwidth (bench/RESULTS.md). In row groups, kRowGroup = 16 consecutive rows are
// stored interleaved block by block, so that a 64-byte load holds four bytes of each of the 16 rows at
// the same position and one vpdpbusd (NEON: four sdot) adds four products to each row's own int32 lane,
// against activation bytes broadcast to all lanes: no reduction across lanes, about fifteen instructions
// per row and block.
//
// Layout of a matrix with R rows of B blocks: the first ⌊R / 16⌋ · 16 rows as groups of 16, each group
// B group blocks (row_groups_blocks.h: the 16 rows' block b, every field transposed, a byte field in
// chunks of four bytes per row) in block order; the remaining R mod 16 rows after them, in the standard
// layout. The matrix takes exactly as many bytes as before, except for the codebook types, whose entries
// are stored looked up (row_groups_blocks.h): IQ1_S 70 bytes per row and block instead of 50, IQ1_M 106
// instead of 56, IQ2_XXS / IQ2_XS / IQ2_S 106 instead of 66 / 74 / 82, IQ3_XXS / IQ3_S 134 instead of 98 / 110.
//
// Results are bit-identical to quant_dot's for every row: the integer sums are exact, and each block is
// finished with the recipe's float operations in the recipe's order, lane by lane.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/cpu/quant_dot.h"

namespace r1::quant {

constexpr int kRowGroup = 16;

// Whether `t` has a row-group layout (Q4_0 … Q5_1, Q8_0, IQ4_NL, IQ4_XS, IQ1_* … IQ3_*, Q2_K … Q6_K).
bool row_groups_layout(DType t);

// Bytes of a rows × cols matrix in the row-group layout, and where row r starts in it (r a multiple of
// 16, or a row past the last full group).
size_t row_groups_bytes(DType t, int64_t rows, int64_t cols);
size_t row_groups_offset(DType t, int64_t rows, int64_t cols, int64_t r);

// dst (row_groups_bytes) = the rows × cols matrix src, in the row-group layout. In parts: groups
// [g0, g1) of the ⌈rows / 16⌉, the last of which holds the rows past the full groups where there are any.
void to_row_groups(DType t, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst, int64_t g0, int64_t g1);
inline void to_row_groups(DType t, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst) {
  to_row_groups(t, src, rows, cols, dst, 0, (rows + kRowGroup - 1) / kRowGroup);
}

// Rows [r0, r0 + n) of a row-group matrix in the type's standard blocks, one after the other
// (dtype_row_bytes(t, cols) bytes each). Each group block is read once for all its rows in the range.
void rows_from_groups(DType t, const uint8_t* data, int64_t rows, int64_t cols, int64_t r0, int64_t n, uint8_t* out);
inline void row_from_groups(DType t, const uint8_t* data, int64_t rows, int64_t cols, int64_t r, uint8_t* out) {
  rows_from_groups(t, data, rows, cols, r, 1, out);
}

// The same rows in the form the groups store each row's block (row_groups_blocks.h: the codebook types'
// expanded forms, stored_row_bytes(t, cols) bytes per row; the file's blocks for every other type).
void stored_rows_from_groups(DType t, const uint8_t* data, int64_t rows, int64_t cols, int64_t r0, int64_t n, uint8_t* out);
size_t stored_row_bytes(DType t, int64_t cols);

// `groups` consecutive row groups (starting at w) against `tokens` ≤ kMaxTokens activation rows (row t at
// a + t·a_stride): out[t·out_stride + 16·g + r] = Σ w_r·a_t, bit for bit as VecDot gives each row in the
// standard layout. The weights are read once for all the tokens (batched decode).
using MatVecGroups = void (*)(int64_t n, const void* w, int groups, const void* a, size_t a_stride, int tokens,
                              float* out, size_t out_stride);

// The kernel for `t` on `isa`; nullptr where there is none (then quant_matmul restores rows one by one
// with row_from_groups and runs the standard kernels: same results, slower).
MatVecGroups mat_vec_groups(DType t, Isa isa);
MatVecGroups mat_vec_groups_avx512vnni(DType t);
MatVecGroups mat_vec_groups_avx2(DType t);
MatVecGroups mat_vec_groups_avxvnni(DType t);
MatVecGroups mat_vec_groups_neon(DType t);
MatVecGroups mat_vec_groups_neondot(DType t);

}  // namespace r1::quant
