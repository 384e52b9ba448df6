// Micro-benchmark of the training GEMMs (src/train/ops/gemm.h): the three products of a Linear layer,
// fp32, at T tokens and square in = out weights, on 1 and 2 threads. Reports GFLOP/s (2·T·in·out flops
// per product), the best of several timed repetitions, since the machine is shared.
//
//   r1_bench_train_gemm [--tokens 256] [--sizes 256,512,768,1024] [--threads 1,2] [--seconds 0.5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "train/ops/gemm.h"

namespace {

std::vector<int64_t> parse_list(const char* s) {
  std::vector<int64_t> out;
  for (const char* p = s; *p;) {
    char* end;
    out.push_back(std::strtoll(p, &end, 10));
    p = *end ? end + 1 : end;
  }
  return out;
}

// Best seconds per call of fn over about `seconds` of repetitions.
template <class Fn>
double best_time(Fn&& fn, double seconds) {
  using clock = std::chrono::steady_clock;
  fn();  // warm caches and the thread-local packing buffers
  double best = 1e30;
  const auto stop = clock::now() + std::chrono::duration<double>(seconds);
  do {
    const auto t0 = clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(clock::now() - t0).count());
  } while (clock::now() < stop);
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t T = 256;
  std::vector<int64_t> sizes = {256, 512, 768, 1024}, threads = {1, 2};
  double seconds = 0.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tokens"))
      T = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--sizes"))
      sizes = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads"))
      threads = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds"))
      seconds = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 1;
    }
  }
  std::printf("%6s %6s %6s %8s | %10s %10s %10s  (GFLOP/s)\n", "T", "in", "out", "threads", "forward", "d_input",
              "d_weight");
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (const int64_t n : sizes) {
    std::vector<float> x(size_t(T * n)), W(size_t(n * n)), y(size_t(T * n)), dx(size_t(T * n)), dW(size_t(n * n));
    for (auto* v : {&x, &W, &y})
      for (float& e : *v) e = g(rng);
    const double flops = 2.0 * double(T) * double(n) * double(n);
    for (const int64_t nt : threads) {
      r1::ThreadPool pool{int(nt)};
      const double f = best_time(
          [&] { r1::train::linear_forward(x.data(), W.data(), (const float*)nullptr, y.data(), T, n, n, pool); },
          seconds);
      const double bx = best_time(
          [&] { r1::train::linear_backward_input(y.data(), W.data(), dx.data(), T, n, n, false, pool); }, seconds);
      const double bw = best_time(
          [&] { r1::train::linear_backward_weight(y.data(), x.data(), dW.data(), (float*)nullptr, T, n, n, pool); },
          seconds);
      std::printf("%6lld %6lld %6lld %8lld | %10.1f %10.1f %10.1f\n", (long long)T, (long long)n, (long long)n,
                  (long long)nt, flops / f * 1e-9, flops / bx * 1e-9, flops / bw * 1e-9);
    }
  }
  return 0;
}
