// The value pass of attention: o_h += Σ_i p_h[i] · rows[i] for several heads over the same rows, the
// counterpart of dot4.h's scores. A tile of heads x 16·NV columns keeps its sums in registers across
// the rows, so each row is loaded once per tile of heads instead of once per head, and each output
// once per call instead of once per row. Every output element is summed over the rows in one fixed
// order whatever the tile shape, so prefill and decode, any batch and any thread count give the same
// bits:
//   float rows:  row by row, one fused multiply-add each;
//   BF16 rows (a BF16 cache, whose attention weights are rounded to BF16 as well): rows in pairs
//                (i, i + 1) from the first, adding row i + 1's product, then row i's -- the order of
//                AVX512-BF16's vdpbf16ps, which does 16 columns x 2 rows in one instruction; elsewhere
//                two multiply-adds give the same bits (a product of two BF16 values is exact in float).
//                An odd last row pairs with a zero weight.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/lanes.h"

namespace r1 {

// Heads per tile: 4 heads x 4 column vectors are 16 vector accumulators -- half the AVX-512 register
// file, so nothing spills; with 16 AVX2 registers, 2 heads.
#if defined(__AVX512F__)
constexpr int kWeightedHeadTile = 4;
#else
constexpr int kWeightedHeadTile = 2;
#endif

// Attention weights for BF16 rows: rounded to BF16 (to nearest even), and those below the smallest
// normal float set to zero -- vdpbf16ps reads such inputs as zero, and both forms must agree.
inline void round_weights_to_bf16(float* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = p[i] < FLT_MIN ? 0.0f : bf16_to_f32(f32_to_bf16(p[i]));
}

// Heads [0, NH), columns [j0, j0 + 16·NV): float rows one by one, BF16 rows in the pair order (widened
// to float, two multiply-adds per pair). The head count is a template argument so that the sums stay in
// registers (with a run-time count GCC kept them on the stack).
template <int NV, int NH, class Row>
void weighted_rows_tile(const Row* const* rows, int64_t n, const float* p, int64_t p_stride, float* o,
                        int64_t o_stride, int64_t j0) {
  Lanes16 acc[NH][NV];
  for (int k = 0; k < NH; ++k) {
    for (int v = 0; v < NV; ++v) acc[k][v] = load16(o + k * o_stride + j0 + 16 * v);
  }
  if constexpr (std::is_same_v<Row, float>) {
    for (int64_t i = 0; i < n; ++i) {
      Lanes16 rv[NV];
      for (int v = 0; v < NV; ++v) rv[v] = load16(rows[i] + j0 + 16 * v);
      for (int k = 0; k < NH; ++k) {
        const Lanes16 pk = broadcast16(p[k * p_stride + i]);
        for (int v = 0; v < NV; ++v) acc[k][v] = fmadd16(pk, rv[v], acc[k][v]);
      }
    }
  } else {
    for (int64_t i = 0; i < n; i += 2) {
      const bool pair = i + 1 < n;
      Lanes16 first[NV], second[NV];
      for (int v = 0; v < NV; ++v) {
        first[v] = load16(rows[i] + j0 + 16 * v);
        second[v] = load16(rows[pair ? i + 1 : i] + j0 + 16 * v);
      }
      for (int k = 0; k < NH; ++k) {
        const Lanes16 p0 = broadcast16(p[k * p_stride + i]), p1 = broadcast16(pair ? p[k * p_stride + i + 1] : 0.0f);
        for (int v = 0; v < NV; ++v) acc[k][v] = fmadd16(p0, first[v], fmadd16(p1, second[v], acc[k][v]));
      }
    }
  }
  for (int k = 0; k < NH; ++k) {
    for (int v = 0; v < NV; ++v) store16(o + k * o_stride + j0 + 16 * v, acc[k][v]);
  }
}

#if defined(__AVX512BF16__) && defined(__AVX512F__)
// 64 columns of BF16 rows with vdpbf16ps. vpunpck{l,h}wd of two rows' 32 values makes the (row i,
// row i + 1) pairs of columns 8c..8c+3 and 8c+4..8c+7 of each 128-bit chunk c, so the sums are kept in
// that order and permuted from / to the outputs' order once per call.
template <int NH>
void weighted_pairs_tile64(const uint16_t* const* rows, int64_t n, const float* p, int64_t p_stride, float* o,
                           int64_t o_stride, int64_t j0) {
  const __m512i low_half = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
  const __m512i high_half = _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  const __m512i first16 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i second16 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  __m512 acc[NH][4];  // per head: 32 columns' low and high halves, then the next 32's
  for (int k = 0; k < NH; ++k) {
    for (int s = 0; s < 2; ++s) {
      const float* src = o + k * o_stride + j0 + 32 * s;
      const __m512 a = _mm512_loadu_ps(src), b = _mm512_loadu_ps(src + 16);
      acc[k][2 * s] = _mm512_permutex2var_ps(a, low_half, b);
      acc[k][2 * s + 1] = _mm512_permutex2var_ps(a, high_half, b);
    }
  }
  for (int64_t i = 0; i < n; i += 2) {
    const bool pair = i + 1 < n;
    __m512bh pairs[4];
    for (int s = 0; s < 2; ++s) {
      const __m512i x0 = _mm512_loadu_si512(rows[i] + j0 + 32 * s);
      const __m512i x1 = _mm512_loadu_si512(rows[pair ? i + 1 : i] + j0 + 32 * s);
      pairs[2 * s] = __m512bh(_mm512_unpacklo_epi16(x0, x1));
      pairs[2 * s + 1] = __m512bh(_mm512_unpackhi_epi16(x0, x1));
    }
    for (int k = 0; k < NH; ++k) {
      const uint32_t w0 = std::bit_cast<uint32_t>(p[k * p_stride + i]) >> 16;
      const uint32_t w1 = pair ? std::bit_cast<uint32_t>(p[k * p_stride + i + 1]) & 0xFFFF0000u : 0u;
      const __m512bh w = __m512bh(_mm512_set1_epi32(int(w0 | w1)));
      for (int v = 0; v < 4; ++v) acc[k][v] = _mm512_dpbf16_ps(acc[k][v], pairs[v], w);
    }
  }
  for (int k = 0; k < NH; ++k) {
    for (int s = 0; s < 2; ++s) {
      float* dst = o + k * o_stride + j0 + 32 * s;
      _mm512_storeu_ps(dst, _mm512_permutex2var_ps(acc[k][2 * s], first16, acc[k][2 * s + 1]));
      _mm512_storeu_ps(dst + 16, _mm512_permutex2var_ps(acc[k][2 * s], second16, acc[k][2 * s + 1]));
    }
  }
}
#endif

// NH heads over every column: tiles of 64 columns, single vectors, then the scalar tail.
template <int NH, class Row>
void weighted_rows_heads(const Row* const* rows, int64_t n, const float* p, int64_t p_stride, float* o, int64_t o_stride,
                         int64_t width) {
  constexpr int kColumnVectors = 4;
  constexpr bool kPairs = std::is_same_v<Row, uint16_t>;
  const int64_t wide = width / (16 * kColumnVectors) * (16 * kColumnVectors), vectors = width / 16 * 16;
  for (int64_t j0 = 0; j0 < wide; j0 += 16 * kColumnVectors) {
#if defined(__AVX512BF16__) && defined(__AVX512F__)
    if constexpr (kPairs) {
      weighted_pairs_tile64<NH>(rows, n, p, p_stride, o, o_stride, j0);
      continue;
    }
#endif
    weighted_rows_tile<kColumnVectors, NH>(rows, n, p, p_stride, o, o_stride, j0);
  }
  for (int64_t j0 = wide; j0 < vectors; j0 += 16) weighted_rows_tile<1, NH>(rows, n, p, p_stride, o, o_stride, j0);
  for (int k = 0; k < NH; ++k) {
    for (int64_t j = vectors; j < width; ++j) {
      float& out = o[k * o_stride + j];
      if constexpr (!kPairs) {
        for (int64_t i = 0; i < n; ++i) out = std::fma(p[k * p_stride + i], rows[i][j], out);
      } else {
        for (int64_t i = 0; i < n; i += 2) {
          if (i + 1 < n) out = std::fma(p[k * p_stride + i + 1], to_float(rows[i + 1][j]), out);
          else out = std::fma(0.0f, to_float(rows[i][j]), out);
          out = std::fma(p[k * p_stride + i], to_float(rows[i][j]), out);
        }
      }
    }
  }
}

// o[h·o_stride + j] += Σ_{i<n} p[h·p_stride + i] · rows[i][j] for heads h < heads and columns j < width.
// BF16 rows (uint16_t bits) take weights that are BF16 values (round_weights_to_bf16).
template <class Row>
void add_weighted_rows(const Row* const* rows, int64_t n, const float* p, int64_t p_stride, int64_t heads, float* o,
                       int64_t o_stride, int64_t width) {
  for (int64_t h0 = 0; h0 < heads; h0 += kWeightedHeadTile) {
    const float* ph = p + h0 * p_stride;
    float* oh = o + h0 * o_stride;
    switch (std::min<int64_t>(kWeightedHeadTile, heads - h0)) {
      case 1: weighted_rows_heads<1>(rows, n, ph, p_stride, oh, o_stride, width); break;
      case 2: weighted_rows_heads<2>(rows, n, ph, p_stride, oh, o_stride, width); break;
      case 3: weighted_rows_heads<3>(rows, n, ph, p_stride, oh, o_stride, width); break;
      default: weighted_rows_heads<kWeightedHeadTile>(rows, n, ph, p_stride, oh, o_stride, width); break;
    }
  }
}

}  // namespace r1
