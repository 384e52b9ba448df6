#include "runtime/generate.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

namespace r1 {

std::string_view stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::MaxTokens: return "length";
    case StopReason::StopToken: return "stop";
    case StopReason::StopString: return "stop";
    case StopReason::ContextFull: return "context";
    case StopReason::Cancelled: return "cancelled";
  }
  return "?";
}

GenerateResult generate(Session& session, const std::vector<int32_t>& prompt, const GenerateOptions& o,
                        const std::function<bool(int32_t)>& on_token) {
  using clock = std::chrono::steady_clock;
  if (prompt.empty()) fail("the prompt is empty");
  if (session.position() + int64_t(prompt.size()) > session.context()) {
    fail("the prompt has {} tokens but the context length is {}", prompt.size(), session.context() - session.position());
  }
  if (!o.stop_strings.empty() && !o.piece) fail("stop strings need a tokenizer to decode tokens");

  GenerateResult r;
  Sampler sampler(o.sampling, session.model().config().vocab_size);
  for (int32_t t : prompt) sampler.accept(t);

  const auto t0 = clock::now();
  const float* logits = session.feed(prompt);
  const auto t1 = clock::now();
  r.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();

  std::vector<float> work(size_t(session.model().config().vocab_size));
  std::string tail;  // recent text, for stop strings
  size_t longest_stop = 0;
  for (const auto& s : o.stop_strings) longest_stop = std::max(longest_stop, s.size());
  tail.reserve(4 * longest_stop + 256);
  r.tokens.reserve(size_t(std::max<int64_t>(0, o.max_tokens)));

  while (int64_t(r.tokens.size()) < o.max_tokens) {
    std::copy(logits, logits + work.size(), work.begin());
    const int32_t next = sampler.sample(work.data());
    if (std::find(o.stop_tokens.begin(), o.stop_tokens.end(), next) != o.stop_tokens.end()) {
      r.reason = StopReason::StopToken;
      break;
    }
    r.tokens.push_back(next);
    sampler.accept(next);
    if (on_token && !on_token(next)) {
      r.reason = StopReason::Cancelled;
      break;
    }
    if (longest_stop > 0) {
      tail += o.piece(next);
      bool hit = false;
      for (const auto& s : o.stop_strings) hit = hit || (!s.empty() && tail.find(s) != std::string::npos);
      if (hit) {
        r.reason = StopReason::StopString;
        break;
      }
      if (tail.size() > 2 * longest_stop) tail.erase(0, tail.size() - longest_stop);
    }
    if (int64_t(r.tokens.size()) >= o.max_tokens) break;
    if (session.position() >= session.context()) {
      r.reason = StopReason::ContextFull;
      break;
    }
    logits = session.feed({&next, 1});
  }
  r.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return r;
}

}  // namespace r1
