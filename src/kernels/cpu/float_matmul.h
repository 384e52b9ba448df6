// The matrix product of float-valued weights (F32, and BF16, F16 and FP8 rows widened to floats: Hugging
// Face safetensors, F16/BF16 GGUF files). One token (decode): each row widened and dotted with the input
// (dot(), ops.h) as the rows stream past. Many tokens (prefill, batched decode): a tiled product.
//
// dot() keeps 64 partial sums per output, sum l taking the values at l mod 64 in order, the zero-padded
// tail included, then reduced pairwise. Calling dot() per (token, row) reads two operands per multiply and
// keeps nothing in registers (R1-Distill-1.5B's prefill from BF16 safetensors ran at 20 tokens/s). Here a
// register tile of rows × tokens (4 × 6 with AVX-512) accumulates one register's worth of each pair's
// partial sums at a time (10 loads per 24 products), so every partial sum still adds the same products in
// the same order: each output has dot()'s bits exactly, and the batch a token is in never changes it.
//
// Blocking: the tokens are packed once per call, per tile, in the order the tiles read them; a parallel
// item is a block of 64 rows, widened to floats and packed the same way. For each tile of tokens, slice of
// 2,048 columns and register's worth of partial sums, the block's row tiles go past the tokens' values,
// which stay in L1; each 16 of the block's outputs per token are reduced together and stored as one vector.
#pragma once

#include <cstdint>
#include <span>

#include "core/thread_pool.h"
#include "kernels/cpu/ops.h"

namespace r1 {

// y[t·rows + r] = dot(x_t, row r of w) (+ bias[r]) for t < T, x_t = x + (x_rows ? x_rows[t] : t)·cols.
// Any float-valued type dequant_row reads. Buffers are per thread, grown once (by the prefill) and reused.
void float_matmul(const WeightMatrix& w, const float* x, const int32_t* x_rows, int64_t T, float* y, ThreadPool& pool,
                  const float* bias);

// Several one-token products (T = 1 each, at most 64) in one parallel loop over all their rows -- a MoE
// layer's selected experts, q/k/v -- as float_matmul computes each. False (nothing done) for other jobs.
bool float_mat_vecs(std::span<const MatmulJob> jobs, ThreadPool& pool);

}  // namespace r1
