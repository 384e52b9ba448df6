// The forward pass: tokens in, logits out, appending each token's K/V (or MLA latent) to a KvCache.
//
// One code path serves prefill (T tokens at once) and decode (T = 1); every value is computed the same
// way in both, so a one-pass prefill and token-by-token decoding agree bit for bit (unless MLA prompt
// chunks are asked to attend in the decompressed form: MlaPrefill). The tokens of one
// call may come from several sequences (segments, each with its own cache): the weight matrices are
// streamed once for all of them -- the server's continuous batching -- while attention reads each
// segment's own cache. Each token's result does not depend on what else is in the batch. All scratch
// memory is allocated in the constructor for up to `max_tokens` per call: run() allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/ops.h"
#include "model/decompressed_mla.h"
#include "model/kv_cache.h"
#include "model/latent_attention.h"
#include "model/model.h"
#include "model/step_profile.h"

namespace r1 {

// Which logits a segment wants: none (a prompt chunk that is not the end), its last token's, or all.
enum class Logits { None, Last, All };

// How MLA attends for a prompt chunk (a segment of 2+ tokens); decode is always absorbed.
//   Absorbed:     the form decode uses, so a one-pass prefill and token-by-token decoding agree bit for bit.
//   Decompressed: per-head keys and values from the latent rows (model/decompressed_mla.h) -- fewer
//                 multiply-adds for long chunks, other roundings.
//   Auto:         per chunk, whichever form costs less (DecompressedMla::absorbed_cost): with F32 or BF16
//                 caches nearly every prompt chunk, with a Q8 cache (int8 products) only those with
//                 little context before them.
enum class MlaPrefill { Absorbed, Decompressed, Auto };

// A run of consecutive tokens of one sequence, appended to its cache at positions cache->length() ...
struct ForwardSegment {
  const int32_t* tokens = nullptr;
  int64_t n = 0;
  KvCache* cache = nullptr;
  Logits logits = Logits::Last;
};

class Forward {
 public:
  Forward(const Model& model, int64_t max_tokens, int64_t max_context, int threads,
          MlaPrefill mla_prefill = MlaPrefill::Absorbed);

  // Runs tokens[0..T) at positions cache.length() .. +T and advances the cache. Writes logits for every
  // token ([T, vocab]) when all_logits, else only for the last one ([vocab]).
  // Throws r1::Error if a token id is out of range or the cache is full.
  void run(const int32_t* tokens, int64_t T, KvCache& cache, float* logits, bool all_logits, ThreadPool& pool);
  // Runs several sequences' tokens in one pass (at most max_tokens in all; no cache twice). Logit rows go
  // to `logits` in segment order: n rows for Logits::All, one for Last, none for None.
  void run(std::span<const ForwardSegment> segments, float* logits, ThreadPool& pool);

  int64_t max_tokens() const { return max_tokens_; }
  // Times the stages of every run() from now on into `profile` (nullptr: stop). Not thread-safe against a
  // run() in progress.
  void set_profile(StepProfile* profile) { stages_.attach(profile); }

 private:
  void attention_mla(const LayerWeights& L, int64_t layer, int64_t T, ThreadPool& pool);
  // Whether segment g attends in the decompressed form (MlaPrefill).
  bool decompressed(const ForwardSegment& g) const;
  // fn(t0, n) for each run of consecutive tokens whose segments attend in the absorbed form.
  template <class Fn>
  void for_absorbed_runs(Fn&& fn) const;
  void per_head_matmul(const WeightMatrix& w, int64_t head_rows, HeadVectors<const float> x, int64_t x_width,
                       HeadVectors<float> y, int64_t y_width, int64_t T, ThreadPool& pool, int64_t skip = 0);
  void attention_gqa(const LayerWeights& L, int64_t layer, int64_t T, ThreadPool& pool);
  void mlp(const MlpWeights& m, const float* x, int64_t T, float* out, ThreadPool& pool);
  void moe(const MoeWeights& m, int64_t T, ThreadPool& pool);
  void moe_experts(const MoeWeights& m, int64_t T, ThreadPool& pool);

  const Model& model_;
  const ModelConfig& cfg_;
  int64_t max_tokens_, max_context_;

  // The current call's segments and, per token, its position and segment index.
  std::span<const ForwardSegment> segments_;
  std::vector<int64_t> token_pos_;
  std::vector<int32_t> token_segment_;

  // Activations, [max_tokens, width] each.
  std::vector<float> x_, xn_, attn_out_, ffn_out_;
  std::vector<float> q_, q_lora_, kv_a_, heads_;  // attention projections
  std::vector<float> q_absorbed_, latent_out_;    // MLA: W_UK^T q_nope and attention-weighted latents, [n_h, T, d_c]
  std::unique_ptr<LatentAttention> latent_attention_;  // MLA score and value passes
  MlaPrefill mla_prefill_;
  std::unique_ptr<DecompressedMla> decompressed_;  // MLA prompt chunks, unless MlaPrefill::Absorbed
  std::vector<float> kv_new_;                     // GQA: new k and v before they go to the cache
  std::vector<float> gate_, up_;                  // MLP hidden
  std::vector<float> rope_cos_, rope_sin_;        // [T, rope_dim / 2]
  // MoE
  std::vector<float> router_logits_, route_weights_, route_scratch_;
  std::vector<int32_t> route_experts_, expert_tokens_, expert_offsets_, expert_cursor_;
  std::vector<int32_t> expert_rows_;  // the token of each of expert_tokens_' slots: the experts' x_rows
  std::vector<float> expert_y_;
  std::vector<MatmulJob> expert_jobs_, expert_down_jobs_;  // moe_experts' products, capacity reserved once
  size_t batched_hidden_ = 0;           // moe_experts' gate/up rows, in floats
  // Per-thread attention scratch: GQA scores over the context; a W_UK / W_UV row for MLA.
  std::vector<std::vector<float>> thread_scores_;
  std::vector<std::vector<float>> thread_rows_;
  std::vector<std::vector<uint16_t>> thread_queries_;  // GQA over a BF16 cache: a work item's queries in BF16
  std::vector<std::vector<float>> thread_head_in_, thread_head_out_;  // MLA: one head's W_UK / W_UV operands
  StageClock stages_;     // set_profile's timer
  ThreadPool serial_{1};  // runs inline on the calling thread: per-head products inside a parallel_for
};

}  // namespace r1
