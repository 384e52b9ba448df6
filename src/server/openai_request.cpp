#include "server/openai_request.h"

#include <fmt/format.h>

#include <set>

#include "server/api_error.h"

namespace r1::server {

namespace {

using json = nlohmann::json;

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    default: return "something else";
  }
}

[[noreturn]] void wrong_type(const std::string& param, const std::string& expected, const json& got) {
  throw ApiError(400, fmt::format("Invalid type for '{}': expected {}, but got {} instead.", param, expected, type_name(got)),
                 param, "invalid_type");
}

// A field that is absent or null counts as not given (clients send explicit nulls for defaults).
const json* field(const json& obj, const char* name) {
  const auto it = obj.find(name);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

bool get_bool(const json& v, const std::string& param) {
  if (!v.is_boolean()) wrong_type(param, "a boolean", v);
  return v.get<bool>();
}

double get_number(const json& v, const std::string& param, double lo, double hi) {
  if (!v.is_number()) wrong_type(param, "a number", v);
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi)) bad_param(param, fmt::format("'{}' must be between {} and {}, got {}.", param, lo, hi, x));
  return x;
}

int64_t get_int(const json& v, const std::string& param, int64_t lo, int64_t hi) {
  if (!v.is_number_integer() && !v.is_number_unsigned()) wrong_type(param, "an integer", v);
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) {
    bad_param(param, fmt::format("'{}' must be at most {}.", param, hi));
  }
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) bad_param(param, fmt::format("'{}' must be between {} and {}, got {}.", param, lo, hi, x));
  return x;
}

void refuse_unknown(const json& body, const std::set<std::string>& known) {
  for (const auto& [key, value] : body.items()) {
    if (!known.contains(key)) {
      throw ApiError(400, fmt::format("Unrecognized request argument supplied: {}", key), key, "unknown_parameter");
    }
  }
}

// The parameters both endpoints share.
void parse_common(const json& body, CompletionParams& p) {
  if (const json* v = field(body, "model")) {
    if (!v->is_string()) wrong_type("model", "a string", *v);
    p.model = v->get<std::string>();
  }
  if (const json* v = field(body, "stream")) p.stream = get_bool(*v, "stream");
  if (const json* v = field(body, "stream_options")) {
    if (!v->is_object()) wrong_type("stream_options", "an object", *v);
    if (!p.stream) bad_param("stream_options", "'stream_options' is only allowed when 'stream' is true.");
    for (const auto& [key, value] : v->items()) {
      if (key != "include_usage") bad_param("stream_options." + key, fmt::format("Unrecognized stream option: {}", key), "unknown_parameter");
    }
    if (const json* u = field(*v, "include_usage")) p.include_usage = get_bool(*u, "stream_options.include_usage");
  }
  if (const json* v = field(body, "max_tokens")) p.max_tokens = get_int(*v, "max_tokens", 1, INT32_MAX);
  if (const json* v = field(body, "temperature")) p.sampling.temperature = float(get_number(*v, "temperature", 0, 2));
  if (const json* v = field(body, "top_p")) {
    p.sampling.top_p = float(get_number(*v, "top_p", 0, 1));
    if (p.sampling.top_p <= 0) bad_param("top_p", "'top_p' must be greater than 0.");
  }
  if (const json* v = field(body, "presence_penalty")) p.sampling.presence_penalty = float(get_number(*v, "presence_penalty", -2, 2));
  if (const json* v = field(body, "frequency_penalty")) p.sampling.frequency_penalty = float(get_number(*v, "frequency_penalty", -2, 2));
  if (const json* v = field(body, "seed")) {
    if (!v->is_number_integer() && !v->is_number_unsigned()) wrong_type("seed", "an integer", *v);
    p.sampling.seed = v->is_number_unsigned() ? v->get<uint64_t>() : uint64_t(v->get<int64_t>());
    p.seeded = true;
  }
  // Extensions many local clients send (llama.cpp, vLLM): top_k, min_p, repetition_penalty.
  if (const json* v = field(body, "top_k")) p.sampling.top_k = int(get_int(*v, "top_k", 0, 1 << 30));
  if (const json* v = field(body, "min_p")) p.sampling.min_p = float(get_number(*v, "min_p", 0, 1));
  if (const json* v = field(body, "repetition_penalty")) {
    p.sampling.repetition_penalty = float(get_number(*v, "repetition_penalty", 0, 10));
    if (p.sampling.repetition_penalty <= 0) bad_param("repetition_penalty", "'repetition_penalty' must be greater than 0.");
  }
  if (const json* v = field(body, "stop")) {
    if (v->is_string()) {
      p.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > 4) bad_param("stop", "'stop' takes at most 4 sequences.");
      for (const auto& s : *v) {
        if (!s.is_string()) wrong_type("stop", "a string or an array of strings", *v);
        p.stop.push_back(s.get<std::string>());
      }
    } else {
      wrong_type("stop", "a string or an array of strings", *v);
    }
    for (const auto& s : p.stop) {
      if (s.empty()) bad_param("stop", "'stop' sequences must not be empty.");
    }
  }
  if (const json* v = field(body, "n")) {
    if (get_int(*v, "n", 1, 128) != 1) bad_param("n", "Only n = 1 is supported.", "unsupported_value");
  }
  if (const json* v = field(body, "user")) {
    if (!v->is_string()) wrong_type("user", "a string", *v);
  }
  if (const json* v = field(body, "logit_bias")) {
    if (!v->is_object()) wrong_type("logit_bias", "an object", *v);
    if (!v->empty()) bad_param("logit_bias", "'logit_bias' is not supported.", "unsupported_parameter");
  }
}

std::string text_content(const json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) wrong_type(param, "a string or an array of content parts", content);
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string pp = fmt::format("{}[{}]", param, i);
    if (!part.is_object()) wrong_type(pp, "an object", part);
    const json* type = field(part, "type");
    if (!type || !type->is_string()) bad_param(pp + ".type", "Each content part needs a string 'type'.", "missing_required_parameter");
    if (*type != "text") {
      bad_param(pp + ".type", fmt::format("Content parts of type '{}' are not supported by this model.", type->get<std::string>()),
                "unsupported_value");
    }
    const json* t = field(part, "text");
    if (!t || !t->is_string()) bad_param(pp + ".text", "A text content part needs a string 'text'.", "missing_required_parameter");
    text += t->get<std::string>();
  }
  return text;
}

nlohmann::ordered_json parse_messages(const json& messages) {
  if (!messages.is_array()) wrong_type("messages", "an array", messages);
  if (messages.empty()) bad_param("messages", "'messages' must contain at least one message.", "empty_array");
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string pm = fmt::format("messages[{}]", i);
    if (!m.is_object()) wrong_type(pm, "an object", m);
    const json* role = field(m, "role");
    if (!role) bad_param(pm + ".role", "Missing required parameter: '" + pm + ".role'.", "missing_required_parameter");
    if (!role->is_string()) wrong_type(pm + ".role", "a string", *role);
    std::string r = role->get<std::string>();
    static const std::set<std::string> roles = {"system", "developer", "user", "assistant", "tool"};
    if (!roles.contains(r)) {
      bad_param(pm + ".role", fmt::format("Invalid value: '{}'. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.", r));
    }
    if (r == "developer") r = "system";  // the newer name; chat templates know "system"
    nlohmann::ordered_json msg = {{"role", r}};
    const json* content = field(m, "content");
    const json* calls = field(m, "tool_calls");
    if (content) {
      msg["content"] = text_content(*content, pm + ".content");
    } else if (r != "assistant" || !calls) {
      bad_param(pm + ".content", "Missing required parameter: '" + pm + ".content'.", "missing_required_parameter");
    } else {
      msg["content"] = nullptr;
    }
    if (calls) {
      if (r != "assistant") bad_param(pm + ".tool_calls", "Only assistant messages can have 'tool_calls'.");
      if (!calls->is_array()) wrong_type(pm + ".tool_calls", "an array", *calls);
      nlohmann::ordered_json list = nlohmann::ordered_json::array();
      for (size_t k = 0; k < calls->size(); ++k) {
        const json& c = (*calls)[k];
        const std::string pc = fmt::format("{}.tool_calls[{}]", pm, k);
        const json* fn = c.is_object() ? field(c, "function") : nullptr;
        if (!fn || !fn->is_object() || !field(*fn, "name") || !(*fn)["name"].is_string()) {
          bad_param(pc + ".function", "Each tool call needs a 'function' with a string 'name'.", "missing_required_parameter");
        }
        std::string args = "{}";
        if (const json* a = field(*fn, "arguments")) {
          if (!a->is_string()) wrong_type(pc + ".function.arguments", "a string", *a);
          args = a->get<std::string>();
        }
        nlohmann::ordered_json call = {{"type", "function"},
                                       {"function", {{"name", (*fn)["name"]}, {"arguments", args}}}};
        if (const json* id = field(c, "id")) call["id"] = *id;
        list.push_back(call);
      }
      msg["tool_calls"] = list;
    }
    if (r == "tool") {
      if (const json* id = field(m, "tool_call_id")) msg["tool_call_id"] = *id;
    }
    if (const json* name = field(m, "name")) {
      if (!name->is_string()) wrong_type(pm + ".name", "a string", *name);
      msg["name"] = *name;
    }
    out.push_back(std::move(msg));
  }
  return out;
}

nlohmann::ordered_json parse_tools(const json& tools) {
  if (!tools.is_array()) wrong_type("tools", "an array", tools);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  std::set<std::string> names;
  for (size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    const std::string pt = fmt::format("tools[{}]", i);
    if (!t.is_object()) wrong_type(pt, "an object", t);
    const json* type = field(t, "type");
    if (!type || *type != "function") bad_param(pt + ".type", "Only tools of type 'function' are supported.");
    const json* fn = field(t, "function");
    if (!fn || !fn->is_object()) bad_param(pt + ".function", "Missing required parameter: '" + pt + ".function'.", "missing_required_parameter");
    const json* name = field(*fn, "name");
    if (!name || !name->is_string() || name->get<std::string>().empty()) {
      bad_param(pt + ".function.name", "Each function needs a non-empty string 'name'.", "missing_required_parameter");
    }
    if (!names.insert(name->get<std::string>()).second) bad_param(pt + ".function.name", "Function names must be unique.");
    if (const json* params = field(*fn, "parameters"); params && !params->is_object()) {
      wrong_type(pt + ".function.parameters", "an object", *params);
    }
    out.push_back(nlohmann::ordered_json::parse(t.dump()));  // keeps the client's key order for the template
  }
  return out;
}

void parse_tool_choice(const json& v, CompletionParams& p) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "none") p.tool_choice = ToolChoice::None;
    else if (s == "auto") p.tool_choice = ToolChoice::Auto;
    else if (s == "required") p.tool_choice = ToolChoice::Required;
    else bad_param("tool_choice", fmt::format("Invalid value: '{}'. Supported values are: 'none', 'auto' and 'required'.", s));
  } else if (v.is_object()) {
    const json* fn = field(v, "function");
    if (!fn || !fn->is_object() || !field(*fn, "name") || !(*fn)["name"].is_string()) {
      bad_param("tool_choice.function.name", "A named tool_choice needs 'function': {'name': ...}.", "missing_required_parameter");
    }
    p.tool_choice = ToolChoice::Named;
    p.tool_name = (*fn)["name"].get<std::string>();
  } else {
    wrong_type("tool_choice", "a string or an object", v);
  }
  if (p.tool_choice == ToolChoice::Required || p.tool_choice == ToolChoice::Named) {
    if (p.tools.is_null() || p.tools.empty()) bad_param("tool_choice", "'tool_choice' needs 'tools' to choose from.");
  }
  if (p.tool_choice == ToolChoice::Named) {
    bool found = false;
    for (const auto& t : p.tools) found = found || t["function"]["name"] == p.tool_name;
    if (!found) bad_param("tool_choice", fmt::format("Function '{}' is not among the tools.", p.tool_name));
  }
}

void parse_response_format(const json& v, CompletionParams& p) {
  if (!v.is_object()) wrong_type("response_format", "an object", v);
  const json* type = field(v, "type");
  if (!type || !type->is_string()) bad_param("response_format.type", "Missing required parameter: 'response_format.type'.", "missing_required_parameter");
  const std::string t = type->get<std::string>();
  if (t == "text") {
    p.format = ResponseFormat::Text;
  } else if (t == "json_object") {
    p.format = ResponseFormat::JsonObject;
  } else if (t == "json_schema") {
    const json* js = field(v, "json_schema");
    if (!js || !js->is_object()) bad_param("response_format.json_schema", "Missing required parameter: 'response_format.json_schema'.", "missing_required_parameter");
    const json* name = field(*js, "name");
    if (!name || !name->is_string()) bad_param("response_format.json_schema.name", "Missing required parameter: 'response_format.json_schema.name'.", "missing_required_parameter");
    const json* schema = field(*js, "schema");
    if (!schema) bad_param("response_format.json_schema.schema", "Missing required parameter: 'response_format.json_schema.schema'.", "missing_required_parameter");
    if (!schema->is_object()) wrong_type("response_format.json_schema.schema", "an object", *schema);
    p.format = ResponseFormat::JsonSchema;
    p.schema = *schema;
  } else {
    bad_param("response_format.type", fmt::format("Invalid value: '{}'. Supported values are: 'text', 'json_object' and 'json_schema'.", t));
  }
}

}  // namespace

CompletionParams parse_chat_request(const json& body) {
  if (!body.is_object()) throw ApiError(400, "The request body must be a JSON object.");
  refuse_unknown(body, {"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
                        "temperature", "top_p", "seed", "stop", "presence_penalty", "frequency_penalty", "n", "user",
                        "logit_bias", "logprobs", "top_logprobs", "response_format", "tools", "tool_choice",
                        "parallel_tool_calls", "store", "metadata", "top_k", "min_p", "repetition_penalty",
                        "reasoning_format", "reasoning_budget", "chat_template_kwargs"});
  CompletionParams p;
  p.chat = true;
  parse_common(body, p);
  const json* messages = field(body, "messages");
  if (!messages) bad_param("messages", "Missing required parameter: 'messages'.", "missing_required_parameter");
  p.messages = parse_messages(*messages);
  if (const json* v = field(body, "max_completion_tokens")) p.max_tokens = get_int(*v, "max_completion_tokens", 1, INT32_MAX);
  if (const json* v = field(body, "logprobs")) p.logprobs = get_bool(*v, "logprobs");
  if (const json* v = field(body, "top_logprobs")) {
    p.top_logprobs = int(get_int(*v, "top_logprobs", 0, 20));
    if (!p.logprobs) bad_param("top_logprobs", "'top_logprobs' requires 'logprobs' to be true.");
  }
  if (const json* v = field(body, "tools")) {
    p.tools = parse_tools(*v);
    if (p.tools.empty()) p.tools = nullptr;
  }
  if (const json* v = field(body, "tool_choice")) parse_tool_choice(*v, p);
  if (const json* v = field(body, "parallel_tool_calls")) get_bool(*v, "parallel_tool_calls");
  if (const json* v = field(body, "response_format")) parse_response_format(*v, p);
  if (p.format != ResponseFormat::Text && (p.tool_choice == ToolChoice::Required || p.tool_choice == ToolChoice::Named)) {
    bad_param("response_format", "'response_format' cannot be combined with a tool_choice that forces a tool call.");
  }
  if (const json* v = field(body, "reasoning_format")) {
    if (!v->is_string()) wrong_type("reasoning_format", "a string", *v);
    if (*v == "none") p.reasoning_inline = true;
    else if (*v != "deepseek") bad_param("reasoning_format", "Invalid value. Supported values are: 'deepseek' (reasoning_content) and 'none' (inline).");
  }
  if (const json* v = field(body, "reasoning_budget")) p.reasoning_budget = get_int(*v, "reasoning_budget", 0, INT32_MAX);
  if (const json* v = field(body, "chat_template_kwargs")) {
    if (!v->is_object()) wrong_type("chat_template_kwargs", "an object", *v);
    p.template_vars = nlohmann::ordered_json::parse(v->dump());
  }
  return p;
}

CompletionParams parse_completion_request(const json& body) {
  if (!body.is_object()) throw ApiError(400, "The request body must be a JSON object.");
  refuse_unknown(body, {"model", "prompt", "stream", "stream_options", "max_tokens", "temperature", "top_p", "seed",
                        "stop", "presence_penalty", "frequency_penalty", "n", "user", "logit_bias", "logprobs", "echo",
                        "best_of", "suffix", "top_k", "min_p", "repetition_penalty"});
  CompletionParams p;
  p.chat = false;
  parse_common(body, p);
  const json* prompt = field(body, "prompt");
  if (!prompt) bad_param("prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter");
  if (prompt->is_string()) {
    p.prompt = prompt->get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    p.prompt = (*prompt)[0].get<std::string>();
  } else if (prompt->is_array()) {
    bad_param("prompt", "Only one prompt per request is supported (a string, or an array holding one string).", "unsupported_value");
  } else {
    wrong_type("prompt", "a string or an array of strings", *prompt);
  }
  if (p.prompt.empty()) bad_param("prompt", "'prompt' must not be empty.");
  if (const json* v = field(body, "logprobs")) {
    p.top_logprobs = int(get_int(*v, "logprobs", 0, 5));
    p.logprobs = true;
  }
  if (const json* v = field(body, "echo")) p.echo = get_bool(*v, "echo");
  if (const json* v = field(body, "best_of")) {
    if (get_int(*v, "best_of", 1, 128) != 1) bad_param("best_of", "Only best_of = 1 is supported.", "unsupported_value");
  }
  if (const json* v = field(body, "suffix")) {
    if (!v->is_string()) wrong_type("suffix", "a string", *v);
    if (!v->get<std::string>().empty()) bad_param("suffix", "'suffix' (insertion) is not supported.", "unsupported_parameter");
  }
  return p;
}

}  // namespace r1::server
