#include "runtime/session.h"

#include <algorithm>
#include <cmath>
#include <vector>

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
    : model_(model), pool_(pool), cache_(model.config(), capped_context(model, options), options.cache_type),
      forward_(model, std::max<int64_t>(1, std::min(options.batch, cache_.capacity())), cache_.capacity(), pool.size(),
               options.mla_prefill),
      logits_(size_t(model.config().vocab_size)) {}

void Session::run_chunks(std::span<const int32_t> tokens, float* out, bool all_logits) {
  if (position() + int64_t(tokens.size()) > context()) {
    fail("{} tokens do not fit: {} already in the context of {}", tokens.size(), position(), context());
  }
  const size_t V = size_t(model_.config().vocab_size), chunk = size_t(forward_.max_tokens());
  const int64_t first = position();
  for (size_t i = 0; i < tokens.size(); i += chunk) {
    const int64_t n = int64_t(std::min(chunk, tokens.size() - i));
    forward_.run(tokens.data() + i, n, cache_, all_logits ? out + i * V : out, all_logits, pool_);
  }
  // Rows written: one per token, or only the last token's.
  for (size_t t = all_logits ? 0 : tokens.size() - 1; t < tokens.size(); ++t) {
    check_finite(model_, all_logits ? out + t * V : out, V, first + int64_t(t));
  }
}

const float* Session::feed(std::span<const int32_t> tokens) {
  if (!tokens.empty()) run_chunks(tokens, logits_.data(), false);
  return logits_.data();
}

void Session::fill_context_for_benchmark(int64_t n) {
  if (n > context()) fail("a context depth of {} does not fit in the context of {}", n, context());
  const int64_t layers = model_.config().num_layers, row = cache_.row_size();
  std::vector<float> values(static_cast<size_t>(row));
  for (int64_t l = 0; l < layers; ++l) {
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t i = 0; i < row; ++i) values[size_t(i)] = 0.01f * float((p * 31 + i * 7 + l) % 97 - 48);
      cache_.store(l, p, 0, values.data(), row);
    }
  }
  cache_.set_length(n);
}

void Session::feed_all_logits(std::span<const int32_t> tokens, std::vector<float>& out) {
  out.resize(tokens.size() * size_t(model_.config().vocab_size));
  if (!tokens.empty()) run_chunks(tokens, out.data(), true);
}

}  // namespace r1
