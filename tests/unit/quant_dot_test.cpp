// The int8 path of quantized matmul: every SIMD kernel equals the scalar reference bit for bit, the
// int8 result stays within the activation rounding bound of the exact float64 dot product, and
// quant_matmul gives each token the same bits whatever the batch and thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/quant_dot.h"
#include "kernels/cpu/quant_matmul.h"
#include "kernels/cpu/quants.h"
#include "kernels/cpu/row_groups.h"

namespace r1 {
namespace {

using quant::Isa;

// Weight types with int8 kernels, and the byte offsets of each block's fp16 scale fields (random
// blocks get sane values there; every other byte stays random, extreme quants included). r1 does not
// write the codebook types (IQ1_*, IQ2_*, IQ3_*): they are tested on random blocks alone.
struct KernelType {
  DType type;
  std::vector<int> f16_fields;
  bool r1_writes = true;
};
const std::vector<KernelType> kKernelTypes = {
    {DType::Q8_0, {0}},    {DType::Q4_0, {0}},     {DType::Q4_1, {0, 2}},  {DType::Q5_0, {0}},
    {DType::Q5_1, {0, 2}}, {DType::IQ4_NL, {0}},   {DType::Q2_K, {80, 82}}, {DType::Q3_K, {108}},
    {DType::Q4_K, {0, 2}}, {DType::Q5_K, {0, 2}},  {DType::Q6_K, {208}},   {DType::IQ4_XS, {0}},
    {DType::IQ2_XXS, {0}, false}, {DType::IQ2_XS, {0}, false}, {DType::IQ2_S, {0}, false},
    {DType::IQ3_XXS, {0}, false}, {DType::IQ3_S, {0}, false},  {DType::IQ1_S, {0}, false},
    {DType::IQ1_M, {}, false},  // its fp16 d is the top nibbles of its four scale words (see random_blocks)
};

std::vector<float> gaussian(int64_t n, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> g(0.0f, sigma);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = g(rng);
  return x;
}

std::vector<uint8_t> quantized(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(dtype_row_bytes(t, int64_t(x.size())));
  quantize_row(t, x.data(), q.data(), int64_t(x.size()));
  return q;
}

// Random bytes with each block's fp16 scales set to values in [0.01, 0.1).
std::vector<uint8_t> random_blocks(const KernelType& kt, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> q(dtype_row_bytes(kt.type, n));
  for (auto& b : q) b = uint8_t(rng());
  std::uniform_real_distribution<float> u(0.01f, 0.1f);
  const size_t block_bytes = size_t(dtype_block_bytes(kt.type));
  for (size_t b = 0; b < q.size(); b += block_bytes) {
    for (int at : kt.f16_fields) {
      const uint16_t h = f32_to_f16(u(rng));
      std::memcpy(&q[b + size_t(at)], &h, 2);
    }
    if (kt.type == DType::IQ1_M) {  // the scale words are bytes 48..55
      const uint16_t h = f32_to_f16(u(rng));
      for (int k = 0; k < 4; ++k) q[b + 48 + size_t(2 * k) + 1] = uint8_t((q[b + 48 + size_t(2 * k) + 1] & 0x0f) | ((h >> (4 * k)) & 15) << 4);
    }
  }
  return q;
}

// Weights for the kernel tests: r1's quantization of Gaussian values, or random blocks for the types r1
// does not write.
std::vector<uint8_t> weights(const KernelType& kt, int64_t n, std::mt19937& rng, float sigma) {
  return kt.r1_writes ? quantized(kt.type, gaussian(n, rng, sigma)) : random_blocks(kt, n, rng);
}

std::vector<uint8_t> activations(DType w, const std::vector<float>& x) {
  const quant::ActFormat f = quant::act_format(w);
  std::vector<uint8_t> a(quant::act_row_bytes(f, int64_t(x.size())));
  quant::quantize_activations(f, x.data(), a.data(), int64_t(x.size()));
  return a;
}

std::vector<Isa> simd_isas() {
  std::vector<Isa> isas;
  for (Isa isa : quant::kAllIsas) {
    if (isa != Isa::Scalar && quant::isa_supported(isa)) isas.push_back(isa);
  }
  return isas;
}

TEST(QuantDot, EveryWeightBlockTypeHasAKernel) {
  for (const auto& kt : kKernelTypes) EXPECT_NE(quant::vec_dot(kt.type, Isa::Scalar), nullptr) << dtype_name(kt.type);
  for (DType t : {DType::Q8_K, DType::F32, DType::F16, DType::BF16, DType::F8_E4M3}) EXPECT_FALSE(quant_matmul_supported(t));
  std::printf("[ isa      ] best: %s\n", quant::isa_name(quant::best_isa()));
}

TEST(QuantDot, SimdKernelsEqualTheScalarReferenceBitForBit) {
  const std::vector<Isa> isas = simd_isas();
  if (isas.empty()) GTEST_SKIP() << "no SIMD kernels on this CPU";
  std::mt19937 rng(42);
  for (const auto& kt : kKernelTypes) {
    const int64_t block = dtype_block_elems(kt.type);
    const quant::VecDot ref = quant::vec_dot(kt.type, Isa::Scalar);
    for (int64_t blocks = 1; blocks <= 11; ++blocks) {
      const int64_t n = blocks * block;
      for (int trial = 0; trial < 3; ++trial) {
        // Quantized Gaussians, raw random blocks, and activations with outliers.
        std::vector<float> x = gaussian(n, rng);
        x[size_t(rng() % size_t(n))] = 40.0f;
        const auto a = activations(kt.type, x);
        const auto w = trial == 0 ? weights(kt, n, rng, 1.0f) : random_blocks(kt, n, rng);
        const float want = ref(n, w.data(), a.data());
        for (Isa isa : isas) {
          const float got = quant::vec_dot(kt.type, isa)(n, w.data(), a.data());
          ASSERT_EQ(got, want) << dtype_name(kt.type) << " " << quant::isa_name(isa) << " blocks " << blocks
                               << " trial " << trial;
        }
      }
    }
  }
}

// The decode kernel over several rows (rows paired where their last blocks can be finished together)
// gives each row the scalar reference's bits: odd row counts (a row left unpaired) and every tail length.
TEST(QuantDot, MatVecEqualsTheScalarReferencePerRow) {
  std::vector<Isa> isas = simd_isas();
  isas.push_back(Isa::Scalar);
  std::mt19937 rng(7);
  for (const auto& kt : kKernelTypes) {
    const int64_t block = dtype_block_elems(kt.type);
    const quant::VecDot ref = quant::vec_dot(kt.type, Isa::Scalar);
    for (int64_t blocks : {1, 2, 3, 4, 6, 7, 9}) {
      const int64_t n = blocks * block;
      const size_t row_bytes = dtype_row_bytes(kt.type, n);
      std::vector<float> x = gaussian(n, rng);
      const auto a = activations(kt.type, x);
      for (int rows : {1, 2, 3, 5, 16}) {
        std::vector<uint8_t> w;
        for (int r = 0; r < rows; ++r) {
          const auto row = r % 2 ? random_blocks(kt, n, rng) : weights(kt, n, rng, 1.0f);
          w.insert(w.end(), row.begin(), row.end());
        }
        for (Isa isa : isas) {
          std::vector<float> got(size_t(rows), NAN);
          quant::mat_vec(kt.type, isa)(n, w.data(), row_bytes, rows, a.data(), got.data());
          for (int r = 0; r < rows; ++r) {
            ASSERT_EQ(got[size_t(r)], ref(n, w.data() + size_t(r) * row_bytes, a.data()))
                << dtype_name(kt.type) << " " << quant::isa_name(isa) << " blocks " << blocks << " rows " << rows << " row " << r;
          }
        }
      }
    }
  }
}

// |Σ w·x − int8 result| ≤ Σ_i |w_i|·d_a(i)/2 (each activation rounds by at most half its block's step)
// plus float rounding; and on Gaussian data the error is typically ~0.2 % of ‖w‖·‖x‖.
TEST(QuantDot, Int8ResultWithinActivationRoundingOfFloat64) {
  std::mt19937 rng(7);
  const Isa isa = quant::best_isa();
  for (const auto& kt : kKernelTypes) {
    const int64_t n = 1024;
    const int64_t act_block = quant::act_format(kt.type) == quant::ActFormat::Q8_K ? 256 : 32;
    double worst_ratio = 0, sum_sq_rel = 0;
    const int rows = 40;
    for (int r = 0; r < rows; ++r) {
      const auto w = weights(kt, n, rng, 0.02f);
      const std::vector<float> x = gaussian(n, rng);
      std::vector<float> wf(static_cast<size_t>(n));
      dequantize_row(kt.type, w.data(), wf.data(), n);
      double exact = 0, bound = 0, mag = 0, ww = 0, xx = 0;
      for (int64_t b = 0; b < n / act_block; ++b) {
        double amax = 0;
        for (int64_t i = b * act_block; i < (b + 1) * act_block; ++i) amax = std::max(amax, std::fabs(double(x[size_t(i)])));
        for (int64_t i = b * act_block; i < (b + 1) * act_block; ++i) {
          exact += double(wf[size_t(i)]) * x[size_t(i)];
          bound += std::fabs(double(wf[size_t(i)])) * amax / 127 / 2;
          mag += std::fabs(double(wf[size_t(i)]) * x[size_t(i)]);
          ww += double(wf[size_t(i)]) * wf[size_t(i)];
          xx += double(x[size_t(i)]) * x[size_t(i)];
        }
      }
      const auto a = activations(kt.type, x);
      const double got = quant::vec_dot(kt.type, isa)(n, w.data(), a.data());
      const double err = std::fabs(got - exact);
      ASSERT_LE(err, bound * (1 + 1e-4) + 1e-5 * mag) << dtype_name(kt.type) << " row " << r;
      worst_ratio = std::max(worst_ratio, err / bound);
      sum_sq_rel += err * err / (ww * xx);
    }
    const double rms_rel = std::sqrt(sum_sq_rel / rows);
    std::printf("[ int8     ] %-7s error / bound ≤ %.3f, RMS error / (‖w‖·‖x‖) %.4f %%\n",
                std::string(dtype_name(kt.type)).c_str(), worst_ratio, 100 * rms_rel);
    EXPECT_LT(rms_rel, 0.004) << dtype_name(kt.type);
  }
}

WeightMatrix weight(DType t, const std::vector<uint8_t>& bytes, int64_t rows, int64_t cols) {
  WeightMatrix w;
  w.name = "test";
  w.dtype = t;
  w.rows = rows;
  w.cols = cols;
  w.data = bytes.data();
  return w;
}

// Each token's outputs are the same bits alone or in a batch, on 1..3 threads, on every ISA: batches of
// 1..9 tokens (quant_dot's multi-token kernel) and, in the tiled GEMM where the CPU has it (12 tokens and
// more), ragged batches of 15, 16, 17, 35 and 67 (token groups of 16 with tails; 67 takes a tile of three
// groups and one of two). Rows alternate quantized Gaussian values with random blocks (extreme quants,
// Q8_0's −128), and 37 of them leave a short row panel.
TEST(QuantMatmul, TokensIndependentOfBatchAndThreads) {
  std::mt19937 rng(3);
  ThreadPool pools[3] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};
  for (const auto& kt : kKernelTypes) {
    const int64_t rows = 37, cols = 3 * dtype_block_elems(kt.type) + (dtype_block_elems(kt.type) == 32 ? 64 : 256);
    std::vector<uint8_t> bytes;
    for (int64_t r = 0; r < rows; ++r) {
      const auto row = r % 2 ? random_blocks(kt, cols, rng) : weights(kt, cols, rng, 0.05f);
      bytes.insert(bytes.end(), row.begin(), row.end());
    }
    const WeightMatrix w = weight(kt.type, bytes, rows, cols);
    const std::vector<float> bias = gaussian(rows, rng);
    const int64_t T = 67;
    const std::vector<float> x = gaussian(T * cols, rng);
    std::vector<float> single(size_t(T * rows)), batch(size_t(T * rows));
    for (int64_t t = 0; t < T; ++t) {
      quant_matmul(w, x.data() + t * cols, 1, single.data() + t * rows, pools[0], bias.data(), Isa::Scalar);
    }
    std::vector<Isa> isas = simd_isas();
    isas.push_back(Isa::Scalar);
    for (Isa isa : isas) {
      for (auto& pool : pools) {
        for (int64_t tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 35, 67}) {
          quant_matmul(w, x.data(), tokens, batch.data(), pool, bias.data(), isa);
          for (int64_t i = 0; i < tokens * rows; ++i) {
            ASSERT_EQ(batch[size_t(i)], single[size_t(i)]) << dtype_name(kt.type) << " " << quant::isa_name(isa)
                                                           << " T=" << tokens << " threads " << pool.size()
                                                           << " token " << i / rows << " row " << i % rows;
          }
        }
      }
    }
    // ops.cpp's matmul takes this path for the type.
    matmul(w, x.data(), T, batch.data(), pools[1], bias.data());
    EXPECT_EQ(batch, single) << dtype_name(kt.type);
  }
}

// The K-quants at their extremes: nearly every value, scale and minimum at its maximum and every
// activation near 127 with one sign, so that Q4_K's and Q5_K's block sums pass 2^24 (their floats are
// rounded: a kernel summing in float at any step but the recipe's would round them twice) and the minimum
// terms' int16 pairs are near their largest. Each token still gets the mat-vec's bits in a batch.
TEST(QuantMatmul, SaturatedBlocksGiveTheSameBitsInABatch) {
  std::mt19937 rng(11);
  ThreadPool pool(2);
  for (const auto& kt : kKernelTypes) {
    if (kt.type != DType::Q4_K && kt.type != DType::Q5_K && kt.type != DType::Q2_K) continue;
    const int64_t rows = 16, cols = 4 * 256, T = 32;
    std::vector<uint8_t> bytes(size_t(rows) * dtype_row_bytes(kt.type, cols));
    for (auto& b : bytes) b = rng() % 2 ? 0xff : uint8_t(0xff ^ (1u << (rng() % 8)));  // one bit in 16 clear
    const size_t block_bytes = size_t(dtype_block_bytes(kt.type));
    for (size_t b = 0; b < bytes.size(); b += block_bytes) {
      for (int at : kt.f16_fields) {
        const uint16_t h = f32_to_f16(0.01f);
        std::memcpy(&bytes[b + size_t(at)], &h, 2);
      }
    }
    const WeightMatrix w = weight(kt.type, bytes, rows, cols);
    std::uniform_real_distribution<float> near_one(0.97f, 1.0f);
    std::vector<float> x(size_t(T * cols));
    for (auto& v : x) v = near_one(rng);
    std::vector<float> single(size_t(T * rows)), batch(size_t(T * rows));
    for (int64_t t = 0; t < T; ++t) quant_matmul(w, x.data() + t * cols, 1, single.data() + t * rows, pool, nullptr, Isa::Scalar);
    for (Isa isa : simd_isas()) {
      quant_matmul(w, x.data(), T, batch.data(), pool, nullptr, isa);
      for (int64_t i = 0; i < T * rows; ++i) {
        ASSERT_EQ(batch[size_t(i)], single[size_t(i)]) << dtype_name(kt.type) << " " << quant::isa_name(isa) << " token "
                                                       << i / rows << " row " << i % rows;
      }
    }
  }
}

// matmuls runs several products in one loop: each job's outputs must be matmul's own, bit for bit, for
// jobs that share an input (quantized once) or not, of different types and token counts (mat-vec and
// GEMM paths), any thread count; a job whose type has no int8 kernel sends the call down matmul's path.
TEST(QuantMatmul, BatchedJobsEqualSeparateCalls) {
  std::mt19937 rng(5);
  ThreadPool pools[3] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};
  struct Spec {
    DType type;
    int64_t rows, cols, T;
    int input;  // jobs with the same input index read the same x
  };
  const std::vector<std::vector<Spec>> batches = {
      {{DType::Q4_K, 40, 512, 1, 0}, {DType::Q6_K, 17, 512, 1, 0}, {DType::Q8_0, 33, 512, 1, 0}},  // q/k/v-like
      {{DType::Q4_K, 23, 768, 3, 0}, {DType::Q4_K, 23, 768, 3, 0}, {DType::Q5_0, 9, 256, 2, 1}, {DType::Q6_K, 5, 256, 4, 2}},
      {{DType::Q8_0, 31, 256, 13, 0}, {DType::Q4_K, 18, 256, 1, 1}, {DType::IQ4_XS, 7, 512, 2, 2}},  // one job on the GEMM
      {{DType::Q4_K, 16, 256, 2, 0}, {DType::F32, 8, 256, 2, 0}},  // not all int8: separate matmul calls
      {{DType::F32, 21, 100, 1, 0}, {DType::F32, 8, 256, 1, 1}, {DType::F32, 33, 130, 1, 2}},  // float, one loop
  };
  for (const auto& batch : batches) {
    std::vector<std::vector<uint8_t>> bytes;
    std::vector<WeightMatrix> ws;
    std::vector<std::vector<float>> xs(3), biases;
    for (const Spec& sp : batch) {
      std::vector<uint8_t> b;
      if (sp.type == DType::F32) {
        const std::vector<float> f = gaussian(sp.rows * sp.cols, rng);
        b.resize(f.size() * 4);
        std::memcpy(b.data(), f.data(), b.size());
      } else {
        const KernelType& kt = *std::find_if(kKernelTypes.begin(), kKernelTypes.end(),
                                             [&](const KernelType& k) { return k.type == sp.type; });
        for (int64_t r = 0; r < sp.rows; ++r) {
          const auto row = weights(kt, sp.cols, rng, 0.05f);
          b.insert(b.end(), row.begin(), row.end());
        }
      }
      bytes.push_back(std::move(b));
      biases.push_back(gaussian(sp.rows, rng));
      if (xs[size_t(sp.input)].empty()) xs[size_t(sp.input)] = gaussian(sp.T * sp.cols, rng);
    }
    for (size_t i = 0; i < batch.size(); ++i) ws.push_back(weight(batch[i].type, bytes[i], batch[i].rows, batch[i].cols));
    for (auto& pool : pools) {
      std::vector<std::vector<float>> separate, together;
      std::vector<MatmulJob> jobs;
      for (size_t i = 0; i < batch.size(); ++i) {
        const Spec& sp = batch[i];
        separate.emplace_back(size_t(sp.T * sp.rows));
        together.emplace_back(size_t(sp.T * sp.rows), NAN);
        matmul(ws[i], xs[size_t(sp.input)].data(), sp.T, separate.back().data(), pool, i % 2 ? biases[i].data() : nullptr);
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        jobs.push_back({&ws[i], xs[size_t(batch[i].input)].data(), batch[i].T, together[i].data(),
                        i % 2 ? biases[i].data() : nullptr});
      }
      matmuls(jobs, pool);
      for (size_t i = 0; i < batch.size(); ++i) {
        EXPECT_EQ(together[i], separate[i]) << "job " << i << " (" << dtype_name(batch[i].type) << "), threads " << pool.size();
      }
    }
  }
}

// Jobs whose tokens are picked rows of a shared input (x_rows, the routed experts' tokens) equal matmul on
// those rows gathered, bit for bit: mat-vec and GEMM token counts, picks in any order and repeated, a
// plain job on the same input in the batch (its rows quantized once for all), and a batch with a float
// job (each job on its own path).
TEST(QuantMatmul, PickedRowsEqualAGatheredInput) {
  std::mt19937 rng(9);
  ThreadPool pool(2);
  const int64_t cols = 512, source_rows = 24;
  const std::vector<float> x = gaussian(source_rows * cols, rng);
  struct Spec {
    DType type;
    int64_t rows;
    std::vector<int32_t> picks;  // empty: the plain input, all source rows
  };
  std::vector<int32_t> many(20), few = {23, 5, 5};
  for (auto& p : many) p = int32_t(rng() % source_rows);
  const std::vector<std::vector<Spec>> batches = {
      {{DType::Q4_K, 20, many}, {DType::Q4_K, 16, few}, {DType::Q5_0, 9, many}, {DType::Q4_K, 8, {}}},
      {{DType::Q8_0, 12, few}, {DType::F32, 8, many}, {DType::BF16, 5, few}},
  };
  for (const auto& batch : batches) {
    std::vector<std::vector<uint8_t>> bytes;
    std::vector<WeightMatrix> ws;
    for (const Spec& sp : batch) {
      std::vector<uint8_t> b;
      if (sp.type == DType::F32 || sp.type == DType::BF16) {
        const std::vector<float> f = gaussian(sp.rows * cols, rng);
        b.resize(f.size() * size_t(sp.type == DType::F32 ? 4 : 2));
        for (size_t i = 0; i < f.size(); ++i) {
          if (sp.type == DType::F32) std::memcpy(&b[4 * i], &f[i], 4);
          else {
            const uint16_t h = f32_to_bf16(f[i]);
            std::memcpy(&b[2 * i], &h, 2);
          }
        }
      } else {
        const KernelType& kt = *std::find_if(kKernelTypes.begin(), kKernelTypes.end(),
                                             [&](const KernelType& k) { return k.type == sp.type; });
        for (int64_t r = 0; r < sp.rows; ++r) {
          const auto row = weights(kt, cols, rng, 0.05f);
          b.insert(b.end(), row.begin(), row.end());
        }
      }
      bytes.push_back(std::move(b));
    }
    for (size_t i = 0; i < batch.size(); ++i) ws.push_back(weight(batch[i].type, bytes[i], batch[i].rows, cols));
    std::vector<std::vector<float>> gathered_out, picked_out;
    std::vector<MatmulJob> jobs;
    for (size_t i = 0; i < batch.size(); ++i) {
      const Spec& sp = batch[i];
      const int64_t T = sp.picks.empty() ? source_rows : int64_t(sp.picks.size());
      std::vector<float> gathered(size_t(T * cols));
      for (int64_t t = 0; t < T; ++t) {
        const int64_t row = sp.picks.empty() ? t : sp.picks[size_t(t)];
        std::copy_n(x.data() + row * cols, cols, gathered.data() + t * cols);
      }
      gathered_out.emplace_back(size_t(T * sp.rows));
      picked_out.emplace_back(size_t(T * sp.rows), NAN);
      matmul(ws[i], gathered.data(), T, gathered_out.back().data(), pool);
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const Spec& sp = batch[i];
      const int64_t T = sp.picks.empty() ? source_rows : int64_t(sp.picks.size());
      jobs.push_back({&ws[i], x.data(), T, picked_out[i].data(), nullptr, sp.picks.empty() ? nullptr : sp.picks.data()});
    }
    matmuls(jobs, pool);
    for (size_t i = 0; i < batch.size(); ++i) {
      EXPECT_EQ(picked_out[i], gathered_out[i]) << "job " << i << " (" << dtype_name(batch[i].type) << ")";
    }
  }
}

// ---- row groups (kernels/cpu/row_groups.h) ---------------------------------------------------------

// The types with a row-group layout; a matrix of `rows` rows, every other row random blocks (extreme
// scales and minimums).
const KernelType kGroupTypes[] = {{DType::Q4_K, {0, 2}}, {DType::Q5_K, {0, 2}}, {DType::Q6_K, {208}},
                                  {DType::Q8_0, {0}},    {DType::Q4_0, {0}},    {DType::Q5_0, {0}},
                                  {DType::Q4_1, {0, 2}}, {DType::Q5_1, {0, 2}}, {DType::Q2_K, {80, 82}}, {DType::Q3_K, {108}}, {DType::IQ4_NL, {0}},
                                  {DType::IQ4_XS, {0}},  {DType::IQ1_S, {0}, false},
                                  {DType::IQ2_XXS, {0}, false}, {DType::IQ2_XS, {0}, false}, {DType::IQ2_S, {0}, false},
                                  {DType::IQ3_XXS, {0}, false}, {DType::IQ3_S, {0}, false}, {DType::IQ1_M, {}, false}};
std::vector<uint8_t> matrix_rows(const KernelType& kt, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::vector<uint8_t> bytes;
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = r % 2 ? random_blocks(kt, cols, rng) : weights(kt, cols, rng, 0.05f);
    bytes.insert(bytes.end(), row.begin(), row.end());
  }
  return bytes;
}

std::vector<uint8_t> in_row_groups(DType t, const std::vector<uint8_t>& bytes, int64_t rows, int64_t cols) {
  std::vector<uint8_t> grouped(quant::row_groups_bytes(t, rows, cols));
  quant::to_row_groups(t, bytes.data(), rows, cols, grouped.data());
  return grouped;
}

TEST(RowGroups, EveryRowRestoredAndTheTailKeptAsItWas) {
  std::mt19937 rng(11);
  for (const KernelType& kt : kGroupTypes) {
    for (int64_t rows : {1, 15, 16, 17, 40}) {
      const int64_t cols = 3 * 256, full = rows / 16 * 16;
      const size_t row_bytes = dtype_row_bytes(kt.type, cols);
      const auto bytes = matrix_rows(kt, rows, cols, rng);
      const auto grouped = in_row_groups(kt.type, bytes, rows, cols);
      if (full > 0) {
        EXPECT_NE(std::memcmp(grouped.data(), bytes.data(), size_t(full) * row_bytes), 0);
      }
      const size_t tail = quant::row_groups_offset(kt.type, rows, cols, full);
      ASSERT_EQ(grouped.size(), tail + size_t(rows - full) * row_bytes);
      EXPECT_EQ(std::memcmp(grouped.data() + tail, bytes.data() + full * row_bytes, size_t(rows - full) * row_bytes), 0);
      std::vector<uint8_t> row(row_bytes);
      for (int64_t r = 0; r < rows; ++r) {
        quant::row_from_groups(kt.type, grouped.data(), rows, cols, r, row.data());
        ASSERT_EQ(std::memcmp(row.data(), bytes.data() + r * row_bytes, row_bytes), 0)
            << dtype_name(kt.type) << " rows " << rows << " row " << r;
      }
      // Ranges: whole groups (restored 16 rows at a time), a group's tail, ranges across groups.
      for (const auto& [r0, n] : {std::pair<int64_t, int64_t>{0, rows}, {3, rows - 3}, {0, full}, {full / 2, rows - full / 2}}) {
        if (n <= 0) continue;
        std::vector<uint8_t> range(size_t(n) * row_bytes);
        quant::rows_from_groups(kt.type, grouped.data(), rows, cols, r0, n, range.data());
        ASSERT_EQ(std::memcmp(range.data(), bytes.data() + r0 * row_bytes, range.size()), 0)
            << dtype_name(kt.type) << " rows " << rows << " range " << r0 << " + " << n;
      }
      // dequant_row reads either layout.
      WeightMatrix w = weight(kt.type, bytes, rows, cols), g = w;
      g.data = grouped.data();
      g.row_groups = true;
      std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
      for (int64_t r = 0; r < rows; ++r) {
        dequant_row(w, r, a.data());
        dequant_row(g, r, b.data());
        ASSERT_EQ(a, b) << dtype_name(kt.type) << " row " << r;
      }
    }
  }
}

// The row-group kernels give every row the scalar reference's bits on the standard layout, for each of
// 1-4 tokens at once: ragged block counts (1-3 past a group of four), several groups at once.
TEST(RowGroups, KernelsEqualTheScalarReferencePerRow) {
  std::mt19937 rng(12);
  for (const KernelType& kt : kGroupTypes) {
    const quant::VecDot ref = quant::vec_dot(kt.type, Isa::Scalar);
    for (Isa isa : simd_isas()) {
      const quant::MatVecGroups kernel = quant::mat_vec_groups(kt.type, isa);
      ASSERT_NE(kernel, nullptr) << dtype_name(kt.type) << " " << quant::isa_name(isa);  // every SIMD ISA has them
      for (int64_t blocks : {1, 2, 3, 4, 5, 6, 7, 9}) {
        const int64_t cols = blocks * dtype_block_elems(kt.type), rows = 48;
        const size_t row_bytes = dtype_row_bytes(kt.type, cols);
        const auto bytes = matrix_rows(kt, rows, cols, rng);
        const auto grouped = in_row_groups(kt.type, bytes, rows, cols);
        for (int tokens = 1; tokens <= quant::kMaxTokens; ++tokens) {
          std::vector<std::vector<uint8_t>> a;
          for (int t = 0; t < tokens; ++t) a.push_back(activations(kt.type, gaussian(cols, rng)));
          std::vector<uint8_t> acts;
          for (const auto& at : a) acts.insert(acts.end(), at.begin(), at.end());
          const size_t out_stride = size_t(rows) + 3;  // the output's row stride is the caller's
          std::vector<float> got(size_t(tokens) * out_stride, NAN);
          kernel(cols, grouped.data(), int(rows / 16), acts.data(), a[0].size(), tokens, got.data(), out_stride);
          for (int t = 0; t < tokens; ++t) {
            for (int64_t r = 0; r < rows; ++r) {
              ASSERT_EQ(got[size_t(t) * out_stride + size_t(r)], ref(cols, bytes.data() + r * row_bytes, a[size_t(t)].data()))
                  << dtype_name(kt.type) << " " << quant::isa_name(isa) << " blocks " << blocks << " tokens " << tokens
                  << " token " << t << " row " << r;
            }
          }
        }
      }
    }
  }
}

// quant_matmul over a matrix in row groups equals the standard layout's results bit for bit, on every
// path: the group kernels (1 to kMaxTokens tokens per pass, more in passes), rows restored for the ISAs
// without them, the tiled GEMM (27 tokens: all in it; with 128 rows, whole row groups only, 20 and 37 tokens:
// whole token groups there and the last 4 / 5 tokens by the group kernels inside it, row blocks of one and
// two groups), rows past the last full group (53 rows), biases, any thread count.
TEST(RowGroups, MatmulEqualsTheStandardLayout) {
  std::mt19937 rng(13);
  ThreadPool pools[2] = {ThreadPool(1), ThreadPool(3)};
  std::vector<Isa> isas = simd_isas();
  isas.push_back(Isa::Scalar);
  for (const KernelType& kt : kGroupTypes) {
    for (const int64_t rows : {53, 128}) {
      const int64_t cols = 6 * 256, T = 37;
      const auto bytes = matrix_rows(kt, rows, cols, rng);
      const auto grouped = in_row_groups(kt.type, bytes, rows, cols);
      WeightMatrix w = weight(kt.type, bytes, rows, cols), g = w;
      g.data = grouped.data();
      g.row_groups = true;
      const std::vector<float> bias = gaussian(rows, rng), x = gaussian(T * cols, rng);
      std::vector<float> want(size_t(T * rows)), got(size_t(T * rows));
      for (Isa isa : isas) {
        for (auto& pool : pools) {
          for (int64_t tokens : {1, 3, 4, 7, 20, 27, 37}) {
            quant_matmul(w, x.data(), tokens, want.data(), pool, bias.data(), isa);
            quant_matmul(g, x.data(), tokens, got.data(), pool, bias.data(), isa);
            for (int64_t i = 0; i < tokens * rows; ++i) {
              ASSERT_EQ(got[size_t(i)], want[size_t(i)]) << dtype_name(kt.type) << " " << quant::isa_name(isa) << " T=" << tokens
                                                         << " threads " << pool.size() << " token " << i / rows << " row " << i % rows;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace r1
