#include "train/ops/gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace r1::train {

namespace {

// ---- float: packed, cache-blocked --------------------------------------------------------------------
// The BLIS loop nest. C is cut into kMC×kNC tiles (the unit of parallel work). For each block of kKC
// inner-dimension steps, a tile's slice of A is packed into row panels of kMR rows and B into column
// panels of kNR columns, each laid out in the order the micro-kernel reads it. The micro-kernel keeps a
// kMR×kNR block of C in registers while a kKC×kNR panel of B (32 KiB) stays in L1 and the A panels (6 KiB
// each) stream from L2, where the whole packed tile (≤ 224 KiB) lives.
#if defined(__AVX512F__)
constexpr int64_t kNR = 32;  // two 16-float vectors: 6×2 accumulators + 2 B vectors + 1 broadcast < 32 zmm
#else
constexpr int64_t kNR = 16;  // two 8-float vectors: 12 accumulators + 3 < 16 ymm
#endif
constexpr int64_t kMR = 6;
constexpr int64_t kKC = 256;
constexpr int64_t kMC = 16 * kMR;  // 96 rows of C per tile
constexpr int64_t kNC = 4 * kNR;   // 128 (AVX-512) columns of C per tile

// Ap[i][p][r] = A(m0 + i·kMR + r, k0 + p); rows past M are zero, so the kernel needs no edge case.
void pack_a(const float* A, int64_t a_rs, int64_t a_cs, int64_t m0, int64_t mc, int64_t k0, int64_t kc, float* Ap) {
  for (int64_t i = 0; i * kMR < mc; ++i, Ap += kc * kMR) {
    const int64_t rows = std::min(kMR, mc - i * kMR);
    const float* src = A + (m0 + i * kMR) * a_rs + k0 * a_cs;
    for (int64_t p = 0; p < kc; ++p) {
      for (int64_t r = 0; r < kMR; ++r) Ap[p * kMR + r] = r < rows ? src[r * a_rs + p * a_cs] : 0.0f;
    }
  }
}

// Bp[j][p][c] = B(k0 + p, n0 + j·kNR + c); columns past N are zero.
void pack_b(const float* B, int64_t b_rs, int64_t b_cs, int64_t n0, int64_t nc, int64_t k0, int64_t kc, float* Bp) {
  for (int64_t j = 0; j * kNR < nc; ++j, Bp += kc * kNR) {
    const int64_t cols = std::min(kNR, nc - j * kNR);
    const float* src = B + k0 * b_rs + (n0 + j * kNR) * b_cs;
    if (cols < kNR) std::fill(Bp, Bp + kc * kNR, 0.0f);
    if (b_cs == 1) {  // rows of B are contiguous: copy along them
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t c = 0; c < cols; ++c) Bp[p * kNR + c] = src[p * b_rs + c];
      }
    } else {  // Wᵀ: each column of B is a contiguous row of W
      for (int64_t c = 0; c < cols; ++c) {
        for (int64_t p = 0; p < kc; ++p) Bp[p * kNR + c] = src[p * b_rs + c * b_cs];
      }
    }
  }
}

// acc[r][c] = Σ_p a[p][r]·b[p][c] over kc steps, in order of p: a kMR×kNR block of C in vector
// registers, one B row loaded (two vectors) and each A value broadcast per step. Each row's two halves
// are named vectors of one register each: as one kNR-float vector type GCC 12 kept the rows in stack
// slots and copied them around every step (the training GEMM ran at ~45 GFLOP/s per thread). Named
// rather than an array: sanitizer builds keep local arrays in memory, several times slower there.
// Multiplies and adds stay separate (-ffp-contract=off), as every training result was computed so far.
typedef float HalfRow __attribute__((vector_size(kNR / 2 * sizeof(float))));
static_assert(kMR == 6, "micro_kernel names its six rows");
void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* __restrict acc) {
  HalfRow c00 = {}, c01 = {}, c10 = {}, c11 = {}, c20 = {}, c21 = {};
  HalfRow c30 = {}, c31 = {}, c40 = {}, c41 = {}, c50 = {}, c51 = {};
  for (int64_t p = 0; p < kc; ++p, a += kMR, b += kNR) {
    HalfRow b0, b1;
    std::memcpy(&b0, b, sizeof b0);
    std::memcpy(&b1, b + kNR / 2, sizeof b1);
    c00 += a[0] * b0, c01 += a[0] * b1;
    c10 += a[1] * b0, c11 += a[1] * b1;
    c20 += a[2] * b0, c21 += a[2] * b1;
    c30 += a[3] * b0, c31 += a[3] * b1;
    c40 += a[4] * b0, c41 += a[4] * b1;
    c50 += a[5] * b0, c51 += a[5] * b1;
  }
  const HalfRow rows[kMR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int64_t r = 0; r < kMR; ++r) std::memcpy(acc + r * kNR, rows[r], sizeof rows[r]);
}

void gemm_packed(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs, const float* B,
                 int64_t b_rs, int64_t b_cs, float* C, bool accumulate, ThreadPool& pool) {
  const int64_t tiles_m = (M + kMC - 1) / kMC, tiles_n = (N + kNC - 1) / kNC;
  // Tiles are numbered column by column, so a thread's contiguous range is runs of tiles sharing a
  // column block of C: each run packs its B block once per K block and reuses it for all its row blocks.
  pool.parallel_for(size_t(tiles_m * tiles_n), [&](size_t begin, size_t end, int) {
    thread_local std::vector<float> a_buf, b_buf;  // grow once to a tile's panels, then reused
    a_buf.resize(size_t(kMC * kKC));
    b_buf.resize(size_t(kNC * kKC));
    alignas(64) float acc[kMR * kNR];
    for (int64_t run = int64_t(begin); run < int64_t(end);) {
      const int64_t tn = run / tiles_m, run_end = std::min(int64_t(end), (tn + 1) * tiles_m);
      const int64_t n0 = tn * kNC, nc = std::min(kNC, N - n0);
      for (int64_t k0 = 0; k0 < K; k0 += kKC) {
        const int64_t kc = std::min(kKC, K - k0);
        const bool add = accumulate || k0 > 0;  // later K blocks add to what the earlier ones wrote
        pack_b(B, b_rs, b_cs, n0, nc, k0, kc, b_buf.data());
        for (int64_t tile = run; tile < run_end; ++tile) {
          const int64_t m0 = tile % tiles_m * kMC, mc = std::min(kMC, M - m0);
          pack_a(A, a_rs, a_cs, m0, mc, k0, kc, a_buf.data());
          for (int64_t j = 0; j * kNR < nc; ++j) {
            for (int64_t i = 0; i * kMR < mc; ++i) {
              micro_kernel(kc, a_buf.data() + i * kc * kMR, b_buf.data() + j * kc * kNR, acc);
              const int64_t rows = std::min(kMR, mc - i * kMR), cols = std::min(kNR, nc - j * kNR);
              for (int64_t r = 0; r < rows; ++r) {
                float* c = C + (m0 + i * kMR + r) * N + n0 + j * kNR;
                const float* s = acc + r * kNR;
                if (add) {
                  for (int64_t col = 0; col < cols; ++col) c[col] += s[col];
                } else {
                  for (int64_t col = 0; col < cols; ++col) c[col] = s[col];
                }
              }
            }
          }
        }
      }
      run = run_end;
    }
  });
}

// ---- double: the reference --------------------------------------------------------------------------
void gemm_reference(int64_t M, int64_t N, int64_t K, const double* A, int64_t a_rs, int64_t a_cs, const double* B,
                    int64_t b_rs, int64_t b_cs, double* C, bool accumulate) {
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += A[m * a_rs + k * a_cs] * B[k * b_rs + n * b_cs];
      C[m * N + n] = accumulate ? C[m * N + n] + sum : sum;
    }
  }
}

}  // namespace

template <class F>
void gemm(int64_t M, int64_t N, int64_t K, const F* A, int64_t a_rs, int64_t a_cs, const F* B, int64_t b_rs,
          int64_t b_cs, F* C, bool accumulate, ThreadPool& pool) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // an empty sum
    if (!accumulate) std::fill(C, C + M * N, F(0));
    return;
  }
  if constexpr (std::is_same_v<F, float>) {
    gemm_packed(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, accumulate, pool);
  } else {
    gemm_reference(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, accumulate);
  }
}

template <class F>
void linear_forward(const F* x, const F* W, const std::type_identity_t<F>* bias, F* y, int64_t T, int64_t in,
                    int64_t out, ThreadPool& pool) {
  if (bias) {  // start every row from the bias, then add x·Wᵀ
    for (int64_t t = 0; t < T; ++t) std::copy(bias, bias + out, y + t * out);
  }
  // A = x (T×in, rows contiguous); B(k,n) = W[n][k], i.e. Wᵀ read through strides.
  gemm(T, out, in, x, in, 1, W, 1, in, y, bias != nullptr, pool);
}

template <class F>
void linear_backward_input(const F* dy, const F* W, F* dx, int64_t T, int64_t in, int64_t out, bool accumulate,
                           ThreadPool& pool) {
  gemm(T, in, out, dy, out, 1, W, in, 1, dx, accumulate, pool);  // dx = dy·W: B = W as stored
}

template <class F>
void linear_backward_weight(const F* dy, const F* x, F* dW, std::type_identity_t<F>* dbias, int64_t T, int64_t in,
                            int64_t out, ThreadPool& pool) {
  gemm(out, in, T, dy, 1, out, x, in, 1, dW, true, pool);  // A(o,t) = dy[t][o]: dyᵀ through strides
  if (dbias) {
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t o = 0; o < out; ++o) dbias[o] += dy[t * out + o];
    }
  }
}

#define R1_INSTANTIATE(F)                                                                                            \
  template void gemm<F>(int64_t, int64_t, int64_t, const F*, int64_t, int64_t, const F*, int64_t, int64_t, F*, bool, \
                        ThreadPool&);                                                                                \
  template void linear_forward<F>(const F*, const F*, const F*, F*, int64_t, int64_t, int64_t, ThreadPool&);         \
  template void linear_backward_input<F>(const F*, const F*, F*, int64_t, int64_t, int64_t, bool, ThreadPool&);      \
  template void linear_backward_weight<F>(const F*, const F*, F*, F*, int64_t, int64_t, int64_t, ThreadPool&);
R1_INSTANTIATE(float)
R1_INSTANTIATE(double)
#undef R1_INSTANTIATE

}  // namespace r1::train
