#include "chat/tool_calls.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "chat/text_scan.h"

namespace r1::chat {

namespace {

constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kSep = "<｜tool▁sep｜>";
constexpr std::string_view kQwenOpen = "<tool_call>";
constexpr std::string_view kQwenClose = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool is_prefix_of(std::string_view s, std::string_view tag) { return s.size() < tag.size() && starts_with(tag, s); }

std::string_view trim(std::string_view s) {
  s.remove_prefix(leading_space(s));
  s.remove_suffix(trailing_space(s));
  return s;
}

// DeepSeek arguments without the layout around them: whitespace and V3's closing code fence.
std::string_view strip_args(std::string_view s) {
  s = trim(s);
  if (s.size() >= 3 && s.substr(s.size() - 3) == "```") s = trim(s.substr(0, s.size() - 3));
  return s;
}

// A JSON tool call {"name": ..., "arguments"|"parameters": ...}; false if `text` is not one.
bool json_call(std::string_view text, ToolCall& out) {
  const auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string()) return false;
  out.name = j["name"].get<std::string>();
  const char* key = j.contains("arguments") ? "arguments" : j.contains("parameters") ? "parameters" : nullptr;
  if (!key) {
    out.arguments = "{}";
  } else if (j[key].is_string()) {
    out.arguments = j[key].get<std::string>();
  } else {
    out.arguments = j[key].dump();
  }
  return true;
}

// Llama 3.1's builtin-tool syntax: NAME.call(key="value", n=3).
bool builtin_call(std::string_view text, ToolCall& out) {
  const size_t dot = text.find(".call(");
  if (dot == std::string_view::npos || dot == 0 || text.back() != ')') return false;
  for (char c : text.substr(0, dot)) {
    if (!(std::isalnum((unsigned char)c) || c == '_')) return false;
  }
  out.name = std::string(text.substr(0, dot));
  std::string_view inner = text.substr(dot + 6, text.size() - dot - 7);
  nlohmann::ordered_json args = nlohmann::ordered_json::object();
  while (!trim(inner).empty()) {
    inner = trim(inner);
    const size_t eq = inner.find('=');
    if (eq == std::string_view::npos) return false;
    const std::string key(trim(inner.substr(0, eq)));
    inner = trim(inner.substr(eq + 1));
    size_t end = 0;
    std::string value;
    bool quoted = !inner.empty() && (inner[0] == '"' || inner[0] == '\'');
    if (quoted) {
      const char q = inner[0];
      for (end = 1; end < inner.size() && inner[end] != q; ++end) {
        if (inner[end] == '\\' && end + 1 < inner.size()) ++end;
        value += inner[end];
      }
      if (end >= inner.size()) return false;
      ++end;
      args[key] = value;
    } else {
      end = inner.find(',');
      if (end == std::string_view::npos) end = inner.size();
      const std::string raw(trim(inner.substr(0, end)));
      const auto v = nlohmann::ordered_json::parse(raw, nullptr, false);
      args[key] = v.is_discarded() ? nlohmann::ordered_json(raw) : v;
    }
    inner = trim(inner.substr(end));
    if (!inner.empty()) {
      if (inner[0] != ',') return false;
      inner.remove_prefix(1);
    }
  }
  out.arguments = args.dump();
  return true;
}

}  // namespace

void ToolCallParser::content_out(ContentDelta& d, std::string_view text) {
  if (after_call_) {
    text.remove_prefix(leading_space(text));
    if (text.empty()) return;
    after_call_ = false;
  }
  if (text.empty()) return;
  // Hold trailing whitespace: if a tool call follows, it is layout, not content.
  std::string all = held_ws_ + std::string(text);
  const size_t t = trailing_space(all);
  held_ws_ = all.substr(all.size() - t);
  d.content += all.substr(0, all.size() - t);
}

bool ToolCallParser::step_deepseek(ContentDelta& d, bool final) {
  const bool v3 = format_ == ToolFormat::DeepSeekV3;
  switch (state_) {
    case State::Content: {
      const size_t a = pending_.find(kCallsBegin), b = pending_.find(kCallBegin);
      const size_t at = std::min(a, b);
      if (at != std::string::npos) {
        content_out(d, std::string_view(pending_).substr(0, at));
        held_ws_.clear();
        pending_.erase(0, at + (at == a ? kCallsBegin.size() : kCallBegin.size()));
        state_ = at == a ? State::Section : State::Header;
        return true;
      }
      const size_t hold = final ? 0 : std::max(partial_suffix(pending_, kCallsBegin), partial_suffix(pending_, kCallBegin));
      content_out(d, std::string_view(pending_).substr(0, pending_.size() - hold));
      pending_.erase(0, pending_.size() - hold);
      return false;
    }
    case State::Section: {
      const size_t ws = leading_space(pending_);
      const std::string_view rest = std::string_view(pending_).substr(ws);
      if (starts_with(rest, kCallBegin)) {
        pending_.erase(0, ws + kCallBegin.size());
        state_ = State::Header;
        return true;
      }
      if (starts_with(rest, kCallsEnd)) {
        pending_.erase(0, ws + kCallsEnd.size());
        state_ = State::Content;
        after_call_ = true;
        return true;
      }
      if (is_prefix_of(rest, kCallBegin) || is_prefix_of(rest, kCallsEnd) || rest.empty()) {
        if (final) pending_.clear();  // cut off inside markup: drop it
        return false;
      }
      state_ = State::Content;  // not markup after all: the rest is text
      after_call_ = true;
      return true;
    }
    case State::Header: {
      const size_t sep = pending_.find(kSep);
      if (sep == std::string::npos) {
        if (final) pending_.clear();
        return false;
      }
      std::string name;
      if (v3) {  // TYPE<｜tool▁sep｜>NAME\n
        const size_t nl = pending_.find('\n', sep + kSep.size());
        if (nl == std::string::npos && !final) return false;
        name = std::string(trim(std::string_view(pending_).substr(sep + kSep.size(), nl == std::string::npos ? std::string::npos : nl - sep - kSep.size())));
        pending_.erase(0, nl == std::string::npos ? pending_.size() : nl + 1);
      } else {  // NAME<｜tool▁sep｜>
        name = std::string(trim(std::string_view(pending_).substr(0, sep)));
        pending_.erase(0, sep + kSep.size());
      }
      d.tool_calls.push_back({calls_++, name, ""});
      args_.clear();
      state_ = v3 ? State::Fence : State::Args;
      return true;
    }
    case State::Fence: {  // optional "```json\n"
      const size_t ws = leading_space(pending_);
      const std::string_view rest = std::string_view(pending_).substr(ws);
      if (!final && (rest.empty() || is_prefix_of(rest, "```"))) return false;
      if (starts_with(rest, "```")) {
        const size_t nl = pending_.find('\n', ws);
        if (nl == std::string::npos && !final) return false;
        pending_.erase(0, nl == std::string::npos ? pending_.size() : nl + 1);
      }
      state_ = State::Args;
      return true;
    }
    case State::Args: {
      const size_t end = pending_.find(kCallEnd);
      if (end != std::string::npos || final) {
        const std::string full = args_ + pending_.substr(0, end);
        const std::string_view args = strip_args(full);
        ToolCallDelta delta{calls_ - 1, "", std::string(args.size() > args_.size() ? args.substr(args_.size()) : "")};
        if (!delta.arguments.empty()) d.tool_calls.push_back(std::move(delta));
        pending_.erase(0, end == std::string::npos ? pending_.size() : end + kCallEnd.size());
        state_ = State::Section;
        return end != std::string::npos;
      }
      // Stream what is certainly argument text: not a possible start of the end marker, nor the
      // whitespace and backticks (the closing fence) that may precede it.
      if (args_.empty()) pending_.erase(0, leading_space(pending_));
      size_t keep = pending_.size() - partial_suffix(pending_, kCallEnd);
      while (keep > 0 && (is_ws(pending_[keep - 1]) || pending_[keep - 1] == '`')) --keep;
      if (keep > 0) {
        d.tool_calls.push_back({calls_ - 1, "", pending_.substr(0, keep)});
        args_ += pending_.substr(0, keep);
        pending_.erase(0, keep);
      }
      return false;
    }
    default: return false;
  }
}

bool ToolCallParser::step_qwen(ContentDelta& d, bool final) {
  if (state_ == State::Content) {
    const size_t at = pending_.find(kQwenOpen);
    if (at != std::string::npos) {
      content_out(d, std::string_view(pending_).substr(0, at));
      held_ws_.clear();
      pending_.erase(0, at + kQwenOpen.size());
      state_ = State::QwenCall;
      return true;
    }
    const size_t hold = final ? 0 : partial_suffix(pending_, kQwenOpen);
    content_out(d, std::string_view(pending_).substr(0, pending_.size() - hold));
    pending_.erase(0, pending_.size() - hold);
    return false;
  }
  const size_t end = pending_.find(kQwenClose);
  if (end == std::string::npos && !final) return false;
  const std::string body = pending_.substr(0, end);
  ToolCall call;
  if (json_call(trim(body), call)) {
    d.tool_calls.push_back({calls_, call.name, ""});
    d.tool_calls.push_back({calls_++, "", call.arguments});
    after_call_ = true;
  } else {
    // Not a well-formed call: show it as written.
    content_out(d, std::string(kQwenOpen) + body + (end == std::string::npos ? "" : std::string(kQwenClose)));
  }
  pending_.erase(0, end == std::string::npos ? pending_.size() : end + kQwenClose.size());
  state_ = State::Content;
  return end != std::string::npos;
}

void ToolCallParser::llama_finish(ContentDelta& d) {
  std::string_view text = trim(pending_);
  ToolCall call;
  bool ok = false;
  if (starts_with(text, kPythonTag)) {
    text = trim(text.substr(kPythonTag.size()));
    ok = json_call(text, call) || builtin_call(text, call);
    if (!ok) {
      content_out(d, text);
      pending_.clear();
      return;
    }
  } else {
    ok = json_call(text, call);
  }
  if (ok) {
    held_ws_.clear();
    d.tool_calls.push_back({calls_, call.name, ""});
    d.tool_calls.push_back({calls_++, "", call.arguments});
  } else {
    content_out(d, pending_);
  }
  pending_.clear();
}

bool ToolCallParser::step_llama(ContentDelta& d, bool final) {
  if (state_ == State::LlamaStart) {
    // A tool call is the whole answer: JSON, or <|python_tag|> then the call. Decide on the first
    // non-space characters; then hold everything until the end.
    const std::string_view rest = std::string_view(pending_).substr(leading_space(pending_));
    if (rest.empty() || (!final && is_prefix_of(rest, kPythonTag))) {
      if (final) llama_finish(d);
      return false;
    }
    state_ = rest[0] == '{' || starts_with(rest, kPythonTag) ? State::LlamaWhole : State::Content;
    return true;
  }
  if (state_ == State::LlamaWhole) {
    if (final) llama_finish(d);
    return false;
  }
  const size_t at = pending_.find(kPythonTag);
  if (at != std::string::npos) {
    content_out(d, std::string_view(pending_).substr(0, at));
    pending_.erase(0, at);
    state_ = State::LlamaWhole;
    return true;
  }
  const size_t hold = final ? 0 : partial_suffix(pending_, kPythonTag);
  content_out(d, std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return false;
}

ContentDelta ToolCallParser::feed(std::string_view text) {
  ContentDelta d;
  if (format_ == ToolFormat::None) {
    d.content = std::string(text);
    return d;
  }
  if (!started_) {
    started_ = true;
    if (format_ == ToolFormat::Llama31) state_ = State::LlamaStart;
  }
  pending_ += text;
  for (;;) {
    const bool more = format_ == ToolFormat::Qwen      ? step_qwen(d, false)
                      : format_ == ToolFormat::Llama31 ? step_llama(d, false)
                                                       : step_deepseek(d, false);
    if (!more) return d;
  }
}

ContentDelta ToolCallParser::finish() {
  ContentDelta d;
  if (format_ == ToolFormat::None) return d;
  if (!started_) {
    started_ = true;
    if (format_ == ToolFormat::Llama31) state_ = State::LlamaStart;
  }
  // With final=true every step consumes its input (markup cut off mid-way is dropped), so this ends.
  for (;;) {
    const bool more = format_ == ToolFormat::Qwen      ? step_qwen(d, true)
                      : format_ == ToolFormat::Llama31 ? step_llama(d, true)
                                                       : step_deepseek(d, true);
    if (!more) break;
  }
  pending_.clear();
  if (!after_call_) d.content += held_ws_;
  held_ws_.clear();
  return d;
}

ChatDelta ChatOutputParser::feed(std::string_view text) {
  ReasoningDelta r = reasoning_.feed(text);
  ContentDelta c = tools_.feed(r.content);
  return {std::move(r.reasoning), std::move(c.content), std::move(c.tool_calls)};
}

ChatDelta ChatOutputParser::finish() {
  ReasoningDelta r = reasoning_.finish();
  ContentDelta a = tools_.feed(r.content);
  ContentDelta b = tools_.finish();
  ChatDelta d{std::move(r.reasoning), a.content + b.content, std::move(a.tool_calls)};
  d.tool_calls.insert(d.tool_calls.end(), b.tool_calls.begin(), b.tool_calls.end());
  return d;
}

void apply_delta(ChatMessageOut& m, const ChatDelta& d) {
  m.reasoning_content += d.reasoning;
  m.content += d.content;
  for (const ToolCallDelta& t : d.tool_calls) {
    if (t.index >= m.tool_calls.size()) m.tool_calls.resize(t.index + 1);
    if (!t.name.empty()) m.tool_calls[t.index].name = t.name;
    m.tool_calls[t.index].arguments += t.arguments;
  }
}

ChatMessageOut parse_chat_output(std::string_view output, ToolFormat format, const ReasoningParser::Options& reasoning) {
  ChatOutputParser p(format, reasoning);
  ChatMessageOut m;
  apply_delta(m, p.feed(output));
  apply_delta(m, p.finish());
  return m;
}

ToolFormat tool_format_for_template(std::string_view t) {
  if (t.find(kCallBegin) != std::string_view::npos) {
    // V3.1 puts the name before the separator and no "function" type or code fence.
    return t.find("'<｜tool▁sep｜>' + tool['function']['arguments']") != std::string_view::npos ? ToolFormat::DeepSeekV31
                                                                                                : ToolFormat::DeepSeekV3;
  }
  if (t.find(kQwenOpen) != std::string_view::npos) return ToolFormat::Qwen;
  if (t.find(kPythonTag) != std::string_view::npos || t.find("\"parameters\": ") != std::string_view::npos) {
    return ToolFormat::Llama31;
  }
  return ToolFormat::None;
}

}  // namespace r1::chat
