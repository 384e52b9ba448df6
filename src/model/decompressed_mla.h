// MLA attention in the decompressed form, for prompt chunks (DeepSeek-V2 paper §2.1.2 read literally;
// ik_llama.cpp's `-mla 3` does the same during prefill).
//
// The absorbed form (forward.cpp, latent_attention.h) scores each query against the 512-wide latent rows
// and sums 512-wide latent rows per head: per token and cached row, n_h · (2·d_c + d_R) multiply-adds
// (1,088 per head for V2/V3). Decompressed, each head gets its own keys k_s = [W_UK,h c_s ; k_R,s] and values
// v_s = W_UV,h c_s once per chunk -- N · n_h · d_c · (d_h + d_v) multiply-adds for N rows -- and then attends
// over d_h + d_R = 192 and d_v = 128 dimensions: n_h · (d_h + d_R + d_v) per token and row. The absorbed form's
// W_UK product on the queries and W_UV product on the outputs (n_h · d_c · (d_h + d_v) per token) are not needed.
// For a fresh 512-token prompt on V2-Lite that is half the multiply-adds per layer (1.75 G against 3.36 G);
// for one token at depth it is far more, so decode stays absorbed (MlaPrefill::Auto compares the costs).
// Memory: the rows read back (d_c + d_R floats each) and per thread one head's keys twice (as computed and by
// columns), its values, a pointer and 8 scores a row -- for V2-Lite at a 4,096-token context 9.4 MB + 7.5 MB
// per thread; and the split layout's W_UK transposed (Q8_0 for quantized files: 30 MB for V2-Lite's 27 layers).
//
// Both forms compute the same attention, but with other roundings: a chunk attended this way does not
// agree bit for bit with the same tokens decoded one at a time, which is why Forward only does it when
// asked (MlaPrefill). The cache is the same either way: the rows are read back from it as attention
// reads them (BF16 and Q8 rounding included), so what is decoded afterwards sees the same cache.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace r1 {

class DecompressedMla {
 public:
  // Scratch for chunks attending to at most max_context rows, `threads` threads; the layers' W_UK and W_UV.
  DecompressedMla(const ModelConfig& c, const ModelWeights& weights, int64_t max_context, int threads);

  // The cost per layer of attending tokens [pos0, pos0 + n) decompressed and absorbed, in float
  // multiply-adds: the absorbed attention over a BF16 cache counts half (vdpbf16ps: two products a lane),
  // over a Q8 cache a quarter (vpdpbusd: four), the decompressed attention is float over any cache.
  static double decompressed_cost(const ModelConfig& c, int64_t n, int64_t pos0);
  static double absorbed_cost(const ModelConfig& c, int64_t n, int64_t pos0, KvType cache);

  // Token t < n (position pos0 + t, its row already in `cache`) attends to cache positions [0, pos0 + t].
  //   q:   head h's query of token t at q + t·q_stride + h·(d_h + d_R): [q_nope ; q_rope], RoPE applied
  //   out: head h's output at out + t·out_stride + h·d_v (the input of the output projection)
  void run(const float* q, int64_t q_stride, int64_t n, int64_t pos0, const KvCache& cache,
           int64_t layer, float scale, float* out, int64_t out_stride, ThreadPool& pool);

 private:
  struct Thread {
    std::vector<float> row;           // one cache row
    std::vector<float> keys_nope;     // [N][d_h]: one head's W_UK c_s
    std::vector<float> key_blocks;    // [⌈N / 16⌉][d_h + d_R][16]: one head's keys by columns (block_scores.h)
    std::vector<float> values;        // [N][d_v]: one head's W_UV c_s
    std::vector<const float*> value_rows;  // [N]
    std::vector<float> scores;        // [tokens of a tile][N]
  };
  // One of a layer's per-head matrices (W_UK or W_UV): head h's n rows are rows [h · head_rows + first, + n).
  struct HeadRows {
    WeightMatrix matrix;
    int64_t head_rows, first;
    WeightMatrix head(int64_t h, int64_t n) const { return row_slice(matrix, h * head_rows + first, n); }
  };
  // W_UK: the legacy kv_b itself, or the split layout's k_b_t transposed into key_bytes_.
  HeadRows key_weights(const MlaWeights& a);

  int64_t heads_, dc_, dr_, dn_, dv_, max_context_;
  std::vector<std::vector<uint8_t>> key_bytes_;  // per layer with split kv_b: W_UK transposed
  std::vector<HeadRows> keys_, values_;          // per layer: W_UK, W_UV
  std::vector<float> latent_, rope_;  // the cache rows read back: [N][d_c] and [N][d_R]
  std::vector<Thread> threads_;
  ThreadPool serial_{1};  // a head's products run inline on the thread that took the head
};

}  // namespace r1
