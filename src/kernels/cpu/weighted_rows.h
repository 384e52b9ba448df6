// The value pass of attention: o_h += Σ_i p_h[i] · rows[i] for several heads over the same rows, the
// counterpart of dot4.h's scores. A tile of heads x 16·NV columns keeps its sums in registers across
// the rows, so each row is loaded once per tile of heads instead of once per head, and each output
// once per call instead of once per row. Every output element is summed over the rows in their order,
// whatever the tile shape, so prefill and decode, any batch and any thread count give the same bits.
#pragma once

#include <algorithm>
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

// Heads [0, nh) (nh <= kWeightedHeadTile), columns [j0, j0 + 16·NV).
template <int NV>
void weighted_rows_tile(const float* const* rows, int64_t n, const float* p, int64_t p_stride, int64_t nh, float* o,
                        int64_t o_stride, int64_t j0) {
  Lanes16 acc[kWeightedHeadTile][NV];
  for (int64_t k = 0; k < nh; ++k) {
    for (int v = 0; v < NV; ++v) std::memcpy(&acc[k][v], o + k * o_stride + j0 + 16 * v, sizeof(Lanes16));
  }
  for (int64_t i = 0; i < n; ++i) {
    Lanes16 rv[NV];
    for (int v = 0; v < NV; ++v) std::memcpy(&rv[v], rows[i] + j0 + 16 * v, sizeof(Lanes16));
    for (int64_t k = 0; k < nh; ++k) {
      const float pk = p[k * p_stride + i];
      for (int v = 0; v < NV; ++v) acc[k][v] += pk * rv[v];
    }
  }
  for (int64_t k = 0; k < nh; ++k) {
    for (int v = 0; v < NV; ++v) std::memcpy(o + k * o_stride + j0 + 16 * v, &acc[k][v], sizeof(Lanes16));
  }
}

// o[h·o_stride + j] += Σ_{i<n} p[h·p_stride + i] · rows[i][j] for heads h < heads and columns j < width.
inline void add_weighted_rows(const float* const* rows, int64_t n, const float* p, int64_t p_stride, int64_t heads,
                              float* o, int64_t o_stride, int64_t width) {
  constexpr int kColumnVectors = 4;
  const int64_t wide = width / (16 * kColumnVectors) * (16 * kColumnVectors), vectors = width / 16 * 16;
  for (int64_t h0 = 0; h0 < heads; h0 += kWeightedHeadTile) {
    const int64_t nh = std::min<int64_t>(kWeightedHeadTile, heads - h0);
    const float* ph = p + h0 * p_stride;
    float* oh = o + h0 * o_stride;
    for (int64_t j0 = 0; j0 < wide; j0 += 16 * kColumnVectors) {
      weighted_rows_tile<kColumnVectors>(rows, n, ph, p_stride, nh, oh, o_stride, j0);
    }
    for (int64_t j0 = wide; j0 < vectors; j0 += 16) weighted_rows_tile<1>(rows, n, ph, p_stride, nh, oh, o_stride, j0);
    for (int64_t k = 0; k < nh; ++k) {  // columns past the last whole vector
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = vectors; j < width; ++j) oh[k * o_stride + j] += ph[k * p_stride + i] * rows[i][j];
      }
    }
  }
}

}  // namespace r1
