// Dot products of a few query vectors against a few key rows, the inner loop of attention scores: a
// tile of Q queries x R rows loads each query and each row once per 16 dimensions and does Q*R
// multiply-adds with them. Each result is summed in one fixed order (16 lanes over the dimensions, the
// lanes pairwise, then the scalar tail), whatever the tile shape, so a score's bits depend only on its
// inputs -- prefill and decode, any batch, any thread count, any tiling agree.
#pragma once

#include <cstdint>
#include <cstring>

namespace r1 {

// 16 floats as one vector (GCC/Clang vector extension: one AVX-512 register, two AVX2 ones, ...).
typedef float Lanes16 __attribute__((vector_size(16 * sizeof(float))));

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
      for (int a = 0; a < Q; ++a) std::memcpy(&qv[a], q[a] + j, sizeof(Lanes16));
      for (int b = 0; b < R; ++b) std::memcpy(&rv[b], rows[b] + off + j, sizeof(Lanes16));
      for (int a = 0; a < Q; ++a) {
        for (int b = 0; b < R; ++b) acc[a][b] += qv[a] * rv[b];
      }
    }
    for (; j < n; ++j) {
      for (int a = 0; a < Q; ++a) {
        for (int b = 0; b < R; ++b) tail[a][b] += q[a][j] * rows[b][off + j];
      }
    }
  }

  void result(float out[Q][R]) const {
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
