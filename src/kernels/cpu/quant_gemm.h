// The tiled int8 matrix product for many tokens at once (prefill, batched decode): the int8 path of
// quant_matmul when T is large enough for weight reuse to matter.
//
// quant_dot's kernels put the 32 or 256 values of one weight block in the vector lanes and reduce them
// horizontally per block; that is right for one token (each weight byte is read once) but leaves the
// reuse of a weight block across tokens at four. Here the lanes hold 16 (AVX-512) or 8 (AVX2) *tokens*:
//  - activations, quantized exactly as for quant_dot (same scales, same int8 values), are repacked per
//    group of 16 (8) tokens so that four consecutive values of the group fill one register, shifted to
//    unsigned (qa + 128) for vpdpbusd (vpmaddubsw);
//  - weight rows are decoded once per call, by row blocks, to signed int8 values with the type's offset
//    removed (Q4_0's −8, Q6_K's −32, ...), stored four values of each of four rows in turn (a panel),
//    plus each block's integer sub-block scales, minimums and the constant 128·Σ sc·v that undoes the
//    activation shift; weights in row groups (row_groups.h) decode 16 rows at a time from the group
//    blocks where the type's values are bit fields;
//  - the micro-kernel multiplies 4 rows × 16 (8) tokens with one vpdpbusd (vpmaddubsw + vpmaddwd) per
//    row per four values (the weight bytes broadcast from memory), without any horizontal reduction.
// The scheme is written once (quant_gemm_simd.h) over a small policy per instruction set.
// Each block's integer sums equal those of the recipe in quant_dot_ref.h (integer arithmetic is exact in
// any order), and they become floats through the recipe's own operations in the same order — one fused
// multiply-add per block into partial sum b % 4, then (p0 + p1) + (p2 + p3) — so every token's outputs
// are bit-identical to quant_dot's: the batch a token is in still never changes its result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/cpu/quant_dot.h"
#include "kernels/cpu/row_groups.h"

namespace r1::quant {

struct GemmArgs {
  DType type;
  const uint8_t* w;  // rows × row_bytes, the weight type's blocks
  size_t row_bytes;
  int64_t rows, cols;
  const uint8_t* acts;  // T rows of quantize_activations() output, act_stride bytes apart
  size_t act_stride;
  int64_t tokens;
  float* y;            // y[t·rows + r]
  const float* bias;   // may be null
  bool row_groups = false;  // w in row groups (row_groups.h)
  // The last `tail` tokens (fewer than a token group) by the row-group kernel instead of a padded group,
  // after each row block's tiles while its weights are in the cache. Needs row_groups and rows a multiple
  // of 16.
  int64_t tail = 0;
  MatVecGroups tail_kernel = nullptr;
};

// Whether this build has the tiled kernel for weights of `type` on `isa` (AVX512-VNNI: every type;
// AVX2 and AVX-512 without VNNI: all but Q8_0, IQ4_NL and IQ4_XS; the other cases keep quant_dot's
// multi-token kernel, with the same results). `isa` must be supported.
bool gemm_supported(DType type, Isa isa);

// Tokens per group of the tiled kernel on `isa` (its vector lanes: 16 with AVX512-VNNI, 8 with AVX2; 0
// where there is no tiled kernel): a group is computed whole, however few of its tokens are real.
int gemm_group_tokens(Isa isa);

// y = W·x for every token of every job: repacks the activations (one parallel loop over all the jobs'
// token groups), then runs the micro-kernel over row blocks (one parallel loop over all the jobs' rows,
// split by cost). Scratch is per calling thread and reused. Needs gemm_supported(job.type, isa) for each.
void gemm(std::span<const GemmArgs> jobs, ThreadPool& pool, Isa isa);

// The implementations (x86 builds only): quant_gemm_avx512vnni.cpp, quant_gemm_avx2.cpp (also built as
// the AVX-VNNI one).
bool gemm_avx512vnni_has(DType type);
void gemm_avx512vnni(std::span<const GemmArgs> jobs, ThreadPool& pool);
bool gemm_avx2_has(DType type);
void gemm_avx2(std::span<const GemmArgs> jobs, ThreadPool& pool);
bool gemm_avxvnni_has(DType type);
void gemm_avxvnni(std::span<const GemmArgs> jobs, ThreadPool& pool);

}  // namespace r1::quant
