// Session: one sequence's state (KV cache and scratch) over a shared, immutable Model.
//
//   Model (weights, read-only)  ->  Session (cache, position)  ->  generate() / CLI / server
//
// A session never reallocates after construction: the cache is sized for `context` tokens and prefill
// runs in chunks of at most `batch` tokens through preallocated scratch.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace r1 {

struct SessionOptions {
  int64_t context = 4096;  // capped at the model's max_position_embeddings
  int64_t batch = 256;     // tokens per prefill chunk
  KvType cache_type = KvType::F32;  // how cache rows are stored (model/kv_cache.h)
  MlaPrefill mla_prefill = MlaPrefill::Absorbed;  // how MLA prompt chunks attend (model/forward.h)
};

class Session {
 public:
  Session(const Model& model, ThreadPool& pool, const SessionOptions& options = {});

  const Model& model() const { return model_; }
  int64_t context() const { return cache_.capacity(); }
  int64_t position() const { return cache_.length(); }
  size_t cache_bytes() const { return cache_.bytes(); }
  void reset() { cache_.set_length(0); }
  // Forgets every position from `length` on, keeping the prefix (e.g. a chat history re-sent with one
  // more turn only prefills the new part).
  void truncate(int64_t length) { cache_.set_length(std::min(length, position())); }
  // Benchmarks only: makes the first n positions of the context look filled (deterministic small
  // values in every cache row) without running the model, so decode speed at a context depth of 16k
  // can be measured without a 16k-token prefill. Attention's cost does not depend on the values.
  void fill_context_for_benchmark(int64_t n);

  // Times the forward passes' stages into `profile` from now on (nullptr: stop); see model/step_profile.h.
  void set_profile(StepProfile* profile) { forward_.set_profile(profile); }

  // Appends tokens; returns the logits after the last one ([vocab], valid until the next call).
  // Throws r1::Error if the tokens do not fit in the context or an id is out of range.
  const float* feed(std::span<const int32_t> tokens);
  // Appends tokens and writes the logits of every one of them to `out` ([n, vocab]).
  void feed_all_logits(std::span<const int32_t> tokens, std::vector<float>& out);

 private:
  // Runs tokens through the model in chunks of at most `batch`; writes every token's logits to `out`
  // ([n, vocab]) when all_logits, else only the last token's ([vocab]). Checks they are finite.
  void run_chunks(std::span<const int32_t> tokens, float* out, bool all_logits);

  const Model& model_;
  ThreadPool& pool_;
  KvCache cache_;
  Forward forward_;
  std::vector<float> logits_;
};

}  // namespace r1
