#include "runtime/model_text.h"

#include "core/error.h"
#include "formats/gguf_split.h"
#include "formats/gguf_tokenizer.h"
#include "tokenizer/gguf_vocab.h"

namespace r1 {

namespace {

// The tokenizer metadata of a GGUF file, the first shard's in a split model (headers only; tensor data
// is not touched).
std::optional<tok::GgufVocab> gguf_vocab(const std::string& path) {
  const GgufFiles files = open_gguf_files(path);
  if (!files.header.metadata.count("tokenizer.ggml.model")) return std::nullopt;
  return read_gguf_vocab(files.header, path);
}

}  // namespace

std::optional<tok::Tokenizer> find_tokenizer(const std::string& model_path) {
  const std::optional<std::string> gguf = find_gguf_model(model_path);
  if (!gguf) {
    if (!tok::Tokenizer::dir_has_tokenizer(model_path)) return std::nullopt;
    return tok::Tokenizer::from_dir(model_path);
  }
  const std::optional<tok::GgufVocab> v = gguf_vocab(*gguf);
  if (!v) return std::nullopt;
  return tok::tokenizer_from_gguf(*v);
}

tok::Tokenizer load_tokenizer(const std::string& model_path) {
  const std::optional<std::string> gguf = find_gguf_model(model_path);
  if (!gguf) return tok::Tokenizer::from_dir(model_path);  // its errors name the file
  const std::optional<tok::GgufVocab> v = gguf_vocab(*gguf);
  if (!v) fail("{}: no tokenizer (tokenizer.json, or GGUF tokenizer metadata)", model_path);
  return tok::tokenizer_from_gguf(*v);
}

chat::ChatTemplateSource load_chat_template_for(const std::string& model_path, const std::string& name, bool has_tools) {
  const std::optional<std::string> gguf = find_gguf_model(model_path);
  if (!gguf) return chat::load_chat_template(model_path, name, has_tools);
  const std::optional<tok::GgufVocab> v = gguf_vocab(*gguf);
  if (!v || v->chat_template.empty()) fail("{}: no chat template (metadata key 'tokenizer.chat_template' is missing)", model_path);
  if (!name.empty()) fail("{}: a GGUF file holds one chat template; --name '{}' cannot select another", model_path, name);
  chat::ChatTemplateSource src;
  src.source = v->chat_template;
  auto token = [&](const std::optional<int64_t>& id) { return id ? v->tokens[size_t(*id)] : std::string(); };
  if (v->bos_id) src.special_tokens["bos_token"] = token(v->bos_id);
  if (v->eos_id) src.special_tokens["eos_token"] = token(v->eos_id);
  if (v->pad_id) src.special_tokens["pad_token"] = token(v->pad_id);
  return src;
}

}  // namespace r1
