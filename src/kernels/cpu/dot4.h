// Four dot products against one query vector, the inner loop of attention scores: the query is loaded
// once per 16 dimensions for four key rows. Each result is summed in one fixed order (16 lanes over the
// dimensions, the lanes pairwise, then the scalar tail), so a score's bits depend only on its inputs —
// prefill and decode, any batch, any thread count agree.
#pragma once

#include <cstdint>
#include <cstring>

namespace r1 {

// 16 floats as one vector (GCC/Clang vector extension: one AVX-512 register, two AVX2 ones, ...).
typedef float Lanes16 __attribute__((vector_size(16 * sizeof(float))));

// The running sums of four dot products: lane-wise partial sums and a scalar tail per row.
struct Dot4 {
  Lanes16 acc[4] = {};
  float tail[4] = {};

  // Adds Σ_j q[j]·rows[k][off + j] over j < n to row k's sum.
  void add(const float* q, const float* const rows[4], int64_t off, int64_t n) {
    constexpr int64_t kLanes = 16;
    int64_t j = 0;
    for (; j + kLanes <= n; j += kLanes) {
      Lanes16 qv;
      std::memcpy(&qv, q + j, sizeof qv);
      for (int k = 0; k < 4; ++k) {
        Lanes16 rv;
        std::memcpy(&rv, rows[k] + off + j, sizeof rv);
        acc[k] += qv * rv;
      }
    }
    for (; j < n; ++j) {
      for (int k = 0; k < 4; ++k) tail[k] += q[j] * rows[k][off + j];
    }
  }

  void result(float out[4]) const {
    for (int k = 0; k < 4; ++k) {
      float lanes[16];
      std::memcpy(lanes, &acc[k], sizeof lanes);
      for (int w = 8; w > 0; w /= 2) {
        for (int l = 0; l < w; ++l) lanes[l] += lanes[l + w];
      }
      out[k] = lanes[0] + tail[k];
    }
  }
};

}  // namespace r1
