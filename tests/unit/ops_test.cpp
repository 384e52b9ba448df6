// Kernels against plain double-precision loops written from the definitions, over ragged shapes.
#include "kernels/cpu/ops.h"
#include "kernels/cpu/block_scores.h"
#include "kernels/cpu/dot4.h"
#include "kernels/cpu/exp16.h"
#include "kernels/cpu/lanes.h"
#include "kernels/cpu/weighted_rows.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <type_traits>
#include <vector>

namespace r1 {
namespace {

struct Matrix {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  std::vector<double> values;  // what the stored bytes mean, computed independently of dequant_row
  WeightMatrix w;
};

// An E4M3 code's value (not NaN), decoded from its bit fields: sign, 4-bit exponent (bias 7), 3-bit mantissa.
double fp8_e4m3_value(uint8_t code) {
  const int e = (code >> 3) & 15, mant = code & 7;
  const double mag = e == 0 ? std::ldexp(double(mant), -9) : std::ldexp(8.0 + mant, e - 10);
  return (code & 0x80) ? -mag : mag;
}

// Random weights stored as `dtype`; FP8 gets per-block scales with partial edge blocks.
Matrix make_matrix(DType dtype, int64_t rows, int64_t cols, uint32_t seed, int64_t block = 128) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Matrix m;
  m.bytes.resize(size_t(rows * cols) * dtype_size(dtype));
  m.values.resize(size_t(rows * cols));
  const int64_t sr = (rows + block - 1) / block, sc = (cols + block - 1) / block;
  if (dtype == DType::F8_E4M3) {
    m.scales.resize(size_t(sr * sc));
    for (auto& s : m.scales) s = 0.01f + 0.02f * std::fabs(u(rng));
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = size_t(r * cols + c);
      const float v = u(rng);
      switch (dtype) {
        case DType::F32: std::memcpy(&m.bytes[4 * i], &v, 4); m.values[i] = v; break;
        case DType::BF16: {
          const uint16_t h = f32_to_bf16(v);
          std::memcpy(&m.bytes[2 * i], &h, 2);
          uint32_t bits = uint32_t(h) << 16;
          float f;
          std::memcpy(&f, &bits, 4);
          m.values[i] = f;
          break;
        }
        case DType::F16: {
          const uint16_t h = f32_to_f16(v);
          std::memcpy(&m.bytes[2 * i], &h, 2);
          // Decode from the bit fields directly: sign, 5-bit exponent (bias 15), 10-bit mantissa.
          const int e = (h >> 10) & 31, mant = h & 1023;
          const double mag = e == 0 ? std::ldexp(double(mant), -24) : std::ldexp(1024.0 + mant, e - 25);
          m.values[i] = (h & 0x8000) ? -mag : mag;
          break;
        }
        case DType::F8_E4M3: {
          const uint8_t code = uint8_t(rng() & 0xff);
          const uint8_t safe = (code & 0x7f) == 0x7f ? uint8_t(code & 0xfe) : code;  // no NaN codes
          m.bytes[i] = safe;
          m.values[i] = fp8_e4m3_value(safe) * double(m.scales[size_t((r / block) * sc + c / block)]);
          break;
        }
        default: break;
      }
    }
  }
  m.w.name = "test";
  m.w.dtype = dtype;
  m.w.rows = rows;
  m.w.cols = cols;
  m.w.data = m.bytes.data();
  if (dtype == DType::F8_E4M3) {
    m.w.block_scale = m.scales.data();
    m.w.block_rows = m.w.block_cols = block;
    m.w.scale_cols = sc;
  }
  return m;
}

// Row r of the matrix (cols values) dotted with x in double precision, and the sum of the products'
// magnitudes (the scale of the rounding a float sum may show).
struct ExactDot {
  double sum = 0, magnitude = 0;
};
ExactDot exact_dot(const Matrix& m, int64_t cols, int64_t r, const float* x, double start = 0) {
  ExactDot d{start, std::fabs(start)};
  for (int64_t c = 0; c < cols; ++c) {
    const double p = double(x[c]) * m.values[size_t(r * cols + c)];
    d.sum += p;
    d.magnitude += std::fabs(p);
  }
  return d;
}

class MatmulTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulTest, MatchesDoubleLoopsOnRaggedShapes) {
  ThreadPool pool(3);  // more threads than the machine's cores: partitioning must not matter
  const struct { int64_t rows, cols, tokens; } shapes[] = {{1, 1, 1}, {7, 13, 3}, {9, 17, 1}, {130, 257, 5}, {64, 200, 17},
                                                           // tokens past a block of them, rows past a slice of 2,048
                                                           {35, 2113, 29}, {18, 4096, 26}};
  uint32_t seed = 1;
  for (const auto& s : shapes) {
    Matrix m = make_matrix(GetParam(), s.rows, s.cols, seed++);
    std::vector<float> x(size_t(s.tokens * s.cols)), bias(size_t(s.rows)), y(size_t(s.tokens * s.rows));
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : x) v = u(rng);
    for (auto& v : bias) v = u(rng);
    matmul(m.w, x.data(), s.tokens, y.data(), pool, bias.data());
    for (int64_t t = 0; t < s.tokens; ++t) {
      for (int64_t r = 0; r < s.rows; ++r) {
        const ExactDot want = exact_dot(m, s.cols, r, x.data() + t * s.cols, bias[size_t(r)]);
        EXPECT_NEAR(y[size_t(t * s.rows + r)], want.sum, 1e-6 * want.magnitude + 1e-7)
            << "shape " << s.rows << "x" << s.cols << " token " << t << " row " << r;
      }
    }
    // Each token's row is identical whether computed alone or within the batch.
    std::vector<float> single(size_t(s.rows));
    for (int64_t t = 0; t < s.tokens; ++t) {
      matmul(m.w, x.data() + t * s.cols, 1, single.data(), pool, bias.data());
      for (int64_t r = 0; r < s.rows; ++r) ASSERT_EQ(single[size_t(r)], y[size_t(t * s.rows + r)]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, MatmulTest,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::F8_E4M3),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Ops, Fp8BlocksOfOtherSizes) {
  ThreadPool pool(1);
  Matrix m = make_matrix(DType::F8_E4M3, 11, 10, 5, /*block=*/4);
  std::vector<float> row(10);
  for (int64_t r = 0; r < 11; ++r) {
    dequant_row(m.w, r, row.data());
    for (int64_t c = 0; c < 10; ++c) EXPECT_DOUBLE_EQ(row[size_t(c)], float(m.values[size_t(r * 10 + c)]));
  }
}

// One token's FP8 product -- its rows dotted as loaded where the scale blocks are a power of two of at least
// 16 columns, widened into a buffer first otherwise -- equals that token's row of a batch (whose rows are
// widened, then tiled) bit for bit, and the double-precision sum within rounding.
TEST(Ops, Fp8DecodeInPlaceOrWidenedMatchesTheBatch) {
  ThreadPool pool(2);
  for (const int64_t block : {16, 48, 64, 128, 256}) {
    const int64_t rows = 37, cols = 1000;  // a ragged last scale block and a tail past the last 64 columns
    Matrix m = make_matrix(DType::F8_E4M3, rows, cols, uint32_t(block), block);
    const int64_t T = 3;
    std::vector<float> x(static_cast<size_t>(T * cols)), batch(static_cast<size_t>(T * rows)), single(static_cast<size_t>(rows));
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : x) v = u(rng);
    matmul(m.w, x.data(), T, batch.data(), pool);
    for (int64_t t = 0; t < T; ++t) {
      matmul(m.w, x.data() + t * cols, 1, single.data(), pool);
      for (int64_t r = 0; r < rows; ++r) {
        ASSERT_EQ(std::bit_cast<uint32_t>(single[size_t(r)]), std::bit_cast<uint32_t>(batch[size_t(t * rows + r)]))
            << "block " << block << " token " << t << " row " << r;
        const ExactDot want = exact_dot(m, cols, r, x.data() + t * cols);
        EXPECT_NEAR(single[size_t(r)], want.sum, 1e-6 * want.magnitude + 1e-7) << "block " << block << " row " << r;
      }
    }
  }
  // A scale too large to fold into the in-place multiply (2^121: 256 times it overflows): the rows of its
  // block are widened first, the others not. The block's codes are kept below 2^2 so that its values stay finite.
  Matrix m = make_matrix(DType::F8_E4M3, 20, 64, 3, /*block=*/16);
  m.scales[1] = 0x1p121f;  // row block 0, columns 16-31
  for (int64_t r = 0; r < 16; ++r) {
    for (int64_t c = 16; c < 32; ++c) {
      uint8_t& code = m.bytes[size_t(r * 64 + c)];
      code &= 0xC7;  // sign, exponent bit 3, mantissa: e <= 8
      m.values[size_t(r * 64 + c)] = fp8_e4m3_value(code) * 0x1p121;
    }
  }
  std::vector<float> x(64), batch(2 * 20), single(20);
  for (int64_t c = 0; c < 64; ++c) x[size_t(c)] = (c >= 16 && c < 32 ? 0x1p-120f : 1.0f) * float(c % 7 - 3);
  std::vector<float> x2(x);
  x2.insert(x2.end(), x.begin(), x.end());
  matmul(m.w, x2.data(), 2, batch.data(), pool);
  matmul(m.w, x.data(), 1, single.data(), pool);
  for (int64_t r = 0; r < 20; ++r) {
    ASSERT_EQ(std::bit_cast<uint32_t>(single[size_t(r)]), std::bit_cast<uint32_t>(batch[size_t(r)])) << "row " << r;
    const ExactDot want = exact_dot(m, 64, r, x.data());
    EXPECT_NEAR(single[size_t(r)], want.sum, 1e-6 * want.magnitude + 1e-7) << "row " << r;
  }
}

// Every E4M3 code, at every position of a 16-value vector and in a block's 1-15 tail, widens to the scalar
// reference's value times the block scale, bit for bit (the two NaN codes to NaN), for scales from a
// subnormal one to 2^121 (past which the vector path can no longer fold the scale into its multiply).
TEST(Ops, Fp8RowsWidenEveryCodeAsTheReference) {
  const int64_t cols = 256 * 16 + 13;
  std::vector<uint8_t> codes(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) codes[size_t(i)] = uint8_t((i * 17 + i / 256) & 0xff);
  const float scales[] = {0.75f, 3.0e-3f, 1.5f, 2.0f, 0.125f, 7.0f, 1.0f, 0.5f, 9.0f, 0.25f, 3.0f, 5.0f, 0.1f, 2.5f,
                          0.3f, 6.0f, 1.25f, 0x1p121f, 4.0f, 1.75f, 0.2f, 8.0f, 0.6f, 1.1f, 3.5f, 0.9f, 2.2f, 0x1p-140f,
                          1.3f, 0.4f, 6.5f, 0.7f, 5.5f};
  WeightMatrix w;
  w.dtype = DType::F8_E4M3;
  w.rows = 1;
  w.cols = cols;
  w.data = codes.data();
  w.block_scale = scales;
  w.block_rows = 1;
  w.block_cols = 128;
  w.scale_cols = (cols + 127) / 128;
  ASSERT_LE(w.scale_cols, int64_t(std::size(scales)));
  std::vector<float> row(static_cast<size_t>(cols));
  dequant_row(w, 0, row.data());
  for (int64_t i = 0; i < cols; ++i) {
    const float want = fp8_e4m3_to_f32(codes[size_t(i)]) * scales[i / 128];
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(row[size_t(i)])) << "code " << int(codes[size_t(i)]);
    } else {
      EXPECT_EQ(std::bit_cast<uint32_t>(row[size_t(i)]), std::bit_cast<uint32_t>(want)) << "code " << int(codes[size_t(i)]) << " at " << i;
    }
  }
}

TEST(Ops, RmsNormAndSoftmax) {
  const float x[5] = {1.0f, -2.0f, 3.0f, 0.5f, 0.0f};
  const float w[5] = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f};
  float y[5];
  rmsnorm(x, w, 5, 1e-6, y);
  double ms = 0;
  for (float v : x) ms += double(v) * v;
  ms /= 5;
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(y[i], w[i] * x[i] / std::sqrt(ms + 1e-6), 1e-6);

  float s[4] = {1000.0f, 1001.0f, -5.0f, 1000.5f};  // large values: must not overflow
  softmax(s, 4);
  const double e0 = 1.0, e1 = std::exp(1.0), e3 = std::exp(0.5), sum = e0 + e1 + e3;
  EXPECT_NEAR(s[0], e0 / sum, 1e-6);
  EXPECT_NEAR(s[1], e1 / sum, 1e-6);
  EXPECT_NEAR(s[2], 0.0, 1e-12);
  EXPECT_NEAR(s[3], e3 / sum, 1e-6);
}

// Every length through the 16-lane loop and its padded tail, the maximum in either part (large scores:
// an exp taken against a smaller maximum overflows), against float64.
TEST(Ops, SoftmaxMatchesFloat64AtEveryLength) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int64_t n : {1, 2, 15, 16, 17, 31, 33, 100, 1000, 4099}) {
    for (int64_t top : {int64_t(0), n / 2, n - 1}) {
      std::vector<float> x(static_cast<size_t>(n));
      for (float& v : x) v = 500.0f + normal(rng);
      x[size_t(top)] = 520.0f;
      double mx = -INFINITY, sum = 0;
      for (float v : x) mx = std::max(mx, double(v));
      for (float v : x) sum += std::exp(double(v) - mx);
      std::vector<float> got = x;
      softmax(got.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double want = std::exp(double(x[size_t(i)]) - mx) / sum;
        ASSERT_NEAR(got[size_t(i)], want, 1e-6 * want + 1e-30) << "n " << n << " max at " << top << " value " << i;
      }
    }
  }
}

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  ThreadPool pool(4);
  for (size_t n : {0, 1, 3, 4, 5, 1000}) {
    std::vector<int> hits(n);
    pool.parallel_for(n, [&](size_t b, size_t e, int) {
      for (size_t i = b; i < e; ++i) hits[i]++;
    });
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i], 1) << "n=" << n << " i=" << i;
  }
}

// Runs one of the pool's item loops (`loop(n, fn)`) for every n in `sizes`: each item must be called once, as
// a range of one, on a valid thread.
template <class Loop>
void expect_items_once_each(ThreadPool& pool, std::initializer_list<size_t> sizes, Loop loop) {
  for (size_t n : sizes) {
    std::vector<std::atomic<int>> hits(n);
    std::atomic<bool> bad_range{false}, bad_thread{false};
    loop(n, [&](size_t b, size_t e, int tid) {
      if (e != b + 1) bad_range = true;
      if (tid < 0 || tid >= pool.size()) bad_thread = true;
      for (size_t i = b; i < e && i < n; ++i) hits[i]++;
    });
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
    EXPECT_FALSE(bad_range) << "n=" << n;
    EXPECT_FALSE(bad_thread) << "n=" << n;
  }
}

// parallel_claim: every item once; work from slow items moves to the other threads (item 0 sleeps, so with
// 20 items and 3 threads the others must take most of the rest).
TEST(ThreadPool, ClaimedItemsRunOnceEachOnWhicheverThreadIsFree) {
  ThreadPool pool(3);
  expect_items_once_each(pool, {0, 1, 2, 3, 7, 1000}, [&](size_t n, auto fn) { pool.parallel_claim(n, fn); });
  std::vector<int> owner(20, -1);
  pool.parallel_claim(owner.size(), [&](size_t b, size_t, int tid) {
    if (b == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    else std::this_thread::sleep_for(std::chrono::milliseconds(2));
    owner[b] = tid;
  });
  const int slow = owner[0];
  EXPECT_LE(std::count(owner.begin(), owner.end(), slow), 2) << "the thread on the slow item kept claiming";
}

// parallel_steal: every item once; the threads start on contiguous ranges (thread 0's begins with item 0), and
// while item 0 is slow the other threads take over the rest of its range: every other item is done before it.
TEST(ThreadPool, StolenItemsRunOnceEachAndSlowRangesAreTakenOver) {
  ThreadPool pool(3);
  expect_items_once_each(pool, {0, 1, 2, 3, 7, 1000, 100000}, [&](size_t n, auto fn) { pool.parallel_steal(n, fn); });
  std::vector<int> finished(21, -1);
  std::atomic<int> order{0};
  pool.parallel_steal(finished.size(), [&](size_t b, size_t, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(b == 0 ? 300 : 2));
    finished[b] = order++;
  });
  EXPECT_EQ(finished[0], int(finished.size()) - 1) << "items of thread 0's range waited for its slow first item";
}

// folded_index is a permutation of [0, n), and halves of it carry equal causal work (sum of positions + 1).
TEST(ThreadPool, FoldedOrderIsAPermutationThatBalancesCausalWork) {
  for (size_t n = 1; n <= 33; ++n) {
    std::vector<int> hits(n);
    for (size_t i = 0; i < n; ++i) hits[folded_index(i, n)]++;
    for (size_t t = 0; t < n; ++t) EXPECT_EQ(hits[t], 1) << "n=" << n << " t=" << t;
  }
  const size_t n = 512;
  size_t first = 0, second = 0;
  for (size_t i = 0; i < n; ++i) (i < n / 2 ? first : second) += folded_index(i, n) + 1;
  EXPECT_EQ(first, second);
}

// exp16 (the attention softmax's exp) against std::exp in double: within 2 ulp of the true value over
// the range where the float result is normal, and e^-87 below it.
TEST(Exp16, WithinTwoUlpOverTheNormalRange) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-87.0f, 88.0f);
  for (int k = 0; k < 20000; ++k) {
    float xs[16];
    for (float& x : xs) x = u(rng);
    if (k == 0) {
      const float edges[16] = {0.0f, -0.0f, 1e-8f, -1e-8f, 0.3465736f, -0.3465736f, 1.0f, -1.0f,
                               -87.0f, 88.0f, -50.5f, 10.25f, -0.6931472f, 0.6931472f, 2.0f, -2.0f};
      std::copy(edges, edges + 16, xs);
    }
    Lanes16 v;
    std::memcpy(&v, xs, sizeof v);
    v = exp16(v);
    float ys[16];
    std::memcpy(ys, &v, sizeof ys);
    for (int l = 0; l < 16; ++l) {
      const double want = std::exp(double(xs[l]));
      const float wf = float(want);
      const double ulp = double(std::nextafter(wf, INFINITY)) - double(wf);
      ASSERT_LE(std::abs(double(ys[l]) - want), 2.0 * ulp) << "x = " << xs[l];
    }
  }
  Lanes16 far;
  for (int l = 0; l < 16; ++l) far[l] = -100.0f - float(l) * 50.0f;
  far = exp16(far);
  for (int l = 0; l < 16; ++l) EXPECT_NEAR(far[l], std::exp(-87.0), 1e-40);
}

// dot against a float64 sum, lengths around the 64-wide main loop; and it is a function of the values
// alone (the same inputs at another address give the same bits).
TEST(Ops, DotMatchesFloat64) {
  std::mt19937 rng(5);
  std::normal_distribution<float> g;
  for (int64_t n : {1, 15, 16, 63, 64, 65, 127, 200, 1536}) {
    std::vector<float> a(size_t(n) + 1), b(size_t(n) + 1);
    for (float& v : a) v = g(rng);
    for (float& v : b) v = g(rng);
    double want = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      want += double(a[size_t(i)]) * b[size_t(i)];
      mag += std::abs(double(a[size_t(i)]) * b[size_t(i)]);
    }
    const float got = dot(a.data(), b.data(), n);
    EXPECT_NEAR(got, want, 4e-6 * mag + 1e-30) << "n = " << n;
    std::memmove(a.data() + 1, a.data(), size_t(n) * sizeof(float));
    std::memmove(b.data() + 1, b.data(), size_t(n) * sizeof(float));
    EXPECT_EQ(got, dot(a.data() + 1, b.data() + 1, n)) << "n = " << n;
  }
}

// sum_lanes16 adds each vector's lanes in sum_lanes' pairs: the same bits, lane by lane, for values whose
// sums round differently in another order (magnitudes spread over 2^±20).
TEST(Ops, SixteenLaneSumsAtOnceMatchOneAtATime) {
  std::mt19937 rng(8);
  std::normal_distribution<float> g;
  for (int round = 0; round < 50; ++round) {
    Lanes16 v[16];
    for (auto& x : v) {
      for (int l = 0; l < 16; ++l) x[l] = std::ldexp(g(rng), int(rng() % 41) - 20);
    }
    const Lanes16 all = sum_lanes16(v);
    for (int i = 0; i < 16; ++i) ASSERT_EQ(all[i], sum_lanes(v[i])) << "vector " << i << ", round " << round;
  }
}

// swiglu against silu written from its definition in double, over lengths with and without a tail and
// gate values where e^-x over- and underflows; an element's result does not depend on its position.
TEST(Ops, SwigluMatchesFloat64) {
  std::mt19937 rng(9);
  std::normal_distribution<float> g(0.0f, 4.0f);
  for (int64_t n : {1, 7, 16, 33, 320}) {
    std::vector<float> gate(static_cast<size_t>(n)), up(static_cast<size_t>(n));
    for (float& v : gate) v = g(rng);
    for (float& v : up) v = g(rng);
    if (n >= 7) {
      const float extremes[7] = {-100.0f, 100.0f, -87.5f, 89.0f, 0.0f, -1e-30f, 1e-30f};
      std::copy(extremes, extremes + 7, gate.begin());
    }
    std::vector<float> out = gate;
    swiglu(out.data(), up.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double x = gate[size_t(i)], want = x / (1.0 + std::exp(-x)) * up[size_t(i)];
      EXPECT_NEAR(out[size_t(i)], want, 6e-7 * std::abs(want) + 1e-35) << "n = " << n << ", x = " << x;
      float one = gate[size_t(i)];
      swiglu(&one, &up[size_t(i)], 1);
      EXPECT_EQ(one, out[size_t(i)]) << "element " << i << " alone";
    }
  }
}

// A 4 x 4 tile of dots (reduced 16 at a time where AVX-512 has it) must equal each query's own 1 x 4
// tile (the scalar pairwise reduction) bit for bit, and both the float64 dot within rounding; lengths
// with and without a scalar tail.
TEST(Attention, DotTileShapesAgree) {
  std::mt19937 rng(11);
  std::normal_distribution<float> g;
  for (int64_t n : {16, 128, 131, 576}) {
    std::vector<float> q(4 * n), k(4 * n);
    for (float& v : q) v = g(rng);
    for (float& v : k) v = g(rng);
    const float* qs[4] = {&q[0], &q[n], &q[2 * n], &q[3 * n]};
    const float* ks[4] = {&k[0], &k[n], &k[2 * n], &k[3 * n]};
    DotTile<4, 4> tile;
    tile.add(qs, ks, 0, n);
    float s[4][4];
    tile.result(s);
    for (int a = 0; a < 4; ++a) {
      Dot4 one;
      one.add(qs[a], ks, 0, n);
      float s1[4];
      one.result(s1);
      for (int b = 0; b < 4; ++b) {
        EXPECT_EQ(s[a][b], s1[b]) << "n " << n << " query " << a << " row " << b;
        double ref = 0;
        for (int64_t j = 0; j < n; ++j) ref += double(qs[a][j]) * double(ks[b][j]);
        EXPECT_NEAR(s[a][b], ref, 1e-4 * std::sqrt(double(n)) * 4) << "n " << n;
      }
    }
  }
}

// The scalar sums in the pair order below are written with std::fma (the products of BF16 values are
// exact, so it rounds as an addition does): GCC 12.2 at -O2 vectorizes a loop that adds two products
// to one float per iteration and gets a wrong sum.
// BF16 dots (a BF16 cache): a tile's sums equal a scalar sum in vdpbf16ps's order -- per 32 dimensions,
// lane l adds dimension 2l + 1's product, then 2l's; the lanes pairwise; the tail last -- bit for bit,
// whether the instruction or its two-multiply-add form ran (AArch64, AVX2); and the float64 dot.
TEST(Attention, Bf16DotTileSumsInThePairOrder) {
  std::mt19937 rng(13);
  std::normal_distribution<float> g;
  for (int64_t n : {32, 128, 576, 40, 7}) {
    std::vector<uint16_t> q(4 * n), k(4 * n);
    for (uint16_t& v : q) v = f32_to_bf16(g(rng));
    for (uint16_t& v : k) v = f32_to_bf16(g(rng));
    const uint16_t* qs[4] = {&q[0], &q[n], &q[2 * n], &q[3 * n]};
    const uint16_t* ks[4] = {&k[0], &k[n], &k[2 * n], &k[3 * n]};
    DotTile<4, 4> tile;
    tile.add(qs, ks, 0, n);
    float s[4][4];
    tile.result(s);
    for (int a = 0; a < 4; ++a) {
      for (int b = 0; b < 4; ++b) {
        const auto x = [&](int64_t j) { return bf16_to_f32(qs[a][j]); };
        const auto y = [&](int64_t j) { return bf16_to_f32(ks[b][j]); };
        float lanes[16] = {}, tail = 0;
        int64_t j = 0;
        for (; j + 32 <= n; j += 32) {
          for (int l = 0; l < 16; ++l) {
            lanes[l] = std::fma(x(j + 2 * l + 1), y(j + 2 * l + 1), lanes[l]);
            lanes[l] = std::fma(x(j + 2 * l), y(j + 2 * l), lanes[l]);
          }
        }
        for (; j < n; ++j) tail += x(j) * y(j);
        for (int w = 8; w > 0; w /= 2) {
          for (int l = 0; l < w; ++l) lanes[l] += lanes[l + w];
        }
        EXPECT_EQ(s[a][b], lanes[0] + tail) << "n " << n << " query " << a << " row " << b;
        double ref = 0;
        for (j = 0; j < n; ++j) ref += double(x(j)) * double(y(j));
        EXPECT_NEAR(s[a][b], ref, 1e-4 * std::sqrt(double(n)) * 4) << "n " << n;
      }
    }
  }
}

// Scores against keys stored by columns (GQA's cache blocks): every score equals a scalar sum over the
// dimensions in order -- F32 one fused multiply-add each; BF16 per pair dimension 2d + 1's product,
// then 2d's -- bit for bit, whatever the head count (tiles of 1 .. kScoreHeads, more in passes) and
// the number of positions (whole blocks, pairs of blocks, a partial last one); and the float64 dot.
template <class Row>
void check_column_scores(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  constexpr bool kBf16 = std::is_same_v<Row, uint16_t>;
  const int64_t hd = 40;
  for (int64_t heads : {1, 3, 6, 11}) {
    for (int64_t n : {16, 37, 64, 5}) {
      const int64_t blocks = (n + 15) / 16;
      std::vector<float> qf(heads * hd), kf(blocks * 16 * hd);  // keys [position][d]
      for (float& v : qf) v = kBf16 ? bf16_to_f32(f32_to_bf16(g(rng))) : g(rng);
      for (float& v : kf) v = kBf16 ? bf16_to_f32(f32_to_bf16(g(rng))) : g(rng);
      std::vector<Row> q(qf.size()), kt(kf.size());  // the keys by columns, per block
      for (size_t i = 0; i < qf.size(); ++i) q[i] = kBf16 ? Row(f32_to_bf16(qf[i])) : Row(qf[i]);
      for (int64_t s = 0; s < blocks * 16; ++s) {
        for (int64_t d = 0; d < hd; ++d) {
          const int64_t b = s / 16, p = s % 16;
          const int64_t at = kBf16 ? (d / 2) * 32 + p * 2 + d % 2 : d * 16 + p;
          kt[b * 16 * hd + at] = kBf16 ? Row(f32_to_bf16(kf[s * hd + d])) : Row(kf[s * hd + d]);
        }
      }
      const float scale = 0.3f;
      std::vector<float> scores(heads * n, -1.0f);
      column_key_scores(q.data(), hd, heads, hd, [&](int64_t b) { return kt.data() + b * 16 * hd; }, n, scale,
                        scores.data(), n);
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t s = 0; s < n; ++s) {
          const auto x = [&](int64_t d) { return qf[h * hd + d]; };
          const auto y = [&](int64_t d) { return kf[s * hd + d]; };
          float acc = 0;
          double ref = 0;
          if constexpr (kBf16) {
            for (int64_t d = 0; d < hd; d += 2) {
              acc = std::fma(x(d + 1), y(d + 1), acc);
              acc = std::fma(x(d), y(d), acc);
            }
          } else {
            for (int64_t d = 0; d < hd; ++d) acc = std::fma(x(d), y(d), acc);
          }
          for (int64_t d = 0; d < hd; ++d) ref += double(x(d)) * y(d);
          EXPECT_EQ(scores[h * n + s], acc * scale) << heads << " heads, " << n << " positions, head " << h << " key " << s;
          EXPECT_NEAR(scores[h * n + s], scale * ref, 1e-4 * std::sqrt(double(hd)) * 4);
        }
      }
    }
  }
}

TEST(Attention, ColumnKeyScoresInOrder) { check_column_scores<float>(15); }
TEST(Attention, ColumnKeyBf16ScoresInPairOrder) { check_column_scores<uint16_t>(16); }

// add_weighted_rows against the float64 sum, for head counts that fill and do not fill a tile, widths
// with whole tiles, single vectors and a scalar tail, and odd and even row counts; rows of floats, and
// of BF16 values with BF16 weights -- those also against a scalar sum in the pair order (row i + 1's
// product, then row i's; an odd last row after a zero-weight product), bit for bit, whether
// vdpbf16ps or multiply-adds ran.
template <class Row>
void check_weighted_rows(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  constexpr bool kBf16 = std::is_same_v<Row, uint16_t>;
  for (int64_t n : {21, 16}) {
    for (int64_t heads : {1, 3, 6}) {
      for (int64_t width : {64, 128, 80, 99}) {
        std::vector<Row> rows(n * width);
        std::vector<float> p(heads * n), o(heads * width);
        for (Row& v : rows) {
          if constexpr (kBf16) v = f32_to_bf16(g(rng));
          else v = g(rng);
        }
        for (float& v : p) v = std::abs(g(rng));
        if constexpr (kBf16) round_weights_to_bf16(p.data(), int64_t(p.size()));
        for (float& v : o) v = g(rng);
        std::vector<const Row*> r(n);
        for (int64_t i = 0; i < n; ++i) r[i] = &rows[i * width];
        std::vector<double> ref(o.begin(), o.end());
        std::vector<float> pairs(o);  // the pair order in float (BF16 rows)
        for (int64_t h = 0; h < heads; ++h) {
          for (int64_t j = 0; j < width; ++j) {
            const auto x = [&](int64_t i) { return to_float(rows[i * width + j]); };
            for (int64_t i = 0; i < n; ++i) ref[h * width + j] += double(p[h * n + i]) * x(i);
            float& acc = pairs[h * width + j];
            for (int64_t i = 0; i < n; i += 2) {
              acc = std::fma(i + 1 < n ? p[h * n + i + 1] : 0.0f, x(i + 1 < n ? i + 1 : i), acc);
              acc = std::fma(p[h * n + i], x(i), acc);
            }
          }
        }
        add_weighted_rows(r.data(), n, p.data(), n, heads, o.data(), width, width);
        for (size_t i = 0; i < o.size(); ++i) {
          EXPECT_NEAR(o[i], ref[i], 1e-4) << heads << " heads, width " << width << ", " << i;
          if constexpr (kBf16) {
            EXPECT_EQ(o[i], pairs[i]) << n << " rows, " << heads << " heads, width " << width << ", " << i;
          }
        }
      }
    }
  }
}

TEST(Attention, WeightedRowsMatchFloat64) { check_weighted_rows<float>(12); }
TEST(Attention, WeightedBf16RowsInPairOrder) { check_weighted_rows<uint16_t>(14); }

}  // namespace
}  // namespace r1
