// One OpenAI completion request from parsed parameters to response bytes, independent of HTTP:
//   prepare:  render the chat template (or take the prompt), tokenize, check the context, and build the
//             scheduler request (stop tokens, sampling, output constraints);
//   on_token: detokenize, match stop strings, split reasoning from content, parse tool calls, and
//             produce the SSE chunks of a streamed response;
//   finish:   the last chunks (finish_reason, usage) or the whole non-streamed response.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/tool_calls.h"
#include "model/model.h"
#include "runtime/scheduler.h"
#include "server/openai_request.h"
#include "tokenizer/stream.h"
#include "tokenizer/tokenizer.h"

namespace r1::server {

class TokenVocabulary;  // server/json_constraint.h

// The model a server serves, with everything requests need from it. Built once at start-up.
struct ServedModel {
  std::string id;  // the name clients use in "model"
  const Model* model = nullptr;
  const tok::Tokenizer* tokenizer = nullptr;
  std::optional<chat::ChatTemplate> chat_template;  // none: only /v1/completions
  chat::ToolFormat tool_format = chat::ToolFormat::None;
  std::vector<int32_t> stop_tokens;  // EOS ids
  std::vector<int32_t> close_reasoning;  // tokens of "</think>"
  std::shared_ptr<const TokenVocabulary> json_vocab;  // for response_format
  int64_t context = 0;
  int64_t created = 0;  // unix time the server started
};

class Completion {
 public:
  // Throws ApiError (400) for prompts that do not fit or templates that refuse the conversation.
  Completion(const ServedModel& served, CompletionParams params);

  SequenceRequest take_request();
  int64_t prompt_tokens() const { return int64_t(prompt_.size()); }
  const CompletionParams& params() const { return p_; }

  // Streaming: the SSE payloads (JSON texts) to send for this token, in order.
  std::vector<std::string> on_token(const TokenEvent& e);
  // True once a stop string was generated: the caller cancels the sequence; its reason is "stop".
  bool stopped() const { return stopped_; }
  // The end: for a streamed response the last payloads (finish chunk, usage chunk); otherwise one
  // payload, the whole response object. `cached` = prompt tokens served from the prefix cache.
  std::vector<std::string> finish(FinishReason reason, int64_t cached);

 private:
  struct Delta {
    std::string reasoning, content;
    std::vector<chat::ToolCallDelta> tool_calls;
  };
  void push_text(const std::string& text, bool final);
  void route(const std::string& text, bool final, Delta& d);
  nlohmann::json chunk(nlohmann::json delta_or_text, const nlohmann::json& finish_reason);
  nlohmann::json logprob_entry(int32_t token, float logprob) const;
  struct Mark {  // the message's extent at one moment
    size_t reasoning, content;
    std::vector<size_t> arguments;
  };
  Mark mark() const;
  nlohmann::json message_delta(const Mark& before);
  nlohmann::json usage(int64_t cached) const;
  std::string dump(const nlohmann::json& j) const;

  const ServedModel& m_;
  CompletionParams p_;
  std::vector<int32_t> prompt_;
  bool starts_in_reasoning_ = false;
  std::string id_;

  tok::StreamDecoder decoder_;
  std::string held_;  // text that might be the start of a stop string
  bool stopped_ = false;
  std::optional<chat::ChatOutputParser> chat_parser_;   // reasoning split + tool calls
  std::optional<chat::ToolCallParser> inline_parser_;   // reasoning_format "none": tool calls only
  bool inline_open_pending_ = false;  // inline text still lacks the "<think>" the prompt opened
  int64_t generated_ = 0, reasoning_tokens_ = 0;
  bool reasoning_open_ = false;
  std::string raw_text_;  // everything generated (for reasoning-token counting and echo)

  // Non-streamed: the accumulated message. Streamed: deltas waiting to be sent.
  chat::ChatMessageOut message_;
  std::string text_;  // completions
  nlohmann::json logprobs_ = nlohmann::json::array();  // entries not yet sent (streamed) or all
  std::vector<std::string> tool_ids_;
  bool role_sent_ = false;
};

}  // namespace r1::server
