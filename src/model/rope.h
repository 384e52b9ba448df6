// Rotary position embeddings: frequencies (plain, YaRN, Llama 3) and the rotation itself, in the two
// layouts the supported models use:
//   interleaved (DeepSeek): pairs (x[2i], x[2i+1]) rotate by angle pos * inv_freq[i];
//   half-split (Qwen, Llama): pairs (x[i], x[i + dim/2]).
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace r1 {

struct RopeTable {
  int dim = 0;
  bool interleaved = false;
  std::vector<double> inv_freq;  // dim/2 frequencies, scaling already applied
  double cos_sin_scale = 1.0;    // YaRN: mscale(factor, mscale) / mscale(factor, mscale_all_dim)
};

RopeTable make_rope_table(const RopeConfig& rope);

// cos/sin of pos * inv_freq[i] (angles computed in double: positions reach 10^5 and beyond).
void rope_cos_sin(const RopeTable& table, int64_t pos, float* cos_out, float* sin_out);

// Rotates x[0..dim) in place with precomputed cos/sin (dim/2 each).
void apply_rope(const RopeTable& table, float* x, const float* cos, const float* sin);

}  // namespace r1
