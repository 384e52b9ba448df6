// CPU kernels: the small set of operations the model is written in.
//
// Every kernel computes each output element in one fixed order that does not depend on the number of
// tokens in the batch or the number of threads, so a one-pass prefill and token-by-token decode give
// bit-identical results. These are the portable baseline kernels; SIMD-specialised and quantized
// variants plug in behind the same signatures (see docs/ARCHITECTURE.md).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/dtype.h"
#include "core/thread_pool.h"

namespace r1 {

// A Linear weight [rows = out_features, cols = in_features], read in place from the mapped file.
struct WeightMatrix {
  std::string name;
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;
  // FP8 block scales (`weight_scale_inv`): W[r][c] = fp8(W[r][c]) * scale[(scale_row0 + r) / block_rows][c / block_cols].
  const float* block_scale = nullptr;
  int64_t block_rows = 0, block_cols = 0, scale_cols = 0;
  int64_t scale_row0 = 0;  // a row_slice's first row in the matrix the scales belong to
  // Rows stored in groups of 16 (kernels/cpu/row_groups.h), made at load time for the decode kernels;
  // dequant_row and the matmuls read either layout, row_slice only the standard one.
  bool row_groups = false;

  bool empty() const { return data == nullptr; }
  size_t bytes() const { return size_t(rows) * dtype_row_bytes(dtype, cols); }
};

// Rows [r0, r0 + n) of `w` as a matrix of its own (no copy).
WeightMatrix row_slice(const WeightMatrix& w, int64_t r0, int64_t n);

// out[0..cols) = row `r` of `w` as floats.
void dequant_row(const WeightMatrix& w, int64_t r, float* out);

// Σ a[i]·b[i] with a fixed 64-way split accumulation (vectorizes without -ffast-math, deterministic).
float dot(const float* a, const float* b, int64_t n);

// y[t][r] = Σ_c x[t][c]·W[r][c] (+ bias[r]) for t < T: x is [T, cols], y is [T, rows].
// Parallel over rows; each weight row is dequantized once per call and reused for all T tokens.
void matmul(const WeightMatrix& w, const float* x, int64_t T, float* y, ThreadPool& pool, const float* bias = nullptr);

// One of several independent products run together by matmuls: y = x·Wᵀ (+ bias) for T tokens.
struct MatmulJob {
  const WeightMatrix* w = nullptr;
  const float* x = nullptr;  // [T, w->cols], or rows of a larger input (x_rows)
  int64_t T = 0;
  float* y = nullptr;  // [T, w->rows]
  const float* bias = nullptr;
  const int32_t* x_rows = nullptr;  // if set: token t's input is row x_rows[t] of x (an expert's tokens)
};

// Every job as matmul would compute it, to the same bits. Decode-sized jobs (a few tokens, int8-path
// weights) share one parallel loop over all their rows instead of one each -- q/k/v, gate/up, the
// selected experts -- and every row of an input is quantized once, however many jobs read it (the
// routed experts' x_rows pick rows of the layer's one input).
void matmuls(std::span<const MatmulJob> jobs, ThreadPool& pool);

// y = weight ⊙ x / sqrt(mean(x²) + eps); `weight` may be null (unweighted). y may alias x.
void rmsnorm(const float* x, const float* weight, int64_t n, double eps, float* y);

// In-place softmax over n values, max-subtracted, accumulated in double; exp16 (within 2 ulp of expf;
// values more than 87 below the maximum weigh e^-87 relative to it rather than less).
void softmax(float* x, int64_t n);

// SwiGLU's gating, in place: gate[i] = silu(gate[i])·up[i], silu(x) = x / (1 + e^-x), e^x by exp16
// (kernels/cpu/exp16.h) sixteen at a time -- every element the same way wherever it sits in the array.
void swiglu(float* gate, const float* up, int64_t n);

}  // namespace r1
