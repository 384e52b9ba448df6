// A model's chat template: found in its tokenizer_config.json (or chat_template.jinja) and rendered
// the way transformers' apply_chat_template does, so the prompt is byte-identical to Python's.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "chat/jinja.h"

namespace r1::chat {

struct ChatTemplateSource {
  std::string source;                  // the Jinja text
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();  // bos_token, eos_token, ... as strings
};

// Reads MODEL_DIR/tokenizer_config.json: `chat_template` is a string or a list of {name, template};
// from a list, `name` picks one, else (as transformers does) "tool_use" when the request has tools
// and the list has it, else "default". Without `chat_template`, MODEL_DIR/chat_template.jinja.
// Special tokens (bos/eos/unk/pad) are strings or {"content": ...} objects. Throws r1::Error.
ChatTemplateSource load_chat_template(const std::string& model_dir, const std::string& name = "",
                                      bool has_tools = false);

struct ChatRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;  // null: no tools (the template sees tools = None, as in transformers)
  bool add_generation_prompt = false;
  nlohmann::ordered_json vars = nlohmann::ordered_json::object();  // extra template variables (e.g. thinking)
};

class ChatTemplate {
 public:
  explicit ChatTemplate(const ChatTemplateSource& source);
  // transformers: template.render(messages=..., tools=..., documents=None, add_generation_prompt=...,
  // **special_tokens, **vars).
  std::string render(const ChatRequest& request, const jinja::Limits& limits = {}) const;

 private:
  jinja::Template template_;
  nlohmann::ordered_json special_tokens_;
};

}  // namespace r1::chat
