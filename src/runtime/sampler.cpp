#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace r1 {

void validate(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature)) fail("temperature must be >= 0, got {}", p.temperature);
  if (p.top_k < 0) fail("top_k must be >= 0, got {}", p.top_k);
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) fail("top_p must be in (0, 1], got {}", p.top_p);
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) fail("min_p must be in [0, 1], got {}", p.min_p);
  if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty)) fail("repetition_penalty must be > 0, got {}", p.repetition_penalty);
  if (!std::isfinite(p.presence_penalty) || std::fabs(p.presence_penalty) > 2.0f) fail("presence_penalty must be in [-2, 2], got {}", p.presence_penalty);
  if (!std::isfinite(p.frequency_penalty) || std::fabs(p.frequency_penalty) > 2.0f) fail("frequency_penalty must be in [-2, 2], got {}", p.frequency_penalty);
}

Sampler::Sampler(const SamplingParams& params, int64_t vocab_size)
    : p_(params), vocab_(vocab_size), rng_(params.seed), counts_(size_t(vocab_size)), order_(size_t(vocab_size)),
      probs_(size_t(vocab_size)) {
  validate(params);
  seen_.reserve(size_t(std::min<int64_t>(vocab_size, 1 << 16)));
}

void Sampler::reset() {
  for (int32_t id : seen_) counts_[size_t(id)] = 0;
  seen_.clear();
  rng_.seed(p_.seed);
}

void Sampler::accept(int32_t token) {
  if (token < 0 || token >= vocab_) return;
  if (counts_[size_t(token)]++ == 0) seen_.push_back(token);
}

int32_t Sampler::sample(float* logits) {
  for (int32_t id : seen_) {
    float& l = logits[id];
    if (p_.repetition_penalty != 1.0f) l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
    l -= p_.presence_penalty + p_.frequency_penalty * float(counts_[size_t(id)]);
  }
  if (p_.temperature == 0.0f || p_.top_k == 1) {
    return int32_t(std::max_element(logits, logits + vocab_) - logits);  // first maximum on ties
  }

  const double inv_t = 1.0 / double(p_.temperature);
  // No truncation at all: a draw over every token in id order needs no sorting (this is the common
  // temperature-only case, and sorting 129k logits per token would cost more than a tiny model's step).
  const bool truncates = (p_.top_k > 0 && p_.top_k < vocab_) || p_.top_p < 1.0f || p_.min_p > 0.0f;
  if (!truncates) {
    const double mx = double(*std::max_element(logits, logits + vocab_));
    double sum = 0;
    for (int64_t i = 0; i < vocab_; ++i) {
      probs_[size_t(i)] = float(std::exp((double(logits[i]) - mx) * inv_t));
      sum += probs_[size_t(i)];
    }
    const double u = double(rng_() >> 11) * 0x1.0p-53 * sum;
    double acc = 0;
    int32_t last = 0;
    for (int64_t i = 0; i < vocab_; ++i) {
      if (probs_[size_t(i)] <= 0.0f) continue;
      acc += probs_[size_t(i)];
      last = int32_t(i);
      if (u < acc) return last;
    }
    return last;
  }

  // Candidates by descending logit (ties: lower id first). Only the head of that order is ever used,
  // so it is sorted in growing prefixes (64, 512, ... tokens) until the top-p mass or the min-p floor
  // is reached inside the prefix; the result equals that of a full sort.
  const int64_t n = p_.top_k > 0 && p_.top_k < vocab_ ? p_.top_k : vocab_;
  std::iota(order_.begin(), order_.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  const double mx = double(*std::max_element(logits, logits + vocab_));
  double sum = 0;  // the mass of all n candidates
  if (n == vocab_) {
    for (int64_t i = 0; i < vocab_; ++i) sum += std::exp((double(logits[i]) - mx) * inv_t);
  } else {
    std::partial_sort(order_.begin(), order_.begin() + n, order_.end(), by_logit);
    for (int64_t i = 0; i < n; ++i) sum += std::exp((double(logits[order_[size_t(i)]]) - mx) * inv_t);
  }
  // top-p: smallest prefix whose probability reaches top_p; min-p: drop tokens below min_p * p_max.
  double kept = 0;
  int64_t keep = 0, sorted = n == vocab_ ? 0 : n;
  const double floor = double(p_.min_p);  // relative to the top token, whose weight is exp(0) = 1
  while (keep < n) {
    if (keep == sorted) {
      sorted = std::min(n, std::max<int64_t>(64, sorted * 8));
      std::partial_sort(order_.begin() + keep, order_.begin() + sorted, order_.end(), by_logit);
    }
    probs_[size_t(keep)] = float(std::exp((double(logits[order_[size_t(keep)]]) - mx) * inv_t));
    if (keep > 0 && double(probs_[size_t(keep)]) < floor) break;
    kept += probs_[size_t(keep)];
    ++keep;
    if (kept >= double(p_.top_p) * sum) break;
  }
  const double u = double(rng_() >> 11) * 0x1.0p-53 * kept;
  double acc = 0;
  for (int64_t i = 0; i < keep; ++i) {
    acc += probs_[size_t(i)];
    if (u < acc) return order_[size_t(i)];
  }
  return order_[size_t(keep - 1)];
}

}  // namespace r1
