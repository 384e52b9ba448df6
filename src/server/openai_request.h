// The OpenAI request bodies the server accepts -- POST /v1/chat/completions and /v1/completions --
// parsed and checked into one CompletionParams. Every problem is an ApiError naming the parameter
// (400), in OpenAI's wording where it has one; unknown top-level fields are refused, as OpenAI does,
// so a misspelt option is never silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/sampler.h"

namespace r1::server {

enum class ResponseFormat { Text, JsonObject, JsonSchema };
enum class ToolChoice { None, Auto, Required, Named };

struct CompletionParams {
  bool chat = true;                       // /v1/chat/completions (else /v1/completions)
  std::string model;                      // as requested (may be empty)
  nlohmann::ordered_json messages;        // chat: normalised messages for the template
  std::string prompt;                     // completions: the prompt text
  nlohmann::ordered_json tools;           // null when none
  ToolChoice tool_choice = ToolChoice::Auto;
  std::string tool_name;                  // ToolChoice::Named
  bool stream = false;
  bool include_usage = false;             // stream_options.include_usage
  std::optional<int64_t> max_tokens;      // max_tokens / max_completion_tokens
  SamplingParams sampling;
  bool seeded = false;                    // a seed was given (else a random one)
  std::vector<std::string> stop;
  bool logprobs = false;
  int top_logprobs = 0;
  ResponseFormat format = ResponseFormat::Text;
  nlohmann::json schema;                  // JsonSchema: response_format.json_schema.schema
  bool reasoning_inline = false;          // reasoning_format "none": <think>... stays in content
  std::optional<int64_t> reasoning_budget;  // most reasoning tokens before "</think>" is forced
  nlohmann::ordered_json template_vars = nlohmann::ordered_json::object();  // chat_template_kwargs
  bool echo = false;                      // completions: prepend the prompt
};

// `body` is the parsed JSON body; throws ApiError.
CompletionParams parse_chat_request(const nlohmann::json& body);
CompletionParams parse_completion_request(const nlohmann::json& body);

}  // namespace r1::server
