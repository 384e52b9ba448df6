// The three matrix products of a Linear layer in training, row-major, in the llm.c naming:
//
//   forward          y[T,out]   = x[T,in] · W[out,in]ᵀ (+ bias[out])
//   backward (input) dx[T,in]  (+)= dy[T,out] · W[out,in]
//   backward (weight) dW[out,in] += dy[T,out]ᵀ · x[T,in]      (dbias[out] += Σ_t dy[t])
//
// float: a cache-blocked, packed kernel (the BLIS loop nest) that GCC auto-vectorizes, parallel over
// output tiles. double: plain loops, the reference the gradient checks run in.
//
// Determinism: the tile grid depends only on the shape, each output element belongs to one tile, one
// thread computes a tile, and its sum over the inner dimension runs in a fixed order. So the bits of the
// result are the same for any ThreadPool size (tested for 1, 2 and 3 threads).
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/thread_pool.h"

namespace r1::train {

// y[T,out] = x[T,in] · W[out,in]ᵀ (+ bias[out] when bias is not null).
template <class F>
void linear_forward(const F* x, const F* W, const std::type_identity_t<F>* bias, F* y, int64_t T, int64_t in,
                    int64_t out, ThreadPool& pool);

// dx[T,in] = dy[T,out] · W[out,in], or += when `accumulate` (dx is the sum of several consumers' grads).
template <class F>
void linear_backward_input(const F* dy, const F* W, F* dx, int64_t T, int64_t in, int64_t out, bool accumulate,
                           ThreadPool& pool);

// dW[out,in] += dy[T,out]ᵀ · x[T,in]; dbias[out] += Σ_t dy[t][out] when dbias is not null.
template <class F>
void linear_backward_weight(const F* dy, const F* x, F* dW, std::type_identity_t<F>* dbias, int64_t T, int64_t in,
                            int64_t out, ThreadPool& pool);

// (bias and dbias may be null: std::type_identity_t keeps a nullptr argument from breaking deduction.)

// The general product under the three: C[M,N] = A·B, or C += A·B when `accumulate`. A and B are read
// through strides, A(m,k) = A[m·a_rs + k·a_cs], B(k,n) = B[k·b_rs + n·b_cs], so transposed operands need
// no copy; C is row-major with N columns.
template <class F>
void gemm(int64_t M, int64_t N, int64_t K, const F* A, int64_t a_rs, int64_t a_cs, const F* B, int64_t b_rs,
          int64_t b_cs, F* C, bool accumulate, ThreadPool& pool);

}  // namespace r1::train
