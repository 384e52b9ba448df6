// MLA decode attention at a context depth: one query token of H heads attends over `depth` latent cache
// rows [c_kv ; k_R] of one layer, the layers taken in turn as a decode step does (the cache laid out as
// in a real model, `layers` layers per block). Between two layers, untimed, the benchmark reads
// --flush-mb MB of other memory, as a decode step's matmuls stream their weights between two attention
// calls (V2-Lite: ~60 MB per layer): without it part of a Q8 cache (75 MB at 8 layers and 16k) stays in
// the last-level cache from one token to the next, which in a model it does not (a 16k Q8 layer on two
// threads in a slow phase of the host: 0.59 ms without, 0.72-0.80 ms with 64 MB; inside r1 bench's tg at
// that depth the attention took 0.64-0.71 ms a layer, timed in a scratch build). Reports the
// median ms per layer and token and GMAC/s (score + value passes: H·depth·(dc + dr + dc) multiply-adds)
// for 1 and 2 threads. On a CPU with AVX-512 VNNI it also measures the int8 roofline, independent vpdpbusd
// chains on every thread, and reports the attention's share of it. Results: bench/RESULTS.md.
//
//   r1_bench_attention [--cache-type f32|bf16|q8] [--depth 16384] [--heads 16] [--latent 512] [--rope 64] [--layers 8]
//                      [--reps 5] [--threads 1|2] [--flush-mb 64]
//                      [--isa avx512vnni|avx2|scalar]   (q8's kernels; default: the CPU's best)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "model/latent_attention.h"

#if defined(__x86_64__)
#include <immintrin.h>

// int8 multiply-adds per second of one thread: 12 independent vpdpbusd chains (more than its latency
// times its throughput), the best of three runs of ~0.1 s.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double vnni_peak_macs() {
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    __m512i acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_epi32(i);
    __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(2);
    constexpr long kIters = 2000000;
    const auto t0 = std::chrono::steady_clock::now();
    for (long n = 0; n < kIters; ++n) {
#pragma GCC unroll 12
      for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
      asm volatile("" : "+v"(a), "+v"(b));  // the operands stay opaque: no folding across iterations
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int32_t sums[16] = {};
    for (const __m512i& x : acc) _mm512_storeu_si512(sums, _mm512_add_epi32(_mm512_loadu_si512(sums), x));
    asm volatile("" : : "r"(sums[0]));
    best = std::max(best, double(kIters) * 12 * 64 / s);
  }
  return best;
}
#endif

// The int8 multiply-add rate of `threads` threads together (0 where no probe is written for the CPU).
static double int8_peak_macs(int threads) {
#if defined(__x86_64__)
  if (r1::quant::isa_supported(r1::quant::Isa::Avx512Vnni)) {
    r1::ThreadPool pool(threads);
    std::vector<double> rate(static_cast<size_t>(threads));
    pool.parallel_for(size_t(threads), [&](size_t b, size_t e, int) {
      for (size_t i = b; i < e; ++i) rate[i] = vnni_peak_macs();
    });
    double sum = 0;
    for (double r : rate) sum += r;
    return sum;
  }
#endif
  (void)threads;
  return 0;
}

int main(int argc, char** argv) {
  int64_t depth = 16384, heads = 16, dc = 512, dr = 64, layers = 8, reps = 5, only_threads = 0, flush_mb = 64;
  r1::KvType type = r1::KvType::F32;
  r1::quant::Isa isa = r1::quant::best_isa();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int64_t v = std::atoll(argv[i + 1]);
    if (k == "--cache-type") {
      const auto t = r1::parse_kv_type(argv[i + 1]);
      if (!t) {
        std::fprintf(stderr, "--cache-type: expected f32, bf16 or q8, got %s\n", argv[i + 1]);
        return 2;
      }
      type = *t;
    } else if (k == "--isa") {
      const auto* found = std::find_if(std::begin(r1::quant::kAllIsas), std::end(r1::quant::kAllIsas),
                                       [&](r1::quant::Isa x) { return argv[i + 1] == std::string(r1::quant::isa_name(x)); });
      if (found == std::end(r1::quant::kAllIsas) || !r1::quant::isa_supported(*found)) {
        std::fprintf(stderr, "--isa: %s is not an instruction set this CPU runs\n", argv[i + 1]);
        return 2;
      }
      isa = *found;
    } else if (k == "--depth") depth = v;
    else if (k == "--heads") heads = v;
    else if (k == "--latent") dc = v;
    else if (k == "--rope") dr = v;
    else if (k == "--layers") layers = v;
    else if (k == "--reps") reps = v;
    else if (k == "--threads") only_threads = v;
    else if (k == "--flush-mb") flush_mb = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  r1::ModelConfig cfg;
  cfg.is_mla = true;
  cfg.kv_lora_rank = dc;
  cfg.qk_rope_head_dim = dr;
  cfg.num_layers = layers;
  r1::KvCache cache(cfg, depth, type);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> row(size_t(dc + dr));
  for (int64_t layer = 0; layer < layers; ++layer) {
    for (int64_t p = 0; p < depth; ++p) {
      for (float& v : row) v = normal(rng);
      cache.store(layer, p, 0, row.data(), dc + dr);
    }
  }
  std::vector<float> q_latent(size_t(heads * dc)), q_rope(size_t(heads * dr)), out(size_t(heads * dc));
  for (float& v : q_latent) v = 0.05f * normal(rng);
  for (float& v : q_rope) v = 0.05f * normal(rng);
  std::vector<uint8_t> other(size_t(flush_mb) << 20, 1);
  for (int threads : {1, 2}) {
    if (only_threads > 0 && threads != only_threads) continue;
    r1::ThreadPool pool(threads);
    r1::LatentAttention attention(heads, dc, dr, threads);
    attention.use_q8_kernels(isa);
    // Every line of `flush_mb` MB read, split over the threads, as the matmuls between two attention calls
    // read their weights.
    const auto flush = [&] {
      pool.parallel_for(other.size() / 64, [&](size_t i0, size_t i1, int) {
        uint64_t sum = 0;
        for (size_t i = i0; i < i1; ++i) sum += other[i * 64];
        asm volatile("" : : "r"(sum));
      });
    };
    std::vector<double> seconds;
    for (int64_t r = 0; r < reps * layers; ++r) {
      flush();
      const auto t0 = std::chrono::steady_clock::now();
      attention.run({q_latent.data(), heads * dc, dc}, {q_rope.data(), heads * dr, dr}, 1, depth - 1, cache, r % layers, 0.07f,
                    {out.data(), heads * dc, dc}, pool);
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(seconds.begin(), seconds.begin() + seconds.size() / 2, seconds.end());
    const double median = seconds[seconds.size() / 2];
    const double macs = double(heads) * double(depth) * double(dc + dr + dc);
    std::printf("depth %lld, %lld heads, %lld+%lld latent, %s cache, %d thread(s): %.2f ms per layer and token, %.1f GMAC/s",
                (long long)depth, (long long)heads, (long long)dc, (long long)dr, std::string(r1::kv_type_name(type)).c_str(),
                threads, median * 1e3, macs / median * 1e-9);
    if (const double peak = type == r1::KvType::Q8 ? int8_peak_macs(threads) : 0; peak > 0) {
      std::printf(", %.0f %% of the int8 peak (%.1f GMAC/s, vpdpbusd)", 100 * macs / median / peak, peak * 1e-9);
    }
    std::printf("\n");
  }
  return 0;
}
