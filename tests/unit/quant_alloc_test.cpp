// Quantized matmul allocates nothing once it has run at the largest batch: the int8 activations live in
// reused per-thread scratch (the decode loop relies on this; operator new is counted here, so this
// test has a binary of its own).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "allocation_counter.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quants.h"

namespace r1 {
namespace {

TEST(QuantMatmul, AllocatesNothingOnceWarm) {
  const int64_t rows = 96, cols = 1024, batch = 6;
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> wf(size_t(rows * cols)), x(size_t(batch * cols)), y(size_t(batch * rows));
  for (auto& v : wf) v = g(rng);
  for (auto& v : x) v = g(rng);
  ThreadPool pool(2);
  std::vector<std::vector<uint8_t>> storage;
  std::vector<WeightMatrix> weights;
  for (DType t : {DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::IQ4_NL}) {
    storage.emplace_back(size_t(rows) * dtype_row_bytes(t, cols));
    for (int64_t r = 0; r < rows; ++r) {
      quantize_row(t, wf.data() + r * cols, storage.back().data() + size_t(r) * dtype_row_bytes(t, cols), cols);
    }
    WeightMatrix w;
    w.dtype = t;
    w.rows = rows;
    w.cols = cols;
    w.data = storage.back().data();
    weights.push_back(w);
  }
  for (const auto& w : weights) matmul(w, x.data(), batch, y.data(), pool);  // warm-up at the largest batch

  const long before = test::allocations();
  for (int step = 0; step < 5; ++step) {
    for (const auto& w : weights) {
      matmul(w, x.data(), 1, y.data(), pool);
      matmul(w, x.data(), batch, y.data(), pool);
    }
  }
  EXPECT_EQ(test::allocations() - before, 0);
}

}  // namespace
}  // namespace r1
