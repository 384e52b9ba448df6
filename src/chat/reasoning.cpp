#include "chat/reasoning.h"

#include "chat/text_scan.h"

namespace r1::chat {

ReasoningParser::ReasoningParser(Options options)
    : o_(std::move(options)), state_(o_.starts_in_reasoning ? State::Reasoning : State::Start) {}

void ReasoningParser::emit_reasoning(ReasoningDelta& d, std::string_view text, bool final) {
  if (!reasoning_started_) {
    text = text.substr(leading_space(text));
    if (text.empty()) return;
    reasoning_started_ = true;
  }
  std::string all = held_ws_ + std::string(text);
  held_ws_.clear();
  const size_t keep = all.size() - trailing_space(all);
  if (!final) held_ws_ = all.substr(keep);
  d.reasoning += all.substr(0, keep);
}

void ReasoningParser::emit_content(ReasoningDelta& d, std::string_view text) {
  if (!content_started_ && strip_content_start_) {
    text = text.substr(leading_space(text));
    if (text.empty()) return;
  }
  if (!text.empty()) content_started_ = true;
  d.content += text;
}

ReasoningDelta ReasoningParser::feed(std::string_view text) {
  ReasoningDelta d;
  pending_ += text;
  for (;;) {
    if (state_ == State::Start) {
      // Thinking only counts when the output opens with the tag (after whitespace).
      const size_t ws = leading_space(pending_);
      const std::string_view rest = std::string_view(pending_).substr(ws);
      if (rest.size() < o_.open.size() && o_.open.compare(0, rest.size(), rest) == 0) return d;  // undecided
      if (rest.substr(0, o_.open.size()) == o_.open) {
        pending_.erase(0, ws + o_.open.size());
        state_ = State::Reasoning;
      } else {
        state_ = State::Content;
      }
      continue;
    }
    if (state_ == State::Reasoning) {
      const size_t at = pending_.find(o_.close);
      if (at == std::string::npos) {
        const size_t hold = partial_suffix(pending_, o_.close);
        emit_reasoning(d, std::string_view(pending_).substr(0, pending_.size() - hold), false);
        pending_.erase(0, pending_.size() - hold);
        return d;
      }
      emit_reasoning(d, std::string_view(pending_).substr(0, at), true);
      pending_.erase(0, at + o_.close.size());
      state_ = State::Content;
      strip_content_start_ = true;
      continue;
    }
    emit_content(d, pending_);
    pending_.clear();
    return d;
  }
}

ReasoningDelta ReasoningParser::finish() {
  ReasoningDelta d;
  if (state_ == State::Reasoning) {
    // Cut off while thinking: everything was reasoning (a partial "</thi" included).
    emit_reasoning(d, pending_, true);
  } else {
    emit_content(d, pending_);
  }
  pending_.clear();
  held_ws_.clear();
  return d;
}

ReasoningSplit split_reasoning(std::string_view output, const ReasoningParser::Options& options) {
  ReasoningParser p(options);
  ReasoningDelta a = p.feed(output);
  ReasoningDelta b = p.finish();
  return {a.reasoning + b.reasoning, a.content + b.content};
}

bool starts_in_reasoning(std::string_view prompt, std::string_view open) {
  const std::string_view trimmed = prompt.substr(0, prompt.size() - trailing_space(prompt));
  return trimmed.size() >= open.size() && trimmed.substr(trimmed.size() - open.size()) == open;
}

}  // namespace r1::chat
