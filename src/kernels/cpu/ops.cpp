#include "kernels/cpu/ops.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/exp16.h"
#include "kernels/cpu/float_matmul.h"
#include "kernels/cpu/lanes.h"
#include "kernels/cpu/quant_matmul.h"
#include "kernels/cpu/quants.h"
#include "kernels/cpu/row_groups.h"

namespace r1 {

namespace {
// A row of 16-bit values (BF16 as uint16_t, F16 as Half) as floats, read as the decode's dot products read
// it (StoredRow: exact conversions, F16 in hardware where the build has it, prefetching ahead).
template <class W>
void widen_row(const W* src, int64_t n, float* out) {
  const StoredRow<W> row{src};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    if (i % 64 == 0) row.prefetch(i);
    store16(out + i, row.load(i));
  }
  for (; i < n; ++i) out[i] = row.at(i);
}
}  // namespace

void dequant_row(const WeightMatrix& w, int64_t r, float* out) {
  const int64_t n = w.cols;
  switch (w.dtype) {
    case DType::F32:
      std::memcpy(out, w.data + size_t(r * n) * 4, size_t(n) * 4);
      return;
    case DType::BF16:  // rows are element-aligned (weights.cpp checks)
      widen_row(reinterpret_cast<const uint16_t*>(w.data) + r * n, n, out);
      return;
    case DType::F16:
      widen_row(reinterpret_cast<const Half*>(w.data) + r * n, n, out);
      return;
    case DType::F8_E4M3: {
      const float* table = fp8_e4m3_table();
      const uint8_t* src = w.data + r * n;
      const float* scales = w.block_scale + ((w.scale_row0 + r) / w.block_rows) * w.scale_cols;
      for (int64_t c0 = 0; c0 < n; c0 += w.block_cols) {
        const float s = scales[c0 / w.block_cols];
        const int64_t c1 = std::min(n, c0 + w.block_cols);
        int64_t i = c0;
        const bool folds = fp8_scale_folds(s);
        for (; i + 16 <= c1; i += 16) {
          if ((i - c0) % 64 == 0) prefetch_row_ahead(src + i);  // a line per 64 codes
          store16(out + i, folds ? fp8_e4m3_16_times(src + i, 256.0f * s) : fp8_e4m3_16_times(src + i, 256.0f) * s);
        }
        for (; i < c1; ++i) out[i] = table[src[i]] * s;
      }
      return;
    }
    default: {  // GGML block types: row r is a whole number of blocks
      if (!w.row_groups) {
        dequantize_row(w.dtype, w.data + size_t(r) * dtype_row_bytes(w.dtype, n), out, n);
        return;
      }
      thread_local std::vector<uint8_t> row;  // grown once, then reused (embedding lookups per token)
      row.resize(dtype_row_bytes(w.dtype, n));
      quant::row_from_groups(w.dtype, w.data, w.rows, n, r, row.data());
      dequantize_row(w.dtype, row.data(), out, n);
    }
  }
}

WeightMatrix row_slice(const WeightMatrix& w, int64_t r0, int64_t n) {
  assert(!w.row_groups);  // the matrices sliced (MLA's per-head products) are never regrouped
  WeightMatrix s;  // unnamed: copying the name could allocate, and slices are taken in the decode loop
  s.dtype = w.dtype;
  s.cols = w.cols;
  s.block_scale = w.block_scale;
  s.block_rows = w.block_rows;
  s.block_cols = w.block_cols;
  s.scale_cols = w.scale_cols;
  s.rows = n;
  s.data = w.data + size_t(r0) * dtype_row_bytes(w.dtype, w.cols);
  s.scale_row0 = w.scale_row0 + r0;
  return s;
}

float dot(const float* a, const float* b, int64_t n) { return dot_lanes(a, b, n); }

void matmul(const WeightMatrix& w, const float* x, int64_t T, float* y, ThreadPool& pool, const float* bias) {
  if (quant_matmul_supported(w.dtype)) {  // GGML block types with an int8 kernel
    quant_matmul(w, x, T, y, pool, bias);
    return;
  }
  float_matmul(w, x, nullptr, T, y, pool, bias);
}

void matmuls(std::span<const MatmulJob> jobs, ThreadPool& pool) {
  size_t int8_jobs = 0;
  for (const MatmulJob& j : jobs) int8_jobs += quant_matmul_supported(j.w->dtype);
  if (int8_jobs == jobs.size()) {
    quant_matmuls(jobs, pool);
    return;
  }
  if (int8_jobs == 0 && float_mat_vecs(jobs, pool)) return;  // all float, one token each: one loop
  for (const MatmulJob& j : jobs) {
    if (quant_matmul_supported(j.w->dtype)) quant_matmuls(std::span(&j, 1), pool);
    else float_matmul(*j.w, j.x, j.x_rows, j.T, j.y, pool, j.bias);
  }
}

void rmsnorm(const float* x, const float* weight, int64_t n, double eps, float* y) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
  const float inv = float(1.0 / std::sqrt(ss / double(n) + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = (weight ? weight[i] : 1.0f) * (x[i] * inv);
}

void softmax(float* x, int64_t n) {
  // Lane by lane, 16 values at a time, then across the lanes once: the maximum, the exps (exp16) and their
  // sum in double (GQA's decode at 16k context runs 16k values per head and layer, and a sum of one value at
  // a time is a chain of dependent adds). The last 1-15 values go through the same lanes, padded, so a
  // value's bits do not depend on its position.
  using Doubles8 = double __attribute__((vector_size(64)));
  const auto halves = [](Lanes16 v) {
    return std::pair{__builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), Doubles8),
                     __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), Doubles8)};
  };
  const int64_t full = n / 16 * 16;
  float tail[16] = {};
  std::memcpy(tail, x + full, size_t(n - full) * sizeof(float));
  Lanes16 m = first_lanes(load16(tail), n - full, -INFINITY);
  for (int64_t i = 0; i < full; i += 16) {
    const Lanes16 v = load16(x + i);
    m = v > m ? v : m;
  }
  const float mx = max_lanes(m);
  Doubles8 sum = {};
  const auto exps = [&](float* p, int64_t count) {
    const Lanes16 e = exp16(load16(p) - mx);
    store16(p, e);
    const auto [lo, hi] = halves(first_lanes(e, count, 0.0f));
    sum += lo + hi;
  };
  for (int64_t i = 0; i < full; i += 16) exps(x + i, 16);
  if (full < n) {
    exps(tail, n - full);
    std::memcpy(x + full, tail, size_t(n - full) * sizeof(float));
  }
  sum += __builtin_shufflevector(sum, sum, 4, 5, 6, 7, 0, 1, 2, 3);
  sum += __builtin_shufflevector(sum, sum, 2, 3, 0, 1, 6, 7, 4, 5);
  const float inv = float(1.0 / (sum[0] + sum[1]));
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(float* gate, const float* up, int64_t n) {
  const auto gated = [](Lanes16 g, Lanes16 u) { return g / (1.0f + exp16(-g)) * u; };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store16(gate + i, gated(load16(gate + i), load16(up + i)));
  if (i < n) {  // the last 1-15 through the same lanes, zero-padded
    float g[16] = {}, u[16] = {};
    std::memcpy(g, gate + i, size_t(n - i) * sizeof(float));
    std::memcpy(u, up + i, size_t(n - i) * sizeof(float));
    store16(g, gated(load16(g), load16(u)));
    std::memcpy(gate + i, g, size_t(n - i) * sizeof(float));
  }
}

}  // namespace r1
