// The tokenizer as GGUF files carry it (`tokenizer.ggml.*` metadata), as plain data: the GGUF reader
// fills it (formats/gguf_tokenizer.h), tokenizer_from_gguf() turns it into the same Tokenizer the
// tokenizer.json path builds, and gguf_vocab_from_dir() produces it from tokenizer.json for the writer.
//
// GGUF names the pre-tokenizer (llama.cpp's `tokenizer.ggml.pre`) instead of spelling it out; r1
// knows the names whose Hugging Face configuration it can reproduce exactly (docs/tokenizer.md):
//   deepseek-v3                    DeepSeek-V3 / R1 / V3.1: three regex splits, no normalizer
//   qwen2, deepseek-r1-qwen        Qwen2.5 / Qwen3 / R1-Distill-Qwen: one regex split, NFC
//   llama-bpe, llama3, llama-v3    Llama-3.x / R1-Distill-Llama: one regex split, ignore_merges
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

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

// llama.cpp's token types (tokenizer.ggml.token_type).
enum GgufTokenType : int32_t {
  kGgufNormal = 1,
  kGgufUnknown = 2,
  kGgufControl = 3,
  kGgufUserDefined = 4,
  kGgufUnused = 5,
  kGgufByte = 6,
};

// The tokenizer the metadata describes, encoding and decoding exactly as the same vocabulary's
// tokenizer.json does: NORMAL / BYTE / UNKNOWN tokens form the BPE vocabulary, CONTROL tokens become
// special added tokens, USER_DEFINED ones plain added tokens, UNUSED ones (padding rows) nothing.
// add_bos / add_eos say what encode(text, true) adds. Throws r1::Error naming the field and value
// for an unknown model or pre-tokenizer, or inconsistent metadata.
Tokenizer tokenizer_from_gguf(const GgufVocab& vocab);

// tokenizer.json + tokenizer_config.json (and chat_template.jinja, config.json's vocab_size) of a model
// directory as GGUF metadata (for `r1 convert`): tokens in id order, padded with "[PAD<id>]" UNUSED
// tokens up to config.json's vocab_size (the embedding rows) as llama.cpp's converter does; added
// tokens CONTROL when special, else USER_DEFINED; `pre` identified from the pre-tokenizer,
// normalizer and ignore_merges (an r1::Error naming tokenizer.json when they match no known name).
GgufVocab gguf_vocab_from_dir(const std::string& model_dir);

}  // namespace r1::tok
