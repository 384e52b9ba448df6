// Continuous batching: many sequences share one model. A worker thread runs steps; each step is one
// forward pass (model/forward.h) over every running sequence's next token plus a chunk of a waiting
// prompt, so the weights are streamed once per step for all of them. Sequences join and leave between
// steps; a long prompt is prefilled in chunks so it never stalls the streams already running.
//
//   submit() -> queue (bounded) -> slot (paged KV blocks, prefix cache) -> steps -> SequenceStream events
//
// A sequence's tokens are the same whether it runs alone or in a batch: every token's computation is
// independent of its batch companions, and each sequence samples with its own seeded generator.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_pool.h"
#include "model/forward.h"
#include "model/model.h"
#include "runtime/kv_blocks.h"
#include "runtime/sampler.h"

namespace r1 {

// Restricts which tokens may come next (structured output, a reasoning budget). mask() sets the logits
// of forbidden tokens to -inf; accept() is told every generated token.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  virtual void mask(float* logits, std::span<const int32_t> end_tokens) = 0;
  virtual void accept(int32_t token) = 0;
  // True when what the constraint describes has been fully written (e.g. a whole JSON document).
  virtual bool complete() const { return false; }
};

struct SequenceRequest {
  std::vector<int32_t> prompt;
  int64_t max_tokens = 256;
  SamplingParams sampling;
  std::vector<int32_t> stop_tokens;  // end the sequence (not emitted)
  int top_logprobs = -1;             // -1: no log-probabilities; else also the n most likely tokens
  std::unique_ptr<TokenConstraint> constraint;
};

struct TokenEvent {
  int32_t token = 0;
  float logprob = 0;                                // log p(token), before temperature and penalties
  std::vector<std::pair<int32_t, float>> top;       // when top_logprobs > 0
  std::chrono::steady_clock::time_point time;
};

enum class FinishReason { None, Stop, Length, ContextFull, Cancelled, Error };
std::string_view finish_reason_name(FinishReason r);  // OpenAI's names: "stop", "length", ...

// One sequence's output, shared by the scheduler (producer) and its client (consumer).
class SequenceStream {
 public:
  // Waits up to `wait` for the next token. Returns true with a token; false when there is none yet
  // or the sequence has finished (finished() tells which).
  bool next(TokenEvent& out, std::chrono::milliseconds wait);
  bool finished() const;
  // Asks the scheduler to stop the sequence and free its slot (a client went away, a stop string).
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

  // Valid once finished() (and no tokens are left).
  FinishReason reason() const;
  std::string error() const;
  int64_t prompt_tokens() const { return prompt_tokens_; }
  int64_t cached_tokens() const;  // prompt tokens served from the prefix cache
  std::chrono::steady_clock::time_point submitted() const { return submitted_; }

 private:
  friend class Scheduler;
  void push(TokenEvent e);
  void finish(FinishReason r, std::string error = {});

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TokenEvent> events_;
  FinishReason reason_ = FinishReason::None;
  std::string error_;
  int64_t cached_tokens_ = 0;
  int64_t prompt_tokens_ = 0;
  std::atomic<bool> cancelled_{false};
  std::chrono::steady_clock::time_point submitted_ = std::chrono::steady_clock::now();
};

struct SchedulerOptions {
  int parallel = 4;            // sequences running at once
  int64_t context = 4096;      // per sequence (capped at the model's max_position_embeddings)
  int64_t batch_tokens = 256;  // tokens per step: decode tokens first, then prompt chunks
  int64_t queue = 64;          // requests waiting for a slot; more are refused
  int64_t kv_blocks = 0;       // 0: enough for every slot at full context
  KvType cache_type = KvType::F32;  // how cache rows are stored (model/kv_cache.h)
  MlaPrefill mla_prefill = MlaPrefill::Absorbed;  // how MLA prompt chunks attend (model/forward.h)
};

struct SchedulerStats {
  int64_t waiting = 0, running = 0;
  int64_t kv_blocks_used = 0, kv_blocks_cached = 0, kv_blocks_total = 0;
  int64_t prefix_lookup_tokens = 0, prefix_hit_tokens = 0;
  int64_t prompt_tokens = 0, generated_tokens = 0, steps = 0;
  int64_t max_batch = 0;  // the most sequences one step has run
};

class Scheduler {
 public:
  Scheduler(const Model& model, ThreadPool& pool, const SchedulerOptions& options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  int64_t context() const { return context_; }
  // Queues a request. Returns nullptr when the queue is full. Throws r1::Error when the prompt is empty
  // or does not leave room for one generated token in the context.
  std::shared_ptr<SequenceStream> submit(SequenceRequest request);
  SchedulerStats stats() const;
  // Stops the worker and ends every queued and running sequence (FinishReason::Cancelled), so clients
  // waiting on them return at once. Called by the destructor; idempotent.
  void shutdown();

 private:
  struct Sequence;
  void loop();
  void admit();
  void step();
  // A sampled token (or an error) for one sequence, chosen in parallel and committed in order.
  struct Pick {
    Sequence* seq;
    TokenEvent event;
    std::string error;
  };
  void pick(Pick& p, float* logits, int tid);
  void commit(Pick& p);
  void retire(Sequence& s, FinishReason r, std::string error = {});

  const Model& model_;
  ThreadPool& pool_;
  SchedulerOptions o_;
  int64_t context_;
  KvBlockManager blocks_;
  Forward forward_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<SequenceRequest, std::shared_ptr<SequenceStream>>> waiting_;
  bool stop_ = false;

  std::vector<std::unique_ptr<Sequence>> running_;  // owned by the worker thread
  std::vector<ForwardSegment> segments_;
  std::vector<Sequence*> segment_seq_;
  std::vector<float> logits_;
  std::vector<std::vector<float>> thread_rows_;  // per thread: a logits row, for log-probabilities
  std::vector<std::vector<int32_t>> thread_ids_;  // per thread: token ids, ranked for top_logprobs
  std::vector<Pick> picks_;
  SchedulerStats stats_;  // guarded by mu_
  std::thread worker_;
};

}  // namespace r1
