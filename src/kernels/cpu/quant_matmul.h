// matmul for block-quantized weights on the int8 path: the activations are quantized once per call
// (per token row, so a token's result does not depend on the batch), then every output is one
// integer dot product per weight block (quant_dot.h). ops.cpp's matmul sends the types that have an
// int8 kernel here.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quant_dot.h"

namespace r1 {

// Whether weights of type `t` take the int8 path.
bool quant_matmul_supported(DType t);

// y[t][r] = Σ_c x[t][c]·W[r][c] (+ bias[r]), as matmul; `isa` chooses the kernels and must be one that
// quant::isa_supported accepts (default: the fastest this CPU supports, chosen once per process). All
// ISAs give the same bits. Scratch for the quantized activations is per calling thread and reused, so
// the decode loop allocates nothing once it has run.
void quant_matmul(const WeightMatrix& w, const float* x, int64_t T, float* y, ThreadPool& pool,
                  const float* bias = nullptr);
void quant_matmul(const WeightMatrix& w, const float* x, int64_t T, float* y, ThreadPool& pool, const float* bias,
                  quant::Isa isa);

// ops.h's matmuls for int8-path weights (every job's), with the same bits as quant_matmul per job.
void quant_matmuls(std::span<const MatmulJob> jobs, ThreadPool& pool);
void quant_matmuls(std::span<const MatmulJob> jobs, ThreadPool& pool, quant::Isa isa);

}  // namespace r1
