#include "server/output_control.h"

#include <cmath>

namespace r1::server {

OutputControl::OutputControl(Options o) : o_(std::move(o)) {
  if (!o_.starts_in_reasoning || o_.close_reasoning.empty()) next_phase();
}

// Moves past the current phase, skipping phases with nothing to do.
void OutputControl::next_phase() {
  forced_ = 0;
  switch (phase_) {
    case Phase::Reasoning:
      phase_ = Phase::Prefix;
      if (!o_.prefix.empty()) return;
      [[fallthrough]];
    case Phase::Prefix:
      phase_ = Phase::Content;
      return;
    case Phase::Content:
      phase_ = o_.suffix.empty() ? Phase::End : Phase::Suffix;
      return;
    case Phase::Suffix:
    case Phase::End:
      phase_ = Phase::End;
      return;
  }
}

// Leaves `token` the only possible one: -inf everywhere else (the sampler never draws a -inf token).
void OutputControl::force(float* logits, int32_t token) const {
  const float keep = logits[token];
  for (int64_t i = 0; i < o_.vocab; ++i) logits[i] = -INFINITY;
  logits[token] = std::isfinite(keep) ? keep : 0.0f;
}

void OutputControl::mask(float* logits, std::span<const int32_t> end_tokens) {
  if (phase_ == Phase::Content && o_.content && o_.content->complete() && !o_.suffix.empty()) next_phase();
  switch (phase_) {
    case Phase::Reasoning:
      if (o_.reasoning_budget && reasoning_tokens_ >= *o_.reasoning_budget) force(logits, o_.close_reasoning[close_matched_]);
      return;
    case Phase::Prefix: return force(logits, o_.prefix[forced_]);
    case Phase::Content:
      if (o_.content) o_.content->mask(logits, end_tokens);
      return;
    case Phase::Suffix: return force(logits, o_.suffix[forced_]);
    case Phase::End:
      if (!end_tokens.empty()) force(logits, end_tokens[0]);
      return;
  }
}

void OutputControl::accept(int32_t token) {
  switch (phase_) {
    case Phase::Reasoning:
      ++reasoning_tokens_;
      close_matched_ = token == o_.close_reasoning[close_matched_] ? close_matched_ + 1
                       : token == o_.close_reasoning[0]            ? 1
                                                                   : 0;
      if (close_matched_ == o_.close_reasoning.size()) next_phase();
      return;
    case Phase::Prefix:
    case Phase::Suffix:
      if (++forced_ == (phase_ == Phase::Prefix ? o_.prefix : o_.suffix).size()) next_phase();
      return;
    case Phase::Content:
      if (o_.content) o_.content->accept(token);
      return;
    case Phase::End: return;
  }
}

}  // namespace r1::server
