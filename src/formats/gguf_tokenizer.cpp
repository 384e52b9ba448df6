#include "formats/gguf_tokenizer.h"

#include "core/error.h"

namespace r1 {

tok::GgufVocab read_gguf_vocab(const GgufHeader& h, const std::string& path) {
  const GgufMetadata m(h, path);
  tok::GgufVocab v;
  v.model = m.str("tokenizer.ggml.model");
  v.pre = m.has("tokenizer.ggml.pre") ? m.str("tokenizer.ggml.pre") : "default";
  v.tokens = m.strings("tokenizer.ggml.tokens");
  if (m.has("tokenizer.ggml.token_type")) {
    for (int64_t t : m.integers("tokenizer.ggml.token_type")) v.token_types.push_back(int32_t(t));
    if (v.token_types.size() != v.tokens.size()) {
      fail("{}: metadata key 'tokenizer.ggml.token_type' has {} entries, expected one per token ({})", path,
           v.token_types.size(), v.tokens.size());
    }
  }
  if (m.has("tokenizer.ggml.merges")) v.merges = m.strings("tokenizer.ggml.merges");
  v.bos_id = m.integer_or("tokenizer.ggml.bos_token_id");
  v.eos_id = m.integer_or("tokenizer.ggml.eos_token_id");
  v.pad_id = m.integer_or("tokenizer.ggml.padding_token_id");
  v.add_bos = m.boolean("tokenizer.ggml.add_bos_token").value_or(false);
  v.add_eos = m.boolean("tokenizer.ggml.add_eos_token").value_or(false);
  if (m.has("tokenizer.chat_template")) v.chat_template = m.str("tokenizer.chat_template");
  const int64_t n = int64_t(v.tokens.size());
  for (const auto& [key, id] : {std::pair{"bos", v.bos_id}, {"eos", v.eos_id}, {"padding", v.pad_id}}) {
    if (id && (*id < 0 || *id >= n)) fail("{}: metadata key 'tokenizer.ggml.{}_token_id' is {}, expected a token id below {}", path, key, *id, n);
  }
  return v;
}

void write_gguf_vocab(GgufWriter& w, const tok::GgufVocab& v) {
  w.set("tokenizer.ggml.model", GgufValue::of_string(v.model));
  w.set("tokenizer.ggml.pre", GgufValue::of_string(v.pre));
  w.set("tokenizer.ggml.tokens", GgufValue::of_strings(v.tokens));
  w.set("tokenizer.ggml.token_type", GgufValue::of_i32s(v.token_types));
  if (!v.merges.empty()) w.set("tokenizer.ggml.merges", GgufValue::of_strings(v.merges));
  if (v.bos_id) w.set("tokenizer.ggml.bos_token_id", GgufValue::of_u32(uint32_t(*v.bos_id)));
  if (v.eos_id) w.set("tokenizer.ggml.eos_token_id", GgufValue::of_u32(uint32_t(*v.eos_id)));
  if (v.pad_id) w.set("tokenizer.ggml.padding_token_id", GgufValue::of_u32(uint32_t(*v.pad_id)));
  w.set("tokenizer.ggml.add_bos_token", GgufValue::of_bool(v.add_bos));
  w.set("tokenizer.ggml.add_eos_token", GgufValue::of_bool(v.add_eos));
  if (!v.chat_template.empty()) w.set("tokenizer.chat_template", GgufValue::of_string(v.chat_template));
}

}  // namespace r1
