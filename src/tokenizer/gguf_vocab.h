// The tokenizer as GGUF files carry it (`tokenizer.ggml.*` metadata), as plain data: the GGUF reader
// fills it (formats/gguf_tokenizer.h), tokenizer_from_gguf() turns it into the same Tokenizer the
// tokenizer.json path builds, and gguf_vocab_from_dir() produces it from tokenizer.json for the writer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace r1::tok {

struct GgufVocab {
  std::string model;  // tokenizer.ggml.model: "gpt2" for the byte-level BPE vocabularies
  std::string pre;    // tokenizer.ggml.pre: llama.cpp's pre-tokenizer name ("deepseek-v3", "qwen2", "llama-bpe")
  std::vector<std::string> tokens;   // id order
  std::vector<int32_t> token_types;  // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
  std::vector<std::string> merges;   // "a b", in rank order
  std::optional<int64_t> bos_id, eos_id, pad_id;
  bool add_bos = false, add_eos = false;
  std::string chat_template;
};

// tokenizer.json + tokenizer_config.json of a model directory as GGUF metadata (for `r1 convert`).
GgufVocab gguf_vocab_from_dir(const std::string& model_dir);

}  // namespace r1::tok
