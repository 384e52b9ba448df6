// Splitting a reasoning model's output into reasoning_content (inside <think>...</think>) and content,
// incrementally: text arrives in arbitrary pieces (token by token, or cut inside a UTF-8 character or
// a tag) and each feed() returns only what is certain, so a half-seen "</thi" is never shown as text.
//
// The output may start inside the reasoning: R1's template (and R1-Distill's, and V3.1's and Qwen3's
// in thinking mode) ends the prompt with "<think>\n", so the model's first token is already thought;
// see starts_in_reasoning(). Whitespace right inside the tags and right after "</think>" is dropped
// (the "\n\n" R1 writes after </think> is layout, not an answer); so is trailing whitespace of the
// reasoning. Feeding all text at once and piecewise gives the same result by construction.
#pragma once

#include <string>
#include <string_view>

namespace r1::chat {

struct ReasoningDelta {
  std::string reasoning;
  std::string content;
};

class ReasoningParser {
 public:
  struct Options {
    std::string open = "<think>";
    std::string close = "</think>";
    bool starts_in_reasoning = false;  // the prompt already opened the thinking block
  };
  ReasoningParser() : ReasoningParser(Options{}) {}
  explicit ReasoningParser(Options options);

  ReasoningDelta feed(std::string_view text);
  ReasoningDelta finish();  // the end of the output: flushes what was held back

 private:
  enum class State { Start, Reasoning, Content };
  void emit_reasoning(ReasoningDelta& d, std::string_view text, bool final);
  void emit_content(ReasoningDelta& d, std::string_view text);

  Options o_;
  State state_;
  std::string pending_;       // text not yet classified
  std::string held_ws_;       // trailing whitespace of the reasoning, shown only if more thought follows
  bool reasoning_started_ = false;
  bool content_started_ = false;
  bool strip_content_start_ = false;  // drop whitespace at the start of content (after </think>)
};

struct ReasoningSplit {
  std::string reasoning;
  std::string content;
};

// The whole output at once (the same as feeding it and calling finish()).
ReasoningSplit split_reasoning(std::string_view output, const ReasoningParser::Options& options = {});

// True when a rendered prompt leaves the model inside a thinking block (it ends with "<think>" and
// optional whitespace after it).
bool starts_in_reasoning(std::string_view prompt, std::string_view open = "<think>");

}  // namespace r1::chat
