// r1 template MODEL_DIR --messages FILE.json [--add-generation-prompt] [--tools FILE.json]
//                       [--var NAME=VALUE]... [--template-name NAME]
// Prints the prompt the model's chat template renders, byte for byte (no newline added): the
// interface of the exactness tests against Python's jinja2 (tests/chat/oracle_test.py).
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "runtime/model_text.h"
#include "core/error.h"

namespace r1::cli {

static nlohmann::ordered_json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", path, e.what());
  }
}

Runner add_template(CLI::App& app) {
  struct Opts {
    std::string dir, messages, tools, name;
    bool add_generation_prompt = false;
    std::vector<std::string> vars;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("model", o->dir, "Model directory (tokenizer_config.json and/or chat_template.jinja), or a .gguf file")->required();
  app.add_option("--messages", o->messages, "JSON file: a list of messages, or {\"messages\": [...], \"tools\": [...]}")
      ->required();
  app.add_flag("--add-generation-prompt", o->add_generation_prompt, "End with the assistant's turn header");
  app.add_option("--tools", o->tools, "JSON file: a list of tool definitions");
  app.add_option("--var", o->vars, "Template variable NAME=VALUE (VALUE as JSON if it parses, else a string)");
  app.add_option("--template-name", o->name, "Which of several named templates (default: \"tool_use\" with tools, else \"default\")");
  return [o] {
    chat::ChatRequest req;
    nlohmann::ordered_json m = read_json_file(o->messages);
    if (m.is_object()) {
      if (m.contains("tools")) req.tools = m["tools"];
      m = m.value("messages", nlohmann::ordered_json::array());
    }
    if (!m.is_array()) fail("{}: expected a list of messages", o->messages);
    req.messages = m;
    if (!o->tools.empty()) req.tools = read_json_file(o->tools);
    req.add_generation_prompt = o->add_generation_prompt;
    for (const std::string& v : o->vars) {
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) fail("--var '{}': expected NAME=VALUE", v);
      const std::string value = v.substr(eq + 1);
      nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(value, nullptr, false);
      req.vars[v.substr(0, eq)] = parsed.is_discarded() ? nlohmann::ordered_json(value) : parsed;
    }
    const chat::ChatTemplate tmpl(load_chat_template_for(o->dir, o->name, !req.tools.is_null()));
    const std::string prompt = tmpl.render(req);
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    std::fflush(stdout);
    return 0;
  };
}

}  // namespace r1::cli
