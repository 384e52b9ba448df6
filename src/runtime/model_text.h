// The text side of a checkpoint -- its tokenizer and chat template -- from wherever the checkpoint keeps
// them: tokenizer.json / tokenizer_config.json beside a Hugging Face model, or the `tokenizer.*`
// metadata of a GGUF file. The CLI (and later the server) ask here instead of knowing file layouts.
#pragma once

#include <optional>
#include <string>

#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

// The tokenizer of `model_path` (a model directory or a .gguf file); nullopt when it carries none.
// Throws r1::Error naming the file when it is malformed.
std::optional<tok::Tokenizer> find_tokenizer(const std::string& model_path);
// The same, but a checkpoint without a tokenizer is an error too.
tok::Tokenizer load_tokenizer(const std::string& model_path);
// The chat template (see chat::load_chat_template for `name` and `has_tools` on directories; a GGUF
// file holds one template, `tokenizer.chat_template`, with its BOS/EOS strings).
chat::ChatTemplateSource load_chat_template_for(const std::string& model_path, const std::string& name = "",
                                                bool has_tools = false);

}  // namespace r1
