#include "server/completion.h"

#include <fmt/format.h>

#include <atomic>
#include <random>

#include "core/error.h"
#include "server/api_error.h"
#include "server/json_constraint.h"
#include "server/output_control.h"

namespace r1::server {

namespace {

using json = nlohmann::json;

std::string new_id(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  return fmt::format("{}{:08x}{:08x}", prefix, salt & 0xffffffffu, counter.fetch_add(1) + 1);
}

// response_format as a TokenConstraint: the JSON grammar restricts the content phase.
class JsonContent : public TokenConstraint {
 public:
  JsonContent(std::unique_ptr<JsonConstraint> c, int64_t vocab) : c_(std::move(c)), vocab_(vocab) {}
  // The model's whole row: ids past the tokenizer's vocabulary (embedding padding) are masked too.
  void mask(float* logits, std::span<const int32_t> end_tokens) override {
    c_->mask(std::span<float>(logits, size_t(vocab_)), end_tokens);
  }
  void accept(int32_t token) override { c_->accept(token); }
  bool complete() const override { return c_->complete(); }

 private:
  std::unique_ptr<JsonConstraint> c_;
  int64_t vocab_;
};

// The markup a family's template teaches around a tool call: the opening up to where the model
// chooses (the function name when `name` is empty, else the arguments), and the closing after the
// arguments.
std::string tool_call_opening(chat::ToolFormat f, const std::string& name) {
  switch (f) {
    case chat::ToolFormat::DeepSeekV3:
      return "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>" + (name.empty() ? "" : name + "\n```json\n");
    case chat::ToolFormat::DeepSeekV31:
      return "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>" + (name.empty() ? "" : name + "<｜tool▁sep｜>");
    case chat::ToolFormat::Qwen:
      return "<tool_call>\n{\"name\": \"" + (name.empty() ? "" : name + "\", \"arguments\": ");
    case chat::ToolFormat::Llama31:
      return "{\"name\": \"" + (name.empty() ? "" : name + "\", \"parameters\": ");
    case chat::ToolFormat::None: return "";
  }
  return "";
}

std::string tool_call_closing(chat::ToolFormat f) {
  switch (f) {
    case chat::ToolFormat::DeepSeekV3: return "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
    case chat::ToolFormat::DeepSeekV31: return "<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
    case chat::ToolFormat::Qwen: return "}\n</tool_call>";
    case chat::ToolFormat::Llama31: return "}";
    case chat::ToolFormat::None: return "";
  }
  return "";
}

}  // namespace

Completion::Completion(const ServedModel& served, CompletionParams params)
    : m_(served), p_(std::move(params)), id_(new_id(p_.chat ? "chatcmpl-" : "cmpl-")),
      decoder_(*served.tokenizer, /*skip_special=*/true) {
  const tok::Tokenizer& tok = *m_.tokenizer;
  if (p_.chat) {
    if (!m_.chat_template) {
      throw ApiError(400, fmt::format("Model '{}' has no chat template; use /v1/completions.", m_.id), "messages",
                     "chat_template_missing");
    }
    chat::ChatRequest req;
    req.messages = p_.messages;
    req.add_generation_prompt = true;
    if (p_.tool_choice != ToolChoice::None) req.tools = p_.tools;
    req.vars = p_.template_vars;
    std::string text;
    try {
      text = m_.chat_template->render(req);
    } catch (const Error& e) {
      throw ApiError(400, fmt::format("The chat template rejected the conversation: {}", e.what()), "messages",
                     "invalid_conversation");
    }
    starts_in_reasoning_ = chat::starts_in_reasoning(text);
    prompt_ = tok.encode(text, false);
    chat::ReasoningParser::Options ro;
    ro.starts_in_reasoning = starts_in_reasoning_;
    const chat::ToolFormat tf = p_.tools.is_null() ? chat::ToolFormat::None : m_.tool_format;
    if (p_.reasoning_inline) {
      inline_parser_.emplace(tf);
      inline_open_pending_ = starts_in_reasoning_;
    }
    else chat_parser_.emplace(tf, ro);
    reasoning_open_ = starts_in_reasoning_;
  } else {
    prompt_ = tok.encode(p_.prompt, true);
  }
  if (prompt_.empty()) bad_param(p_.chat ? "messages" : "prompt", "The prompt is empty after tokenization.");
  const int64_t n = int64_t(prompt_.size());
  if (n >= m_.context) {
    throw ApiError(400, fmt::format("This model's maximum context length is {} tokens. However, your {} resulted in {} tokens.",
                                    m_.context, p_.chat ? "messages" : "prompt", n),
                   p_.chat ? "messages" : "prompt", "context_length_exceeded");
  }
  if (p_.max_tokens && n + *p_.max_tokens > m_.context) {
    throw ApiError(400, fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens "
                                    "({} in the {}, {} in the completion). Please reduce the length of the {} or completion.",
                                    m_.context, n + *p_.max_tokens, n, p_.chat ? "messages" : "prompt", *p_.max_tokens,
                                    p_.chat ? "messages" : "prompt"),
                   p_.chat ? "max_tokens" : "max_tokens", "context_length_exceeded");
  }
}

SequenceRequest Completion::take_request() {
  SequenceRequest r;
  r.prompt = prompt_;
  r.max_tokens = p_.max_tokens.value_or(m_.context - int64_t(prompt_.size()));
  r.sampling = p_.sampling;
  if (!p_.seeded) r.sampling.seed = std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32);
  r.stop_tokens = m_.stop_tokens;
  r.top_logprobs = p_.logprobs ? p_.top_logprobs : -1;

  OutputControl::Options oc;
  oc.vocab = m_.model->config().vocab_size;
  oc.starts_in_reasoning = starts_in_reasoning_ && !m_.close_reasoning.empty();
  oc.reasoning_budget = p_.reasoning_budget;
  oc.close_reasoning = m_.close_reasoning;
  auto json_constraint = [&](const nlohmann::json* schema, const char* param) -> std::unique_ptr<TokenConstraint> {
    if (!m_.json_vocab) bad_param(param, "Structured output is not available for this model.", "unsupported_value");
    try {
      return std::make_unique<JsonContent>(schema ? JsonConstraint::from_schema(*schema, *m_.json_vocab)
                                                  : JsonConstraint::any_object(*m_.json_vocab),
                                           m_.model->config().vocab_size);
    } catch (const Error& e) {
      bad_param(param, e.what(), "unsupported_schema");
    }
  };
  if (p_.chat && (p_.tool_choice == ToolChoice::Required || p_.tool_choice == ToolChoice::Named)) {
    if (m_.tool_format == chat::ToolFormat::None) {
      bad_param("tool_choice", "This model's chat template has no tool-call format to force.", "unsupported_value");
    }
    // A known function: its name is written for the model and its arguments follow the parameters
    // schema, then the call is closed. Several to choose from: only the opening is forced.
    std::string name = p_.tool_name;
    if (name.empty() && p_.tools.size() == 1) name = p_.tools[0]["function"]["name"].get<std::string>();
    oc.prefix = m_.tokenizer->encode(tool_call_opening(m_.tool_format, name), false);
    if (!name.empty()) {
      const nlohmann::json* schema = nullptr;
      nlohmann::json parameters;
      for (const auto& t : p_.tools) {
        if (t["function"]["name"] == name && t["function"].contains("parameters")) {
          parameters = nlohmann::json::parse(t["function"]["parameters"].dump());
          schema = &parameters;
        }
      }
      oc.content = json_constraint(schema, "tools");
      oc.suffix = m_.tokenizer->encode(tool_call_closing(m_.tool_format), false);
    }
  }
  if (p_.format != ResponseFormat::Text) {
    oc.content = json_constraint(p_.format == ResponseFormat::JsonSchema ? &p_.schema : nullptr,
                                 "response_format.json_schema.schema");
  }
  if (oc.starts_in_reasoning || !oc.prefix.empty() || oc.content) r.constraint = std::make_unique<OutputControl>(std::move(oc));
  return r;
}

std::string Completion::dump(const json& j) const { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json Completion::logprob_entry(int32_t token, float logprob) const {
  const std::string_view b = m_.tokenizer->id_to_bytes(token);
  json bytes = json::array();
  for (unsigned char c : b) bytes.push_back(int(c));
  return {{"token", std::string(b)}, {"logprob", logprob}, {"bytes", bytes}};
}

// Text from the detokenizer goes through the stop-string filter: what could still be the start of a
// stop string is held until the next token decides.
void Completion::push_text(const std::string& text, bool final) {
  held_ += text;
  std::string out;
  size_t cut = std::string::npos;
  for (const auto& s : p_.stop) cut = std::min(cut, held_.find(s));
  if (cut != std::string::npos) {
    out = held_.substr(0, cut);
    held_.clear();
    stopped_ = true;
  } else if (final) {
    out.swap(held_);
  } else {
    size_t keep = 0;  // the longest tail of held_ that begins some stop string
    for (const auto& s : p_.stop) {
      for (size_t k = std::min(s.size() - 1, held_.size()); k > keep; --k) {
        if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
          keep = k;
          break;
        }
      }
    }
    out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
  }
  raw_text_ += out;
  Delta d;
  route(out, final || stopped_, d);
  if (p_.chat) {
    chat::ChatDelta cd{d.reasoning, d.content, d.tool_calls};
    chat::apply_delta(message_, cd);
  } else {
    text_ += d.content;
  }
}

// Splits filtered text into reasoning, content and tool calls (chat), or passes it on (completions).
void Completion::route(const std::string& text, bool final, Delta& d) {
  if (!p_.chat) {
    d.content = text;
    return;
  }
  if (chat_parser_) {
    chat::ChatDelta a = chat_parser_->feed(text);
    d.reasoning = std::move(a.reasoning);
    d.content = std::move(a.content);
    d.tool_calls = std::move(a.tool_calls);
    if (final) {
      chat::ChatDelta b = chat_parser_->finish();
      d.reasoning += b.reasoning;
      d.content += b.content;
      d.tool_calls.insert(d.tool_calls.end(), b.tool_calls.begin(), b.tool_calls.end());
    }
    return;
  }
  // Inline reasoning: the text as generated, with the "<think>" the prompt opened put back in front.
  std::string t = text;
  if (inline_open_pending_ && !t.empty()) {
    t = "<think>\n" + t;
    inline_open_pending_ = false;
  }
  chat::ContentDelta a = inline_parser_->feed(t);
  d.content = std::move(a.content);
  d.tool_calls = std::move(a.tool_calls);
  if (final) {
    chat::ContentDelta b = inline_parser_->finish();
    d.content += b.content;
    d.tool_calls.insert(d.tool_calls.end(), b.tool_calls.begin(), b.tool_calls.end());
  }
}

json Completion::chunk(json delta_or_text, const json& finish_reason) {
  json choice;
  if (p_.chat) {
    choice = {{"index", 0}, {"delta", std::move(delta_or_text)}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
    if (p_.logprobs && !logprobs_.empty()) {
      choice["logprobs"] = {{"content", logprobs_}};
      logprobs_ = json::array();
    }
  } else {
    choice = {{"index", 0}, {"text", std::move(delta_or_text)}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
    if (p_.logprobs && !logprobs_.empty()) {
      json tokens = json::array(), lps = json::array(), tops = json::array();
      for (const auto& e : logprobs_) {
        tokens.push_back(e["token"]);
        lps.push_back(e["logprob"]);
        json top = json::object();
        for (const auto& t : e["top_logprobs"]) top[t["token"].get<std::string>()] = t["logprob"];
        tops.push_back(top);
      }
      choice["logprobs"] = {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}};
      logprobs_ = json::array();
    }
  }
  json c = {{"id", id_},
            {"object", p_.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", m_.created},
            {"model", m_.id},
            {"system_fingerprint", "r1.cpp"},
            {"choices", json::array({std::move(choice)})}};
  if (p_.include_usage) c["usage"] = nullptr;
  return c;
}

std::vector<std::string> Completion::on_token(const TokenEvent& e) {
  ++generated_;
  if (reasoning_open_) {
    ++reasoning_tokens_;
    if (!m_.close_reasoning.empty() && e.token == m_.close_reasoning.back()) reasoning_open_ = false;
  }
  if (p_.logprobs) {
    json entry = logprob_entry(e.token, e.logprob);
    json top = json::array();
    for (const auto& [id, lp] : e.top) top.push_back(logprob_entry(id, lp));
    entry["top_logprobs"] = top;
    logprobs_.push_back(std::move(entry));
  }
  const Mark before = mark();
  const size_t text_before = text_.size();
  push_text(decoder_.push(e.token), false);
  if (!p_.stream) return {};

  std::vector<std::string> out;
  if (p_.chat && !role_sent_) {
    role_sent_ = true;
    out.push_back(dump(chunk({{"role", "assistant"}, {"content", ""}}, nullptr)));
  }
  if (!p_.chat) {
    if (text_.size() > text_before || !logprobs_.empty()) out.push_back(dump(chunk(text_.substr(text_before), nullptr)));
    return out;
  }
  json delta = message_delta(before);
  if (!delta.empty() || !logprobs_.empty()) out.push_back(dump(chunk(delta, nullptr)));
  return out;
}

// What the message gained since `before`: more reasoning, more content, new or longer tool calls (a
// new call carries its id, type and name; later deltas only append to its arguments).
Completion::Mark Completion::mark() const {
  Mark m{message_.reasoning_content.size(), message_.content.size(), {}};
  for (const auto& c : message_.tool_calls) m.arguments.push_back(c.arguments.size());
  return m;
}

json Completion::message_delta(const Mark& before) {
  json delta = json::object();
  if (message_.reasoning_content.size() > before.reasoning) delta["reasoning_content"] = message_.reasoning_content.substr(before.reasoning);
  if (message_.content.size() > before.content) delta["content"] = message_.content.substr(before.content);
  json calls = json::array();
  for (size_t i = 0; i < message_.tool_calls.size(); ++i) {
    const bool is_new = i >= before.arguments.size();
    const std::string& args = message_.tool_calls[i].arguments;
    const size_t old_len = is_new ? 0 : before.arguments[i];
    if (!is_new && args.size() == old_len) continue;
    json call = {{"index", i}};
    if (is_new) {
      tool_ids_.push_back(new_id("call_"));
      call["id"] = tool_ids_.back();
      call["type"] = "function";
      call["function"] = {{"name", message_.tool_calls[i].name}, {"arguments", args}};
    } else {
      call["function"] = {{"arguments", args.substr(old_len)}};
    }
    calls.push_back(std::move(call));
  }
  if (!calls.empty()) delta["tool_calls"] = calls;
  return delta;
}

json Completion::usage(int64_t cached) const {
  json u = {{"prompt_tokens", prompt_.size()},
            {"completion_tokens", generated_},
            {"total_tokens", int64_t(prompt_.size()) + generated_},
            {"prompt_tokens_details", {{"cached_tokens", cached}}}};
  if (p_.chat) u["completion_tokens_details"] = {{"reasoning_tokens", reasoning_tokens_}};
  return u;
}

std::vector<std::string> Completion::finish(FinishReason reason, int64_t cached) {
  // Flush what the detokenizer, the stop filter and the parsers still hold, as one last delta.
  const Mark before = mark();
  const size_t text_before = text_.size();
  if (!stopped_) push_text(decoder_.finish(), true);
  std::string why = reason == FinishReason::Length || reason == FinishReason::ContextFull ? "length" : "stop";
  if (stopped_) why = "stop";
  if (!message_.tool_calls.empty() && why == "stop") why = "tool_calls";

  std::vector<std::string> out;
  if (p_.stream) {
    if (p_.chat && !role_sent_) out.push_back(dump(chunk({{"role", "assistant"}, {"content", ""}}, nullptr)));
    if (p_.chat) {
      const json delta = message_delta(before);
      out.push_back(dump(chunk(delta, why)));
    } else {
      out.push_back(dump(chunk(text_.substr(text_before), why)));
    }
    if (p_.include_usage) {
      json u = chunk(json::object(), nullptr);
      u["choices"] = json::array();
      u["usage"] = usage(cached);
      out.push_back(dump(u));
    }
    return out;
  }

  json choice;
  if (p_.chat) {
    json msg = {{"role", "assistant"}};
    msg["content"] = message_.content.empty() && !message_.tool_calls.empty() ? json(nullptr) : json(message_.content);
    if (!message_.reasoning_content.empty()) msg["reasoning_content"] = message_.reasoning_content;
    if (!message_.tool_calls.empty()) {
      json calls = json::array();
      for (size_t i = 0; i < message_.tool_calls.size(); ++i) {
        calls.push_back({{"id", new_id("call_")},
                         {"type", "function"},
                         {"function", {{"name", message_.tool_calls[i].name}, {"arguments", message_.tool_calls[i].arguments}}}});
      }
      msg["tool_calls"] = calls;
    }
    choice = {{"index", 0}, {"message", msg}, {"logprobs", nullptr}, {"finish_reason", why}};
    if (p_.logprobs) choice["logprobs"] = {{"content", logprobs_}};
  } else {
    choice = chunk(p_.echo ? p_.prompt + text_ : text_, why)["choices"][0];
  }
  json r = {{"id", id_},
            {"object", p_.chat ? "chat.completion" : "text_completion"},
            {"created", m_.created},
            {"model", m_.id},
            {"system_fingerprint", "r1.cpp"},
            {"choices", json::array({choice})},
            {"usage", usage(cached)}};
  return {dump(r)};
}

}  // namespace r1::server
