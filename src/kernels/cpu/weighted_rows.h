// The value pass of attention: o_h += Σ_i p_h[i] · rows[i] for several heads over the same rows, the
// counterpart of dot4.h's scores. A tile of heads x 16·NV columns keeps its sums in registers across
// the rows, so each row is loaded once per tile of heads instead of once per head, and each output
// once per call instead of once per row. Every output element is summed over the rows in their order
// (one fused multiply-add per row),
// whatever the tile shape, so prefill and decode, any batch and any thread count give the same bits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/lanes.h"

namespace r1 {

// Heads per tile: 4 heads x 4 column vectors are 16 vector accumulators -- half the AVX-512 register
// file, so nothing spills; with 16 AVX2 registers, 2 heads.
#if defined(__AVX512F__)
constexpr int kWeightedHeadTile = 4;
#else
constexpr int kWeightedHeadTile = 2;
#endif

// Heads [0, NH), columns [j0, j0 + 16·NV). Rows are floats, or BF16 values (a BF16 cache) widened to
// floats as they are loaded: the same sums of the same floats. The head count is a template argument
// so that the sums stay in registers (with a run-time count GCC kept them on the stack).
template <int NV, int NH, class Row>
void weighted_rows_tile(const Row* const* rows, int64_t n, const float* p, int64_t p_stride, float* o, int64_t o_stride,
                        int64_t j0) {
  Lanes16 acc[NH][NV];
  for (int k = 0; k < NH; ++k) {
    for (int v = 0; v < NV; ++v) acc[k][v] = load16(o + k * o_stride + j0 + 16 * v);
  }
  for (int64_t i = 0; i < n; ++i) {
    Lanes16 rv[NV];
    for (int v = 0; v < NV; ++v) rv[v] = load16(rows[i] + j0 + 16 * v);
    for (int k = 0; k < NH; ++k) {
      const Lanes16 pk = Lanes16{} + p[k * p_stride + i];
      for (int v = 0; v < NV; ++v) acc[k][v] = fmadd16(pk, rv[v], acc[k][v]);
    }
  }
  for (int k = 0; k < NH; ++k) {
    for (int v = 0; v < NV; ++v) store16(o + k * o_stride + j0 + 16 * v, acc[k][v]);
  }
}

// NH heads over every column: tiles of 4 vectors, single vectors, then the scalar tail.
template <int NH, class Row>
void weighted_rows_heads(const Row* const* rows, int64_t n, const float* p, int64_t p_stride, float* o, int64_t o_stride,
                         int64_t width) {
  constexpr int kColumnVectors = 4;
  const int64_t wide = width / (16 * kColumnVectors) * (16 * kColumnVectors), vectors = width / 16 * 16;
  for (int64_t j0 = 0; j0 < wide; j0 += 16 * kColumnVectors) {
    weighted_rows_tile<kColumnVectors, NH>(rows, n, p, p_stride, o, o_stride, j0);
  }
  for (int64_t j0 = wide; j0 < vectors; j0 += 16) weighted_rows_tile<1, NH>(rows, n, p, p_stride, o, o_stride, j0);
  for (int k = 0; k < NH; ++k) {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = vectors; j < width; ++j) {
        o[k * o_stride + j] = std::fma(p[k * p_stride + i], to_float(rows[i][j]), o[k * o_stride + j]);
      }
    }
  }
}

// o[h·o_stride + j] += Σ_{i<n} p[h·p_stride + i] · rows[i][j] for heads h < heads and columns j < width.
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
