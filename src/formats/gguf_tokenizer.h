// The tokenizer as GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`), both directions.
// What the fields mean for encoding is the tokenizer's business (tokenizer/gguf_vocab.h).
#pragma once

#include <string>

#include "formats/gguf.h"
#include "tokenizer/gguf_vocab.h"

namespace r1 {

// Throws r1::Error naming `path` and the key when a field is missing or of the wrong type.
tok::GgufVocab read_gguf_vocab(const GgufHeader& h, const std::string& path);
void write_gguf_vocab(GgufWriter& w, const tok::GgufVocab& v);

}  // namespace r1
