// Dot products of a few query vectors against a few key rows, the inner loop of attention scores: a
// tile of Q queries x R rows loads each query and each row once per 16 dimensions and does Q*R
// fused multiply-adds with them. Each result is summed in one fixed order (16 lanes over the dimensions, the
// lanes pairwise, then the scalar tail), whatever the tile shape, so a score's bits depend only on its
// inputs -- prefill and decode, any batch, any thread count, any tiling agree.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/lanes.h"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace r1 {

// The running sums of Q x R dot products: lane-wise partial sums and a scalar tail per pair.
template <int Q, int R>
struct DotTile {
  Lanes16 acc[Q][R] = {};
  float tail[Q][R] = {};

  // Adds Σ_j q[a][j]·rows[b][off + j] over j < n to pair (a, b)'s sum.
  void add(const float* const q[Q], const float* const rows[R], int64_t off, int64_t n) {
    constexpr int64_t kLanes = 16;
    int64_t j = 0;
    for (; j + kLanes <= n; j += kLanes) {
      Lanes16 qv[Q], rv[R];
      for (int a = 0; a < Q; ++a) qv[a] = pinned(load16(q[a] + j));
      for (int b = 0; b < R; ++b) rv[b] = pinned(load16(rows[b] + off + j));
      for (int a = 0; a < Q; ++a) {
        for (int b = 0; b < R; ++b) acc[a][b] = fmadd16(qv[a], rv[b], acc[a][b]);
      }
    }
    for (; j < n; ++j) {
      for (int a = 0; a < Q; ++a) {
        for (int b = 0; b < R; ++b) tail[a][b] = std::fma(q[a][j], rows[b][off + j], tail[a][b]);
      }
    }
  }

  // The same for BF16 queries and rows (a BF16 cache): per 32 dimensions, lane l adds the products of
  // dimensions 2l + 1, then 2l (dot_bf16_pairs: vdpbf16ps's order, or multiply-adds with its bits).
  // Dimensions past the last 32 go to the tail (a product of BF16 values is exact: fma rounds once).
  void add(const uint16_t* const q[Q], const uint16_t* const rows[R], int64_t off, int64_t n) {
    constexpr int64_t kPairs = 32;
    int64_t j = 0;
    for (; j + kPairs <= n; j += kPairs) {
      Words16 qv[Q], rv[R];
      for (int a = 0; a < Q; ++a) std::memcpy(&qv[a], q[a] + j, sizeof(Words16)), qv[a] = pinned(qv[a]);
      for (int b = 0; b < R; ++b) std::memcpy(&rv[b], rows[b] + off + j, sizeof(Words16)), rv[b] = pinned(rv[b]);
      for (int a = 0; a < Q; ++a) {
        for (int b = 0; b < R; ++b) acc[a][b] = dot_bf16_pairs(acc[a][b], qv[a], rv[b]);
      }
    }
    for (; j < n; ++j) {
      for (int a = 0; a < Q; ++a) {
        for (int b = 0; b < R; ++b) tail[a][b] = std::fma(bf16_to_f32(q[a][j]), bf16_to_f32(rows[b][off + j]), tail[a][b]);
      }
    }
  }

  void result(float out[Q][R]) const {
#if defined(__AVX512F__)
    if constexpr (Q * R == 16) {
      result16(out);
      return;
    }
#endif
    for (int a = 0; a < Q; ++a) {
      for (int b = 0; b < R; ++b) {
        float lanes[16];
        std::memcpy(lanes, &acc[a][b], sizeof lanes);
        for (int w = 8; w > 0; w /= 2) {
          for (int l = 0; l < w; ++l) lanes[l] += lanes[l + w];
        }
        out[a][b] = lanes[0] + tail[a][b];
      }
    }
  }

#if defined(__AVX512F__)
  // The same pairwise tree for 16 sums at once, by transposition: at each level every lane l < w gets
  // lane l + w added, as above, while the halves of different sums are packed into one vector. A
  // 4 x 4 tile of 128-dimension dots is 8 multiply-adds per sum, and the 15 scalar additions per sum
  // of the loop above took longer than those.
  void result16(float out[Q][R]) const {
    // Zero-masked form of vshuff32x4: the plain intrinsic's undefined source trips GCC 12's
    // -Wmaybe-uninitialized; with all 16 lanes selected the result is the same.
    const auto chunks = [](__m512 a, __m512 b, auto imm) { return _mm512_maskz_shuffle_f32x4(0xFFFF, a, b, decltype(imm)::value); };
    __m512 v[16];
    for (int m = 0; m < 16; ++m) v[m] = __m512(acc[m / R][m % R]);
    __m512 u[8], x[4];
    for (int k = 0; k < 8; ++k) {  // w = 8: u[k] = [sum 2k's lanes 0-7 | sum 2k+1's lanes 0-7]
      u[k] = _mm512_add_ps(chunks(v[2 * k], v[2 * k + 1], std::integral_constant<int, _MM_SHUFFLE(1, 0, 1, 0)>{}),
                           chunks(v[2 * k], v[2 * k + 1], std::integral_constant<int, _MM_SHUFFLE(3, 2, 3, 2)>{}));
    }
    for (int j = 0; j < 4; ++j) {  // w = 4: 128-bit chunk c of x[j] holds sum 4j + c's lanes 0-3
      x[j] = _mm512_add_ps(chunks(u[2 * j], u[2 * j + 1], std::integral_constant<int, _MM_SHUFFLE(2, 0, 2, 0)>{}),
                           chunks(u[2 * j], u[2 * j + 1], std::integral_constant<int, _MM_SHUFFLE(3, 1, 3, 1)>{}));
    }
    // w = 2: chunk c of y0 = [sum c's lanes 0-1, sum 4 + c's], of y1 the same for sums 8 + c, 12 + c.
    const __m512 y0 = _mm512_add_ps(_mm512_shuffle_ps(x[0], x[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_ps(x[0], x[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 y1 = _mm512_add_ps(_mm512_shuffle_ps(x[2], x[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_ps(x[2], x[3], _MM_SHUFFLE(3, 2, 3, 2)));
    // w = 1: lane 4c + i of z is sum c + 4i.
    const __m512 z = _mm512_add_ps(_mm512_shuffle_ps(y0, y1, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_ps(y0, y1, _MM_SHUFFLE(3, 1, 3, 1)));
    float sums[16];
    _mm512_storeu_ps(sums, z);
    for (int m = 0; m < 16; ++m) out[m / R][m % R] = sums[4 * (m % 4) + m / 4] + tail[m / R][m % R];
  }
#endif
};

// One query against four rows.
struct Dot4 {
  DotTile<1, 4> tile;

  // Adds Σ_j q[j]·rows[k][off + j] over j < n to row k's sum.
  void add(const float* q, const float* const rows[4], int64_t off, int64_t n) {
    const float* qs[1] = {q};
    tile.add(qs, rows, off, n);
  }
  void result(float out[4]) const {
    float o[1][4];
    tile.result(o);
    std::memcpy(out, o[0], sizeof o);
  }
};

}  // namespace r1
