#include "kernels/cpu/quant_matmul.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/quant_gemm.h"

namespace r1 {

// From this many tokens on, the tiled kernel beats decoding each weight block for four tokens at a time
// (r1_bench_quant --tokens; bench/RESULTS.md).
constexpr int64_t kGemmMinTokens = 12;

bool quant_matmul_supported(DType t) { return quant::vec_dot(t, quant::Isa::Scalar) != nullptr; }

void quant_matmul(const WeightMatrix& w, const float* x, int64_t T, float* y, ThreadPool& pool, const float* bias) {
  static const quant::Isa isa = quant::best_isa();
  quant_matmul(w, x, T, y, pool, bias, isa);
}

void quant_matmul(const WeightMatrix& w, const float* x, int64_t T, float* y, ThreadPool& pool, const float* bias,
                  quant::Isa isa) {
  const quant::VecDot dot = quant::vec_dot(w.dtype, isa);
  const quant::VecDotRows dot_rows = quant::vec_dot_rows(w.dtype, isa);
  const quant::ActFormat format = quant::act_format(w.dtype);
  const int64_t rows = w.rows, cols = w.cols;
  const size_t act_bytes = quant::act_row_bytes(format, cols);
  const size_t row_bytes = dtype_row_bytes(w.dtype, cols);

  thread_local std::vector<uint8_t> scratch;  // grows to the largest T × cols once, then is reused
  if (scratch.size() < size_t(T) * act_bytes) scratch.resize(size_t(T) * act_bytes);
  uint8_t* acts = scratch.data();
  pool.parallel_for(size_t(T), [&](size_t begin, size_t end, int) {
    for (size_t t = begin; t < end; ++t) quant::quantize_activations(format, x + t * size_t(cols), acts + t * act_bytes, cols);
  });

  // Many tokens: the tiled kernel (quant_gemm.h), which gives the same bits as the loop below.
  if (T >= kGemmMinTokens && quant::gemm_supported(w.dtype, isa)) {
    quant::gemm({w.dtype, w.data, row_bytes, rows, cols, acts, act_bytes, T, y, bias}, pool);
    return;
  }

  // Rows in tiles: each tile's weights are read from memory once and stay in cache for every token.
  const int64_t tile_rows = std::clamp<int64_t>(int64_t(32768 / std::max<size_t>(row_bytes, 1)), 1, 16);
  const int64_t tiles = (rows + tile_rows - 1) / tile_rows;
  pool.parallel_for(size_t(tiles), [&](size_t begin, size_t end, int) {
    for (int64_t tile = int64_t(begin); tile < int64_t(end); ++tile) {
      const int64_t r0 = tile * tile_rows, r1 = std::min(rows, r0 + tile_rows);
      if (T == 1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float v = dot(cols, w.data + size_t(r) * row_bytes, acts);
          y[r] = bias ? v + bias[r] : v;
        }
        continue;
      }
      // Several tokens: each weight block is decoded once for up to kMaxTokens of them.
      for (int64_t t0 = 0; t0 < T; t0 += quant::kMaxTokens) {
        const int tokens = int(std::min<int64_t>(quant::kMaxTokens, T - t0));
        for (int64_t r = r0; r < r1; ++r) {
          float out[quant::kMaxTokens];
          dot_rows(cols, w.data + size_t(r) * row_bytes, acts + size_t(t0) * act_bytes, act_bytes, tokens, out);
          for (int k = 0; k < tokens; ++k) y[(t0 + k) * rows + r] = bias ? out[k] + bias[r] : out[k];
        }
      }
    }
  });
}

}  // namespace r1
