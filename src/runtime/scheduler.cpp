#include "runtime/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"

namespace r1 {

std::string_view finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::None: return "";
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::ContextFull: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
  }
  return "?";
}

// ---- SequenceStream --------------------------------------------------------------------------------

bool SequenceStream::next(TokenEvent& out, std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, wait, [&] { return !events_.empty() || reason_ != FinishReason::None; });
  if (events_.empty()) return false;
  out = std::move(events_.front());
  events_.pop_front();
  return true;
}

bool SequenceStream::finished() const {
  std::lock_guard lock(mu_);
  return reason_ != FinishReason::None && events_.empty();
}

FinishReason SequenceStream::reason() const {
  std::lock_guard lock(mu_);
  return reason_;
}

std::string SequenceStream::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

int64_t SequenceStream::cached_tokens() const {
  std::lock_guard lock(mu_);
  return cached_tokens_;
}

void SequenceStream::push(TokenEvent e) {
  {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

void SequenceStream::finish(FinishReason r, std::string error) {
  {
    std::lock_guard lock(mu_);
    if (reason_ != FinishReason::None) return;
    reason_ = r;
    error_ = std::move(error);
  }
  cv_.notify_all();
}

// ---- Scheduler -------------------------------------------------------------------------------------

struct Scheduler::Sequence {
  SequenceRequest req;
  std::shared_ptr<SequenceStream> stream;
  KvCache cache;
  KvBlockManager::Holding blocks;
  Sampler sampler;
  std::vector<int32_t> tokens;  // prompt, then generated tokens (named for the prefix cache)
  int64_t generated = 0;
  int32_t next_token = 0;       // the last sampled token, fed in the next step
  bool prefilling = true;
  bool done = false;

  Sequence(SequenceRequest r, std::shared_ptr<SequenceStream> s, const ModelConfig& cfg, int64_t context, KvType type)
      : req(std::move(r)), stream(std::move(s)), cache(KvCache::paged(cfg, context, type)),
        sampler(req.sampling, cfg.vocab_size), tokens(req.prompt) {
    tokens.reserve(req.prompt.size() + size_t(std::max<int64_t>(0, req.max_tokens)));
  }
  int64_t computed() const { return cache.length(); }
};

namespace {
int64_t capped_context(const Model& m, const SchedulerOptions& o) {
  if (o.parallel <= 0) fail("--parallel must be positive, got {}", o.parallel);
  if (o.context <= 1) fail("the context length must be at least 2, got {}", o.context);
  return std::min(o.context, m.config().max_position_embeddings);
}
int64_t default_blocks(int64_t context, const SchedulerOptions& o) {
  return o.kv_blocks > 0 ? o.kv_blocks : int64_t(o.parallel) * ((context + kKvBlockTokens - 1) / kKvBlockTokens);
}
int64_t step_tokens(const SchedulerOptions& o) { return std::max<int64_t>(o.batch_tokens, o.parallel); }
}  // namespace

Scheduler::Scheduler(const Model& model, ThreadPool& pool, const SchedulerOptions& options)
    : model_(model), pool_(pool), o_(options), context_(capped_context(model, options)),
      blocks_(model.config(), default_blocks(context_, options), options.cache_type),
      forward_(model, step_tokens(options), context_, pool.size(), options.mla_prefill) {
  const size_t V = size_t(model.config().vocab_size);
  logits_.resize(size_t(o_.parallel) * V);
  thread_rows_.assign(size_t(pool.size()), std::vector<float>(V));
  thread_ids_.assign(size_t(pool.size()), std::vector<int32_t>(V));
  picks_.reserve(size_t(o_.parallel));
  segments_.reserve(size_t(o_.parallel));
  segment_seq_.reserve(size_t(o_.parallel));
  running_.reserve(size_t(o_.parallel));
  stats_.kv_blocks_total = blocks_.total_blocks();
  worker_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::shutdown() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  for (auto& s : running_) retire(*s, FinishReason::Cancelled, "the server is shutting down");
  running_.clear();
  std::lock_guard lock(mu_);
  for (auto& [req, stream] : waiting_) stream->finish(FinishReason::Cancelled, "the server is shutting down");
  waiting_.clear();
}

std::shared_ptr<SequenceStream> Scheduler::submit(SequenceRequest request) {
  if (request.prompt.empty()) fail("the prompt is empty");
  if (int64_t(request.prompt.size()) >= context_) {
    fail("the prompt has {} tokens but the context length is {} (room for at least one generated token is needed)",
         request.prompt.size(), context_);
  }
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= model_.config().vocab_size) fail("token id {} is out of range (vocab size {})", t, model_.config().vocab_size);
  }
  validate(request.sampling);
  auto stream = std::make_shared<SequenceStream>();
  stream->prompt_tokens_ = int64_t(request.prompt.size());
  {
    std::lock_guard lock(mu_);
    if (stop_) fail("the server is shutting down");
    if (int64_t(waiting_.size()) >= o_.queue) return nullptr;
    waiting_.emplace_back(std::move(request), stream);
    stats_.waiting = int64_t(waiting_.size());
  }
  cv_.notify_all();
  return stream;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !waiting_.empty() || !running_.empty(); });
      if (stop_) return;
    }
    try {
      admit();
      step();
    } catch (const std::exception& e) {  // e.g. non-finite logits: fail the batch, keep serving
      for (auto& s : running_) retire(*s, FinishReason::Error, e.what());
    }
    std::erase_if(running_, [](const std::unique_ptr<Sequence>& s) { return s->done; });
    std::lock_guard lock(mu_);
    stats_.running = int64_t(running_.size());
    stats_.waiting = int64_t(waiting_.size());
    stats_.kv_blocks_used = blocks_.used_blocks();
    stats_.kv_blocks_cached = blocks_.cached_blocks();
    stats_.prefix_lookup_tokens = blocks_.lookup_tokens();
    stats_.prefix_hit_tokens = blocks_.hit_tokens();
  }
}

void Scheduler::admit() {
  for (;;) {
    std::pair<SequenceRequest, std::shared_ptr<SequenceStream>> item;
    {
      std::lock_guard lock(mu_);
      if (waiting_.empty() || int64_t(running_.size()) >= o_.parallel) return;
      item = std::move(waiting_.front());
      waiting_.pop_front();
      stats_.prompt_tokens += int64_t(item.first.prompt.size());
    }
    if (item.second->cancelled()) {
      item.second->finish(FinishReason::Cancelled);
      continue;
    }
    auto s = std::make_unique<Sequence>(std::move(item.first), std::move(item.second), model_.config(), context_,
                                        o_.cache_type);
    const int64_t cached = blocks_.attach_prefix(s->req.prompt, s->cache, s->blocks);
    {
      std::lock_guard lock(s->stream->mu_);
      s->stream->cached_tokens_ = cached;
    }
    running_.push_back(std::move(s));
  }
}

void Scheduler::step() {
  for (auto& s : running_) {
    if (s->stream->cancelled()) retire(*s, FinishReason::Cancelled);
  }
  segments_.clear();
  segment_seq_.clear();
  int64_t budget = forward_.max_tokens();
  // Running streams first, one token each, so a new prompt never delays them by more than one chunk.
  for (auto& s : running_) {
    if (s->done || s->prefilling || budget == 0) continue;
    if (!blocks_.reserve(s->cache, s->blocks, s->computed() + 1)) continue;
    segments_.push_back({&s->next_token, 1, &s->cache, Logits::Last});
    segment_seq_.push_back(s.get());
    --budget;
  }
  for (auto& s : running_) {
    if (s->done || !s->prefilling || budget == 0) continue;
    const int64_t prompt = int64_t(s->req.prompt.size());
    const int64_t n = std::min(prompt - s->computed(), budget);
    if (!blocks_.reserve(s->cache, s->blocks, s->computed() + n)) continue;
    segments_.push_back({s->req.prompt.data() + s->computed(), n, &s->cache,
                         s->computed() + n == prompt ? Logits::Last : Logits::None});
    segment_seq_.push_back(s.get());
    budget -= n;
  }
  if (segments_.empty()) {
    // Every running sequence is waiting for KV blocks that only another running one could free: end
    // the newest so the others can go on.
    for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
      if (!(*it)->done) {
        retire(**it, FinishReason::Error, "the KV cache is full (raise --kv-blocks or lower --parallel)");
        break;
      }
    }
    return;
  }

  forward_.run(segments_, logits_.data(), pool_);
  picks_.clear();
  for (size_t i = 0; i < segments_.size(); ++i) {
    Sequence& s = *segment_seq_[i];
    if (s.prefilling && s.computed() == int64_t(s.req.prompt.size())) {
      s.prefilling = false;
      blocks_.publish(s.tokens, s.computed(), s.blocks);  // the prompt's full blocks, for later prompts
    }
    if (segments_[i].logits != Logits::None) picks_.push_back({&s, {}, {}});
  }
  // Each sequence samples from its own row with its own sampler, so the rows are independent work for
  // the threads; what follows from each pick (streams, stop checks, KV blocks) is done in order.
  pool_.parallel_for(picks_.size(), [&](size_t b, size_t e, int tid) {
    for (size_t r = b; r < e; ++r) pick(picks_[r], logits_.data() + r * size_t(model_.config().vocab_size), tid);
  });
  for (Pick& p : picks_) commit(p);
  std::lock_guard lock(mu_);
  ++stats_.steps;
  stats_.max_batch = std::max(stats_.max_batch, int64_t(segments_.size()));
}

void Scheduler::pick(Pick& p, float* logits, int tid) {
  Sequence& s = *p.seq;
  const size_t V = size_t(model_.config().vocab_size);
  for (size_t i = 0; i < V; ++i) {
    if (!std::isfinite(logits[i])) {
      p.error = fmt::format("logit {} at position {} is {} (do the weights hold NaN or Inf?)", i, s.computed() - 1, logits[i]);
      return;
    }
  }
  if (s.req.constraint) s.req.constraint->mask(logits, s.req.stop_tokens);
  float lse = 0;
  std::vector<float>& row = thread_rows_[size_t(tid)];
  if (s.req.top_logprobs >= 0) {  // log-softmax of the model's distribution (after any constraint)
    std::copy(logits, logits + V, row.begin());
    const float mx = *std::max_element(row.begin(), row.end());
    double sum = 0;
    for (float v : row) sum += std::exp(double(v - mx));
    lse = mx + float(std::log(sum));
  }
  p.event.token = s.sampler.sample(logits);
  if (s.req.top_logprobs >= 0) {
    p.event.logprob = row[size_t(p.event.token)] - lse;
    const size_t k = std::min(size_t(s.req.top_logprobs), V);
    if (k > 0) {
      std::vector<int32_t>& ids = thread_ids_[size_t(tid)];
      std::iota(ids.begin(), ids.end(), 0);
      std::partial_sort(ids.begin(), ids.begin() + ptrdiff_t(k), ids.end(), [&](int32_t a, int32_t b) {
        return row[size_t(a)] > row[size_t(b)] || (row[size_t(a)] == row[size_t(b)] && a < b);
      });
      for (size_t i = 0; i < k; ++i) p.event.top.emplace_back(ids[i], row[size_t(ids[i])] - lse);
    }
  }
}

void Scheduler::commit(Pick& p) {
  Sequence& s = *p.seq;
  if (!p.error.empty()) return retire(s, FinishReason::Error, std::move(p.error));
  const int32_t token = p.event.token;
  if (std::find(s.req.stop_tokens.begin(), s.req.stop_tokens.end(), token) != s.req.stop_tokens.end()) {
    return retire(s, FinishReason::Stop);
  }
  s.sampler.accept(token);
  if (s.req.constraint) s.req.constraint->accept(token);
  s.tokens.push_back(token);
  ++s.generated;
  p.event.time = std::chrono::steady_clock::now();
  s.stream->push(std::move(p.event));
  {
    std::lock_guard lock(mu_);
    ++stats_.generated_tokens;
  }
  if (s.generated >= s.req.max_tokens) retire(s, FinishReason::Length);
  else if (s.computed() + 1 > context_) retire(s, FinishReason::ContextFull);
  else s.next_token = token;
}

void Scheduler::retire(Sequence& s, FinishReason r, std::string error) {
  if (s.done) return;
  s.done = true;
  blocks_.publish(s.tokens, s.computed(), s.blocks);  // a chat's next turn starts with this one
  blocks_.release(s.blocks);
  s.stream->finish(r, std::move(error));
}

}  // namespace r1
