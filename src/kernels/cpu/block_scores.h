// Attention scores against keys stored by columns, 16 positions per cache block (model/kv_cache.h:
// GQA's keys): for each dimension (F32) or pair of dimensions (BF16) one vector load of a block's keys
// meets each query head's value(s), broadcast, and the 16 positions' sums stay in their lanes -- no
// summing across lanes, which with row-stored keys cost as much as the multiply-adds at head_dim 128.
// Each score is one sequence of operations over the dimensions in order: F32, one fused multiply-add per
// dimension; BF16, per pair dimension 2d + 1's product, then 2d's (dot_bf16_pairs, vdpbf16ps's order).
// A score's bits depend only on its query and key, not on which block or head it was computed with.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/lanes.h"

namespace r1 {

// out[h][b] (lane j: position j of block b) += q_h · keys[b] over hd dimensions. The sums build up in a local
// array: `out` could alias the float operands as far as the compiler knows, and summed in place every
// accumulator was stored on each dimension (the decompressed MLA prefill's scores took 2.4x as long).
template <int NH, int NB>
void block_scores(const float* q, int64_t q_stride, const float* const keys[NB], int64_t hd, Lanes16 out[NH][NB]) {
  Lanes16 acc[NH][NB];
  for (int h = 0; h < NH; ++h) {
    for (int b = 0; b < NB; ++b) acc[h][b] = out[h][b];
  }
  for (int64_t d = 0; d < hd; ++d) {
    Lanes16 k[NB];
    for (int b = 0; b < NB; ++b) k[b] = load16(keys[b] + d * 16);
    for (int h = 0; h < NH; ++h) {
      const Lanes16 qd = broadcast16(q[h * q_stride + d]);
      for (int b = 0; b < NB; ++b) acc[h][b] = fmadd16(qd, k[b], acc[h][b]);
    }
  }
  for (int h = 0; h < NH; ++h) {
    for (int b = 0; b < NB; ++b) out[h][b] = acc[h][b];
  }
}

// BF16 queries and keys (hd even): keys[b] holds [hd / 2][16][2].
template <int NH, int NB>
void block_scores(const uint16_t* q, int64_t q_stride, const uint16_t* const keys[NB], int64_t hd, Lanes16 out[NH][NB]) {
  Lanes16 acc[NH][NB];
  for (int h = 0; h < NH; ++h) {
    for (int b = 0; b < NB; ++b) acc[h][b] = out[h][b];
  }
  for (int64_t d = 0; d < hd; d += 2) {
    Words16 k[NB];
    for (int b = 0; b < NB; ++b) std::memcpy(&k[b], keys[b] + d * 16, sizeof(Words16));
    for (int h = 0; h < NH; ++h) {
      uint32_t pair;
      std::memcpy(&pair, q + h * q_stride + d, sizeof pair);
      const Words16 qp = Words16{} + pair;
      for (int b = 0; b < NB; ++b) acc[h][b] = dot_bf16_pairs(acc[h][b], qp, k[b]);
    }
  }
  for (int h = 0; h < NH; ++h) {
    for (int b = 0; b < NB; ++b) out[h][b] = acc[h][b];
  }
}

// Heads per pass and blocks per step: 8 x 2 accumulators with AVX-512's 32 registers, 4 x 1 with 16.
#if defined(__AVX512F__)
constexpr int kScoreHeads = 8, kScoreBlocks = 2;
#else
constexpr int kScoreHeads = 4, kScoreBlocks = 1;
#endif

// scores[h · stride + s] = scale · q_h · key_s for heads h < NH and positions s < n; key_block(b) is
// block b's key segment.
template <int NH, class Row, class KeyBlock>
void block_scores_heads(const Row* q, int64_t q_stride, int64_t hd, const KeyBlock& key_block, int64_t n, float scale,
                        float* scores, int64_t stride) {
  const int64_t blocks = (n + 15) / 16;
  // Blocks [b, b + NB): their scores, written for the positions below n.
  const auto step = [&]<int NB>(int64_t b) {
    const Row* keys[NB];
    for (int k = 0; k < NB; ++k) keys[k] = key_block(b + k);
    Lanes16 acc[NH][NB] = {};
    block_scores<NH, NB>(q, q_stride, keys, hd, acc);
    for (int k = 0; k < NB; ++k) {
      const int64_t s0 = (b + k) * 16, count = std::min<int64_t>(16, n - s0);
      for (int h = 0; h < NH; ++h) {
        const Lanes16 v = acc[h][k] * scale;
        if (count == 16) store16(scores + h * stride + s0, v);
        else std::memcpy(scores + h * stride + s0, &v, size_t(count) * sizeof(float));
      }
    }
  };
  int64_t b = 0;
  for (; b + kScoreBlocks <= blocks; b += kScoreBlocks) step.template operator()<kScoreBlocks>(b);
  for (; b < blocks; ++b) step.template operator()<1>(b);
}

// The same for any number of heads, kScoreHeads at a time.
template <class Row, class KeyBlock>
void column_key_scores(const Row* q, int64_t q_stride, int64_t heads, int64_t hd, const KeyBlock& key_block, int64_t n,
                       float scale, float* scores, int64_t stride) {
  for (int64_t h0 = 0; h0 < heads; h0 += kScoreHeads) {
    const Row* qh = q + h0 * q_stride;
    float* sh = scores + h0 * stride;
    const auto run = [&]<int NH>() { block_scores_heads<NH>(qh, q_stride, hd, key_block, n, scale, sh, stride); };
    switch (std::min<int64_t>(kScoreHeads, heads - h0)) {
      case 1: run.template operator()<1>(); break;
      case 2: run.template operator()<2>(); break;
      case 3: run.template operator()<3>(); break;
#if defined(__AVX512F__)
      case 4: run.template operator()<4>(); break;
      case 5: run.template operator()<5>(); break;
      case 6: run.template operator()<6>(); break;
      case 7: run.template operator()<7>(); break;
#endif
      default: run.template operator()<kScoreHeads>(); break;
    }
  }
}

}  // namespace r1
