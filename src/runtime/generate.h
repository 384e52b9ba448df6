// The generation loop: prefill the prompt in one pass, then decode token by token through the cache,
// sampling each next token, until EOS, a stop string, max_tokens or the end of the context.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/sampler.h"
#include "runtime/session.h"

namespace r1 {

struct GenerateOptions {
  int64_t max_tokens = 256;
  SamplingParams sampling;
  std::vector<int32_t> stop_tokens;      // usually the model's EOS ids
  std::vector<std::string> stop_strings;  // matched on decoded text; needs `piece`
  // Text of one token, for stop strings; may be empty when no stop strings are given.
  std::function<std::string(int32_t)> piece;
};

enum class StopReason { MaxTokens, StopToken, StopString, ContextFull, Cancelled };
std::string_view stop_reason_name(StopReason r);

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated tokens (the stop token is not included)
  StopReason reason = StopReason::MaxTokens;
  double prefill_seconds = 0, decode_seconds = 0;
};

// Calls on_token(token) for every generated token as soon as it is sampled; returning false cancels.
// Throws r1::Error when the prompt is empty or does not fit in the session's context.
GenerateResult generate(Session& session, const std::vector<int32_t>& prompt, const GenerateOptions& options,
                        const std::function<bool(int32_t)>& on_token = {});

}  // namespace r1
