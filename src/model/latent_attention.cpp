#include "model/latent_attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/dot4.h"
#include "kernels/cpu/exp16.h"
#include "kernels/cpu/weighted_rows.h"

namespace r1 {

namespace {

constexpr int64_t kRowBlock = 16;     // rows scored together before the value update
constexpr int64_t kScoreRows = std::max(kRowBlock, kQ8StepRows);  // scores per head in the scratch
constexpr int64_t kMinChunk = 256;  // keys per chunk, at least
constexpr int64_t kChunks = 8;      // chunks per query, at most
constexpr int64_t kQ8NextBlocks = 4;  // blocks after a Q8 step offered to the score kernel to prefetch
// Heads per score tile: 4 heads x 4 rows are 16 vector accumulators, as in the value pass.
constexpr int kHeadTile = kWeightedHeadTile;

// Rows per chunk of a context of n rows: at most kChunks chunks, at least kMinChunk rows each, whole steps
// of the Q8 value pass (whole cache blocks). A function of n alone, so that a token's chunks, and hence
// its result, do not depend on the thread count or on prefill vs decode. (Fixed chunks of 256 rows, 64
// at 16k, cost a 16k decode step ~15 % more: each chunk's state is 32 KB written, read and merged. With
// the merging overlapped, a 16k layer on two threads took 0.69-0.71 ms with at most 32 chunks, 0.65-0.67
// with 16, 0.61-0.63 with 8 and 0.60-0.62 with 4; 8 leave the claiming room to balance unequal vCPUs.)
int64_t chunk_rows(int64_t n) {
  const int64_t rows = std::max(kMinChunk, (n + kChunks - 1) / kChunks);
  return (rows + kQ8StepRows - 1) / kQ8StepRows * kQ8StepRows;
}

// scores[h][i] = scale * (q_latent_h · c_kv_i + q_rope_h · k_R_i) for the heads [h0, h0 + nh) and the
// block's rows. Heads and rows past the end are padded by repeating the last one (their results are
// dropped), so every tile has the same shape.
template <class Row>
void score_tile(const Row* q_latent, int64_t latent_stride, const Row* q_rope, int64_t rope_stride,
                const Row* const rows[4], int64_t h0, int64_t nh, int64_t i0, int64_t nb, int64_t dc, int64_t dr, float scale,
                float* scores) {
  const Row *ql[kHeadTile], *qr[kHeadTile];
  for (int k = 0; k < kHeadTile; ++k) {
    const int64_t h = h0 + std::min<int64_t>(k, nh - 1);
    ql[k] = q_latent + h * latent_stride;
    qr[k] = q_rope + h * rope_stride;
  }
  DotTile<kHeadTile, 4> d;
  d.add(ql, rows, 0, dc);
  d.add(qr, rows, dc, dr);
  float s[kHeadTile][4];
  d.result(s);
  for (int64_t k = 0; k < nh; ++k) {
    for (int64_t r = 0; r < 4 && i0 + r < nb; ++r) scores[(h0 + k) * kRowBlock + i0 + r] = scale * s[k][r];
  }
}

}  // namespace

// A state is [max: heads][sum: heads][output: heads x latent_dim].
LatentAttention::LatentAttention(int64_t heads, int64_t latent_dim, int64_t rope_dim, int threads)
    : heads_(heads), dc_(latent_dim), dr_(rope_dim),
      state_size_(size_t(heads * (latent_dim + 2))), q8_shape_{heads, latent_dim, rope_dim},
      q8_kernels_(latent_q8_kernels(quant::best_isa())) {
  chunk_states_.resize(size_t(kChunks) * state_size_);
  chunk_done_ = std::vector<std::atomic<bool>>(size_t(kChunks));
  // Per thread: scores [heads][kScoreRows], then two states.
  thread_scratch_.assign(size_t(std::max(1, threads)), AlignedVector<float>(size_t(heads * kScoreRows) + 2 * state_size_));
  thread_queries_.assign(size_t(std::max(1, threads)), std::vector<uint16_t>(size_t(heads * (latent_dim + rope_dim))));
  thread_q8_.resize(size_t(std::max(1, threads)));
  for (Q8Scratch& t : thread_q8_) {
    t.q.resize(size_t(heads * 4 * q8_shape_.groups()));
    t.scales.resize(size_t(2 * heads));
    t.sums.resize(size_t(2 * heads));
    t.weights.resize(size_t(heads * kQ8StepRows));
    t.latent_scales.resize(size_t(kQ8StepRows));
    t.steps.resize(size_t(heads));
    t.transposed.resize(size_t(q8_kernels_.scratch_bytes(q8_shape_)));
    t.query = {t.q.data(), t.scales.data(), t.scales.data() + heads, t.sums.data(), t.sums.data() + heads};
  }
}

void LatentAttention::use_q8_kernels(quant::Isa isa) {
  q8_kernels_ = latent_q8_kernels(isa);
  for (Q8Scratch& t : thread_q8_) t.transposed.resize(size_t(q8_kernels_.scratch_bytes(q8_shape_)));
}

const QueryQ8& LatentAttention::q8_queries(HeadVectors<const float> q_latent, HeadVectors<const float> q_rope, int64_t t,
                                           int tid) {
  const QueryQ8& q = thread_q8_[size_t(tid)].query;
  quantize_query_q8(q8_shape_, q_latent.at(t, 0), q_latent.head_stride, q_rope.at(t, 0), q_rope.head_stride, q);
  return q;
}

const uint16_t* LatentAttention::bf16_queries(HeadVectors<const float> q_latent, HeadVectors<const float> q_rope, int64_t t,
                                              int tid) {
  uint16_t* q = thread_queries_[size_t(tid)].data();
  uint16_t* qr = q + heads_ * dc_;
  for (int64_t h = 0; h < heads_; ++h) {
    const float* ql = q_latent.at(t, h);
    for (int64_t i = 0; i < dc_; ++i) q[h * dc_ + i] = f32_to_bf16(ql[i]);
    const float* r = q_rope.at(t, h);
    for (int64_t i = 0; i < dr_; ++i) qr[h * dr_ + i] = f32_to_bf16(r[i]);
  }
  return q;
}

template <class Row>
void LatentAttention::attend_chunk(const Row* q_latent, int64_t latent_stride, const Row* q_rope, int64_t rope_stride,
                                   int64_t s0, int64_t s1, const KvCache& cache, int64_t layer, float scale, float* state,
                                   float* scores) const {
  const int64_t H = heads_, dc = dc_, dr = dr_;
  float* o = state + 2 * H;
  reset(state);
  const Row* rows[kRowBlock];
  for (int64_t b0 = s0; b0 < s1; b0 += kRowBlock) {
    const int64_t nb = std::min(kRowBlock, s1 - b0);
    for (int64_t i = 0; i < kRowBlock; ++i) rows[i] = cache.row<Row>(layer, b0 + std::min(i, nb - 1));  // pad by repeating
    // Scores of this block of rows for every head; the block (16 rows, 36 KB for V2/V3) is read from
    // memory once and stays in L1 for all heads.
    for (int64_t h0 = 0; h0 < H; h0 += kHeadTile) {
      for (int64_t i0 = 0; i0 < nb; i0 += 4) {
        score_tile(q_latent, latent_stride, q_rope, rope_stride, rows + i0, h0, std::min<int64_t>(kHeadTile, H - h0), i0, nb,
                   dc, dr, scale, scores);
      }
    }
    // The next block's rows towards L2 while this block's softmax and value pass compute: a block is
    // 16 rows of one layer (18 KB in BF16) between other layers' rows, a run too short for the hardware
    // prefetchers to follow from memory. (Measured: issued here rather than at the block's start, and
    // one block ahead rather than two, for L2 rather than L1.)
    if (b0 + 2 * kRowBlock <= s1) {
      const char* next = reinterpret_cast<const char*>(cache.row<Row>(layer, b0 + kRowBlock));
      const int64_t bytes = kRowBlock * (dc + dr) * int64_t(sizeof(Row));
      for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(next + off, 0, 1);
    }
    softmax_block(scores, nb, kRowBlock, state, std::is_same_v<Row, uint16_t>);
    // The weighted sum of the latent rows, each row loaded once per tile of heads.
    add_weighted_rows(rows, nb, scores, kRowBlock, H, o, dc, dc);
  }
}

void LatentAttention::softmax_block(float* scores, int64_t nb, int64_t ld, float* state, bool bf16_weights) const {
  const int64_t H = heads_, dc = dc_;
  float* m = state;
  float* l = state + H;
  float* o = state + 2 * H;
  for (int64_t h = 0; h < H; ++h) {
    float* sc = scores + h * ld;
    // Lanes past nb hold stale scores: computed, never used. The lanes' maxima first, then one reduction
    // across them (one per vector was a chain of dependent shuffles, ~5 % of a Q8 step at 16k).
    Lanes16 lane_max = broadcast16(-INFINITY);
    for (int64_t v = 0; v < nb; v += 16) {
      const Lanes16 x = first_lanes(load16(sc + v), nb - v, -INFINITY);
      lane_max = x > lane_max ? x : lane_max;
    }
    const float block_max = max_lanes(lane_max);
    if (block_max > m[h]) {
      if (m[h] != -INFINITY) {  // else nothing is summed yet: l and o are 0
        const float correction = std::exp(m[h] - block_max);
        l[h] *= correction;
        float* oh = o + h * dc;
        for (int64_t j = 0; j < dc; ++j) oh[j] *= correction;
      }
      m[h] = block_max;
    }
    Lanes16 sum = {};  // lane by lane over the block, then across the lanes once
    for (int64_t v = 0; v < nb; v += 16) {
      store16(sc + v, exp16(load16(sc + v) - m[h]));
      if (bf16_weights) round_weights_to_bf16(sc + v, 16);  // as the value pass uses them
      sum += first_lanes(load16(sc + v), nb - v, 0.0f);
    }
    l[h] += sum_lanes(sum);
  }
}

// As attend_chunk, over a Q8 cache: steps of kQ8StepRows rows (the chunk starts at one), int8 passes.
void LatentAttention::attend_chunk_q8(const QueryQ8& q, int64_t s0, int64_t s1, int64_t after0, int64_t after1,
                                      const KvCache& cache, int64_t layer, float scale, float* state, float* scores, int tid) {
  const int64_t H = heads_, dc = dc_;
  reset(state);
  Q8Scratch& t = thread_q8_[size_t(tid)];
  for (int64_t b0 = s0; b0 < s1; b0 += kQ8StepRows) {
    const int64_t nb = std::min(kQ8StepRows, s1 - b0), count = (nb + kKvBlockTokens - 1) / kKvBlockTokens;
    LatentBlockQ8 blocks[kQ8StepBlocks], next[kQ8StepBlocks];
    for (int64_t k = 0; k < count; ++k) blocks[k] = cache.latent_q8_block(layer, b0 / kKvBlockTokens + k);
    // The blocks the thread reads after this step, for the kernels to prefetch: the score pass the first
    // kQ8NextBlocks into L1, the value pass the next step's into L2. After the chunk's last step, the
    // rows [after0, after1) the thread is expected to go on with.
    const bool last = b0 + nb >= s1;
    const int64_t next_block = last ? after0 / kKvBlockTokens : b0 / kKvBlockTokens + count, next_end = last ? after1 : s1;
    const int64_t next_count = std::clamp<int64_t>((next_end - next_block * kKvBlockTokens + kKvBlockTokens - 1) / kKvBlockTokens, 0, kQ8StepBlocks);
    for (int64_t k = 0; k < next_count; ++k) next[k] = cache.latent_q8_block(layer, next_block + k);
    q8_kernels_.step_scores(q8_shape_, q, blocks, count, next, std::min(next_count, kQ8NextBlocks), scale, scores, kScoreRows);
    softmax_block(scores, nb, kScoreRows, state, false);
    // The rows' latent scales, read after the score pass has brought their blocks in (before it, each
    // block's first read was this copy, waiting on memory).
    for (int64_t k = 0; k < count; ++k) {
      std::memcpy(t.latent_scales.data() + k * kKvBlockTokens, blocks[k].latent_scale, kKvBlockTokens * sizeof(float));
    }
    for (int64_t h = 0; h < H; ++h) {
      quantize_weights_q8(scores + h * kScoreRows, t.latent_scales.data(), nb, t.weights.data() + h * kQ8StepRows, t.steps.data() + h);
    }
    q8_kernels_.step_values(q8_shape_, blocks, count, t.weights.data(), t.steps.data(), state + 2 * H, dc, t.transposed.data(), next, next_count);
  }
}

void LatentAttention::reset(float* state) const {
  std::fill(state, state + heads_, -INFINITY);
  std::fill(state + heads_, state + state_size_, 0.0f);
}

void LatentAttention::merge(float* acc, const float* chunk) const {
  const int64_t H = heads_, dc = dc_;
  for (int64_t h = 0; h < H; ++h) {
    const float m = std::max(acc[h], chunk[h]);
    const float a = std::exp(acc[h] - m), b = std::exp(chunk[h] - m);  // acc[h] = -inf at first: a = 0
    acc[H + h] = acc[H + h] * a + chunk[H + h] * b;
    float* ao = acc + 2 * H + h * dc;
    const float* co = chunk + 2 * H + h * dc;
    for (int64_t j = 0; j < dc; ++j) ao[j] = ao[j] * a + co[j] * b;
    acc[h] = m;
  }
}

void LatentAttention::finish(const float* acc, HeadVectors<float> out, int64_t t) const {
  const int64_t H = heads_, dc = dc_;
  for (int64_t h = 0; h < H; ++h) {
    const float inv = 1.0f / acc[H + h];
    const float* ao = acc + 2 * H + h * dc;
    float* o = out.at(t, h);
    for (int64_t j = 0; j < dc; ++j) o[j] = ao[j] * inv;
  }
}

void LatentAttention::run(HeadVectors<const float> q_latent, HeadVectors<const float> q_rope, int64_t T, int64_t pos0,
                          const KvCache& cache, int64_t layer, float scale, HeadVectors<float> out, ThreadPool& pool) {
  const int64_t H = heads_, dc = dc_;
  const bool bf16 = cache.type() == KvType::BF16, q8 = cache.type() == KvType::Q8;
  // Token t's chunk [s0, s1): its queries as the cache type wants them (BF16 and Q8 are converted once per
  // token, into the thread's scratch).
  const auto attend = [&](int64_t t, const uint16_t* q16, const QueryQ8* qq, int64_t s0, int64_t s1, int64_t after0,
                          int64_t after1, float* state, float* scores, int tid) {
    if (q8) attend_chunk_q8(*qq, s0, s1, after0, after1, cache, layer, scale, state, scores, tid);
    else if (bf16) attend_chunk(q16, dc, q16 + H * dc, dr_, s0, s1, cache, layer, scale, state, scores);
    else attend_chunk(q_latent.at(t, 0), q_latent.head_stride, q_rope.at(t, 0), q_rope.head_stride, s0, s1, cache, layer,
                      scale, state, scores);
  };
  if (T == 1 && pool.size() > 1) {
    // Decode: the chunks of the one query are the parallel work, claimed one at a time (the threads may
    // run at different speeds). They are merged in order as soon as they and all before them are done,
    // by whichever thread finishes one while no other is merging: the merging overlaps the other
    // threads' chunks (after the loop, split over the heads, it took 40 of a 16k layer's 670 us). Every
    // merge is the same operations in the same order, whichever thread does it.
    const int64_t n = pos0 + 1, chunk = chunk_rows(n), chunks = (n + chunk - 1) / chunk;
    const uint16_t* q16 = bf16 ? bf16_queries(q_latent, q_rope, 0, 0) : nullptr;
    const QueryQ8* qq = q8 ? &q8_queries(q_latent, q_rope, 0, 0) : nullptr;
    float* acc = thread_scratch_[0].data() + H * kScoreRows + state_size_;
    reset(acc);
    for (int64_t c = 0; c < chunks; ++c) chunk_done_[size_t(c)].store(false, std::memory_order_relaxed);
    int64_t merged = 0;  // chunks [0, merged) are in acc; acc and merged belong to whoever holds `merging`
    std::atomic<bool> merging{false};
    const auto merge_done_chunks = [&] {
      if (merging.exchange(true, std::memory_order_acquire)) return;  // another thread is at it
      for (; merged < chunks && chunk_done_[size_t(merged)].load(std::memory_order_acquire); ++merged) {
        merge(acc, chunk_states_.data() + size_t(merged) * state_size_);
      }
      merging.store(false, std::memory_order_release);
    };
    pool.parallel_claim(size_t(chunks), [&](size_t c0, size_t c1, int tid) {
      float* scores = thread_scratch_[size_t(tid)].data();
      for (size_t c = c0; c < c1; ++c) {
        const int64_t s0 = int64_t(c) * chunk, s1 = std::min(n, s0 + chunk);
        // The chunk this thread is likely to claim next, for its last step to prefetch: with the threads
        // taking turns, pool.size() chunks on. (The next chunk, prefetched before, is mostly another
        // thread's: a 16k Q8 layer on two threads took 2-4 % longer.)
        const int64_t after0 = std::min(n, s0 + pool.size() * chunk), after1 = std::min(n, after0 + chunk);
        attend(0, q16, qq, s0, s1, after0, after1, chunk_states_.data() + c * state_size_, scores, tid);
        chunk_done_[c].store(true, std::memory_order_release);
        merge_done_chunks();
      }
    });
    merge_done_chunks();  // chunks finished while another thread was merging
    finish(acc, out, 0);
    return;
  }
  // Prefill: tokens are the parallel work (in folded order: a token's work grows with its position);
  // each token's chunks are attended and merged in order.
  pool.parallel_for(size_t(T), [&](size_t i0, size_t i1, int tid) {
    float* scores = thread_scratch_[size_t(tid)].data();
    float* state = scores + H * kScoreRows;
    float* acc = state + state_size_;
    for (size_t i = i0; i < i1; ++i) {
      const int64_t t = int64_t(folded_index(i, size_t(T))), n = pos0 + t + 1, chunk = chunk_rows(n);
      const uint16_t* q16 = bf16 ? bf16_queries(q_latent, q_rope, t, tid) : nullptr;
      const QueryQ8* qq = q8 ? &q8_queries(q_latent, q_rope, t, tid) : nullptr;
      reset(acc);
      for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t s1 = std::min(n, s0 + chunk);
        attend(t, q16, qq, s0, s1, s1, n, state, scores, tid);
        merge(acc, state);
      }
      finish(acc, out, t);
    }
  });
}

}  // namespace r1
