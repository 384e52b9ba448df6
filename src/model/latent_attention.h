// MLA attention over the latent cache (the score and value passes of the absorbed form).
//
// Every head attends over the same cache rows [c_kv ; k_R] (576 floats for V2/V3), so the rows are
// walked once for all heads together: a row loaded into L1 serves n_h score dots and n_h value
// updates, instead of being streamed from memory n_h times. Softmax is computed online
// (flash-decoding): keys are cut into chunks (at most 8, their size set by the context length alone),
// each chunk yields a running max, sum and unnormalised output per head, and chunks are merged in
// order. Chunks are the unit of parallelism when one token is decoded; for prefill, tokens are. Either
// way each token's result is the same sequence of float operations -- independent of the thread count,
// of which thread took which chunk and of how many tokens are run together -- so prefill and decode
// agree bit for bit.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "core/aligned_vector.h"
#include "core/thread_pool.h"
#include "model/head_vectors.h"
#include "model/kv_cache.h"
#include "kernels/cpu/latent_q8.h"

namespace r1 {

class LatentAttention {
 public:
  LatentAttention(int64_t heads, int64_t latent_dim, int64_t rope_dim, int threads);

  // Query token t (position pos0 + t) attends to cache positions [0, pos0 + t] of `layer`.
  //   q_latent: latent_dim values per token and head (W_UK folded in);  q_rope: rope_dim values
  //   out:      latent_dim values per token and head, softmax(scale * scores) applied to the latent rows.
  // The cache may be F32, BF16 or Q8 (model/kv_cache.h; Q8: kernels/cpu/latent_q8.h).
  void run(HeadVectors<const float> q_latent, HeadVectors<const float> q_rope, int64_t T, int64_t pos0,
           const KvCache& cache, int64_t layer, float scale, HeadVectors<float> out, ThreadPool& pool);
  // Tests and benchmarks: the Q8 kernels of `isa` (the results are the same bits on every one).
  void use_q8_kernels(quant::Isa isa);

 private:
  // Over a BF16 cache the queries are rounded to BF16 too (Row = uint16_t; dot4.h multiplies the pairs).
  // One token's queries: head h's at q_latent + h·latent_stride and q_rope + h·rope_stride.
  template <class Row>
  void attend_chunk(const Row* q_latent, int64_t latent_stride, const Row* q_rope, int64_t rope_stride, int64_t s0,
                    int64_t s1, const KvCache& cache, int64_t layer, float scale, float* state, float* scores) const;
  // Rows [s0, s1); the thread is expected to go on with rows [after0, after1), which may be prefetched.
  void attend_chunk_q8(const QueryQ8& q, int64_t s0, int64_t s1, int64_t after0, int64_t after1, const KvCache& cache,
                       int64_t layer, float scale, float* state, float* scores, int tid);
  // The online softmax of nb rows: per head, their maximum rescales what the state holds, and scores[h · ld
  // + i] become the weights exp(score - max) (rounded to BF16 for a BF16 cache), summed into it.
  void softmax_block(float* scores, int64_t nb, int64_t ld, float* state, bool bf16_weights) const;
  // One token's queries in BF16, [heads][latent_dim] then [heads][rope_dim], for thread `tid`.
  const uint16_t* bf16_queries(HeadVectors<const float> q_latent, HeadVectors<const float> q_rope, int64_t t, int tid);
  // One token's queries quantized for a Q8 cache, for thread `tid`.
  const QueryQ8& q8_queries(HeadVectors<const float> q_latent, HeadVectors<const float> q_rope, int64_t t, int tid);
  void reset(float* state) const;  // no keys yet: max -inf, sum and output 0
  void merge(float* acc, const float* chunk) const;
  void finish(const float* acc, HeadVectors<float> out, int64_t t) const;  // token t's outputs

  int64_t heads_, dc_, dr_;
  size_t state_size_;  // floats per state: heads * (latent_dim + 2)
  AlignedVector<float> chunk_states_;                 // decode: one state per chunk
  std::vector<std::atomic<bool>> chunk_done_;         // decode: whether each chunk's state is complete
  std::vector<AlignedVector<float>> thread_scratch_;  // per thread: scores, one chunk state, one accumulator
  std::vector<std::vector<uint16_t>> thread_queries_;  // per thread: one token's BF16 queries
  // Per thread, for a Q8 cache: one token's quantized queries, one block's weights and transposed rows.
  struct Q8Scratch {
    std::vector<int8_t> q;
    std::vector<float> scales;    // latent, then rope: [2][heads]
    std::vector<int32_t> sums;    // latent, then rope: [2][heads]
    std::vector<uint8_t> weights;  // [heads][kQ8StepRows]
    std::vector<float> latent_scales;  // [kQ8StepRows]: the step's rows
    std::vector<float> steps;      // [heads]
    AlignedVector<uint8_t> transposed;  // the kernels' scratch
    QueryQ8 query;
  };
  LatentQ8Shape q8_shape_;
  LatentQ8Kernels q8_kernels_;  // the CPU's (best_isa)
  std::vector<Q8Scratch> thread_q8_;

};

}  // namespace r1
