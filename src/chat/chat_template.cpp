#include "chat/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace r1::chat {

namespace fs = std::filesystem;

static std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ChatTemplateSource load_chat_template(const std::string& model_dir, const std::string& name, bool has_tools) {
  const fs::path dir(model_dir);
  const fs::path config_path = dir / "tokenizer_config.json";
  ChatTemplateSource out;
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  if (fs::exists(config_path)) {
    try {
      config = nlohmann::ordered_json::parse(read_file(config_path));
    } catch (const nlohmann::json::exception& e) {
      fail("{}: invalid JSON: {}", config_path.string(), e.what());
    }
    if (!config.is_object()) fail("{}: expected a JSON object", config_path.string());
  }
  for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    if (!config.contains(key)) continue;
    const auto& t = config[key];
    if (t.is_string()) out.special_tokens[key] = t;
    else if (t.is_object() && t.contains("content") && t["content"].is_string()) out.special_tokens[key] = t["content"];
    else if (!t.is_null()) fail("{}: '{}' must be a string or {{\"content\": ...}}", config_path.string(), key);
  }
  const auto it = config.find("chat_template");
  if (it != config.end() && !it->is_null()) {
    if (it->is_string()) {
      if (!name.empty() && name != "default") {
        fail("{}: chat_template is a single template; there is no template named '{}'", config_path.string(), name);
      }
      out.source = it->get<std::string>();
      return out;
    }
    if (!it->is_array()) fail("{}: chat_template must be a string or a list of {{name, template}}", config_path.string());
    std::string want = name.empty() ? "default" : name;
    if (name.empty() && has_tools) {
      for (const auto& entry : *it) {
        if (entry.is_object() && entry.value("name", "") == "tool_use") want = "tool_use";
      }
    }
    std::string names;
    for (const auto& entry : *it) {
      if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") || !entry["name"].is_string() ||
          !entry["template"].is_string()) {
        fail("{}: chat_template list entries must be {{\"name\": ..., \"template\": ...}}", config_path.string());
      }
      if (entry["name"] == want) {
        out.source = entry["template"].get<std::string>();
        return out;
      }
      names += (names.empty() ? "" : ", ") + entry["name"].get<std::string>();
    }
    fail("{}: no chat template named '{}' (have: {})", config_path.string(), want, names);
  }
  const fs::path jinja_path = dir / "chat_template.jinja";
  if (fs::exists(jinja_path)) {
    out.source = read_file(jinja_path);
    return out;
  }
  fail("{}: no chat template (neither tokenizer_config.json 'chat_template' nor chat_template.jinja)", model_dir);
}

ChatTemplate::ChatTemplate(const ChatTemplateSource& source)
    : template_(source.source), special_tokens_(source.special_tokens) {}

std::string ChatTemplate::render(const ChatRequest& request, const jinja::Limits& limits) const {
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  context["messages"] = request.messages;
  context["tools"] = request.tools;
  context["documents"] = nullptr;
  context["add_generation_prompt"] = request.add_generation_prompt;
  for (const auto& [k, v] : special_tokens_.items()) context[k] = v;
  for (const auto& [k, v] : request.vars.items()) context[k] = v;
  return template_.render(jinja::from_json(context), limits);
}

}  // namespace r1::chat
