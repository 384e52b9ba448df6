#include "kernels/cpu/stream.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "kernels/cpu/ops.h"

namespace r1 {

double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int passes) {
  const size_t n = bytes / sizeof(float);
  std::vector<float> buf(n, 1.0f);  // written once so every page is resident
  std::vector<float> ones(4096, 1.0f);
  std::vector<float> sums(size_t(pool.size()) * 16);
  double best = 0;
  for (int p = 0; p < passes; ++p) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(n / 4096, [&](size_t b, size_t e, int tid) {
      float s = 0;
      for (size_t i = b; i < e; ++i) s += dot(buf.data() + i * 4096, ones.data(), 4096);
      sums[size_t(tid) * 16] += s;  // keep the reads observable
    });
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(n / 4096 * 4096 * sizeof(float)) / sec / 1e9);
  }
  volatile float sink = sums[0];
  (void)sink;
  return best;
}

}  // namespace r1
