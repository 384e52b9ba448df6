// libFuzzer: bytes -> an OpenAI request body (JSON) -> the server's request parser, and any JSON schema
// in it -> the structured-output grammar, walked for a few tokens. Every input must be accepted or
// refused with ApiError / r1::Error: no crash, no hang, no sanitizer report.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "../tokenizer/small_tokenizer.h"
#include "core/error.h"
#include "server/api_error.h"
#include "server/json_constraint.h"
#include "server/openai_request.h"
#include "tokenizer/tokenizer.h"

namespace {

const r1::server::TokenVocabulary& vocabulary() {
  static const r1::tok::Tokenizer tok = r1::tok::Tokenizer::from_json(
      r1::tok::testing::small_tokenizer_json().dump(), r1::tok::testing::small_tokenizer_config(), "small");
  static const r1::server::TokenVocabulary vocab(tok);
  return vocab;
}

// Follows the grammar for up to 64 tokens, always taking the first allowed token.
void walk(r1::server::JsonConstraint& c, int32_t vocab_size) {
  std::vector<float> logits(static_cast<size_t>(vocab_size));
  const int32_t end[] = {0};
  for (int step = 0; step < 64 && !c.complete(); ++step) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    c.mask(logits.data(), end);
    int32_t next = -1;
    for (int32_t i = 1; i < vocab_size && next < 0; ++i) {
      if (logits[size_t(i)] == 0.0f) next = i;
    }
    if (next < 0) return;
    c.accept(next);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto body = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;
  for (const bool chat : {true, false}) {
    try {
      const r1::server::CompletionParams p = chat ? r1::server::parse_chat_request(body) : r1::server::parse_completion_request(body);
      if (p.format == r1::server::ResponseFormat::Text) continue;
      auto c = p.format == r1::server::ResponseFormat::JsonSchema ? r1::server::JsonConstraint::from_schema(p.schema, vocabulary())
                                                                 : r1::server::JsonConstraint::any_object(vocabulary());
      walk(*c, vocabulary().size());
    } catch (const r1::server::ApiError&) {
    } catch (const r1::Error&) {
    }
  }
  return 0;
}
