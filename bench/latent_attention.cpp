// MLA decode attention at a context depth: one query token of H heads attends over `depth` latent cache
// rows [c_kv ; k_R] of one layer, the layers taken in turn as a decode step does (the cache laid out as
// in a real model, `layers` layers per block, so with 8 layers at 16k the 300 MB come from memory, not
// from the last-level cache). Reports the median ms per layer and token and GMAC/s (score + value
// passes: H·depth·(dc + dr + dc) multiply-adds) for 1 and 2 threads. Results: bench/RESULTS.md.
//
//   r1_bench_attention [--cache-type f32|bf16|q8] [--depth 16384] [--heads 16] [--latent 512] [--rope 64] [--layers 8]
//                      [--reps 5] [--isa avx512vnni|avx2|scalar]   (q8's kernels; default: the CPU's best)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "model/latent_attention.h"

int main(int argc, char** argv) {
  int64_t depth = 16384, heads = 16, dc = 512, dr = 64, layers = 8, reps = 5;
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
  for (int threads : {1, 2}) {
    r1::ThreadPool pool(threads);
    r1::LatentAttention attention(heads, dc, dr, depth, threads);
    attention.use_q8_kernels(isa);
    std::vector<double> seconds;
    for (int64_t r = 0; r < reps * layers; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      attention.run(q_latent.data(), q_rope.data(), heads * dr, dr, 1, depth - 1, cache, r % layers, 0.07f, out.data(), pool);
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(seconds.begin(), seconds.begin() + seconds.size() / 2, seconds.end());
    const double median = seconds[seconds.size() / 2];
    const double macs = double(heads) * double(depth) * double(dc + dr + dc);
    std::printf("depth %lld, %lld heads, %lld+%lld latent, %s cache, %d thread(s): %.2f ms per layer and token, %.1f GMAC/s\n",
                (long long)depth, (long long)heads, (long long)dc, (long long)dr, std::string(r1::kv_type_name(type)).c_str(),
                threads, median * 1e3, macs / median * 1e-9);
  }
  return 0;
}
