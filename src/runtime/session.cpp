#include "runtime/session.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace r1 {

namespace {
int64_t capped_context(const Model& m, const SessionOptions& o) {
  if (o.context <= 0) fail("context length must be positive, got {}", o.context);
  return std::min(o.context, m.config().max_position_embeddings);
}

// Weight matrices are not scanned for NaN/Inf at load (too costly for large models), so a poisoned
// checkpoint shows up here: an error rather than NaN logits and garbage tokens downstream.
void check_finite(const Model& m, const float* logits, size_t n, int64_t position) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(logits[i])) {
      fail("{}: logit {} at position {} is {} (expected finite; do the weights hold NaN or Inf?)", m.files().path(),
           i % size_t(m.config().vocab_size), position, logits[i]);
    }
  }
}
}  // namespace

Session::Session(const Model& model, ThreadPool& pool, const SessionOptions& options)
    : model_(model), pool_(pool), cache_(model.config(), capped_context(model, options)),
      forward_(model, std::max<int64_t>(1, std::min(options.batch, capped_context(model, options))),
               capped_context(model, options), pool.size()),
      logits_(size_t(model.config().vocab_size)) {}

const float* Session::feed(std::span<const int32_t> tokens) {
  if (position() + int64_t(tokens.size()) > context()) {
    fail("{} tokens do not fit: {} already in the context of {}", tokens.size(), position(), context());
  }
  const int64_t chunk = forward_.max_tokens();
  for (size_t i = 0; i < tokens.size(); i += size_t(chunk)) {
    const int64_t n = std::min<int64_t>(chunk, int64_t(tokens.size() - i));
    forward_.run(tokens.data() + i, n, cache_, logits_.data(), false, pool_);
  }
  check_finite(model_, logits_.data(), logits_.size(), position() - 1);
  return logits_.data();
}

void Session::feed_all_logits(std::span<const int32_t> tokens, std::vector<float>& out) {
  if (position() + int64_t(tokens.size()) > context()) {
    fail("{} tokens do not fit: {} already in the context of {}", tokens.size(), position(), context());
  }
  const int64_t V = model_.config().vocab_size, chunk = forward_.max_tokens();
  out.resize(tokens.size() * size_t(V));
  for (size_t i = 0; i < tokens.size(); i += size_t(chunk)) {
    const int64_t n = std::min<int64_t>(chunk, int64_t(tokens.size() - i));
    forward_.run(tokens.data() + i, n, cache_, out.data() + i * size_t(V), true, pool_);
  }
  const int64_t first = position() - int64_t(tokens.size());
  for (size_t t = 0; t < tokens.size(); ++t) check_finite(model_, out.data() + t * size_t(V), size_t(V), first + int64_t(t));
}

}  // namespace r1
