// What every Q8 attention kernel (latent_q8.h) shares: reading a block's bytes, and the one float recipe
// that turns a head's exact integer sums into its scores. Internal linkage: each instruction set's
// translation unit compiles its own copy (the same operations, so the same bits).
#pragma once

#include <algorithm>
#include <cstddef>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/latent_q8.h"

namespace r1 {
namespace {

static_assert(kQ8BlockRows == 16, "one lane per row of a block");

// Byte k of row i's dims [4g, 4g + 4) in a block's values.
inline int8_t cached(const LatentBlockQ8& b, int64_t g, int64_t i, int k) { return b.q[q8_byte(g, i, k)]; }

// Head h's scores of the block's 16 rows from its two exact sums per row.
inline void finish_scores(const QueryQ8& q, const LatentBlockQ8& b, int64_t h, float scale, Ints16 latent, Ints16 rope,
                          float* out) {
  const Lanes16 a = load16(b.latent_scale) * q.latent_scale[h];
  const Lanes16 r = load16(b.rope_scale) * q.rope_scale[h];
  const Lanes16 x = fmadd16(r, __builtin_convertvector(rope, Lanes16), a * __builtin_convertvector(latent, Lanes16));
  store16(out, x * scale);
}

// scratch_bytes of the kernels that need none.
inline int64_t no_scratch(const LatentQ8Shape&) { return 0; }

// The value pass's weights of heads [h0, h0 + N) (pw: [heads][kQ8StepRows]), the last head repeated past
// the end so that every tile has the same shape (the repeats' sums are dropped).
template <size_t N>
inline void tile_weights(const uint8_t* pw, int64_t h0, int64_t heads, const uint8_t* (&ph)[N]) {
  for (size_t e = 0; e < N; ++e) ph[e] = pw + std::min(h0 + int64_t(e), heads - 1) * kQ8StepRows;
}

}  // namespace
}  // namespace r1
