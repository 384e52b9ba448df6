// Hugging Face tokenizer.json (+ tokenizer_config.json) loading, and exact byte-level BPE encoding
// and decoding for the DeepSeek-V3/R1, Qwen2.5/Qwen3 and Llama-3 vocabularies.
//
// encode(text) follows tokenizers' pipeline: added tokens are cut out first (added_tokens.h), the
// other pieces are normalized (normalizer.h), pre-tokenized (pretokenizer.h) and BPE-encoded
// (bpe.h). With add_special, BOS/EOS are added as the model's tokenizer_config.json says
// (add_bos_token / add_eos_token, as transformers' Llama tokenizers do) or, when it says nothing,
// as tokenizer.json's TemplateProcessing post-processor says (Llama-3).
//
// Invalid UTF-8 input: tokenizers only accepts valid text (a Rust String; Python and JavaScript
// callers cannot even express invalid UTF-8), so encode() first repairs the input like Rust's
// String::from_utf8_lossy: each maximal ill-formed subpart becomes U+FFFD, which is then encoded as
// ordinary text. decode() does the same to the bytes the ids spell (a lone piece of a multi-byte
// character becomes U+FFFD), as tokenizers' ByteLevel decoder does.
//
// Thread safety: all methods are const and may run concurrently; the per-word cache is only used
// by one encode() at a time (others simply run uncached).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace r1::tok {

class Tokenizer {
 public:
  // Loads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json.
  static Tokenizer from_dir(const std::string& dir);
  // From file contents; `config_json` may be empty. `name` prefixes error messages.
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view config_json,
                             const std::string& name = "tokenizer.json");
  // From parsed contents: the tokenizer.json object and the tokenizer_config.json object (may be
  // empty), e.g. built from other metadata (gguf_vocab.h).
  static Tokenizer from_json_values(const nlohmann::json& tokenizer, const nlohmann::json& config,
                                    const std::string& name);
  // True when DIR has a tokenizer.json.
  static bool dir_has_tokenizer(const std::string& dir);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Text -> ids. Special-token strings in the text become their ids (as Hugging Face does).
  std::vector<int32_t> encode(std::string_view text, bool add_special = false) const;
  // Ids -> text; ids the tokenizer does not know (e.g. embedding padding rows) decode to nothing.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  std::optional<int32_t> token_to_id(std::string_view piece) const;
  // The vocabulary string of `id` (byte-level form, e.g. "Ġhello"), "" when unknown.
  const std::string& id_to_piece(int32_t id) const;
  // The raw bytes `id` stands for (may be part of a UTF-8 character), "" when unknown.
  std::string_view id_to_bytes(int32_t id) const;
  bool is_special(int32_t id) const;
  bool is_added(int32_t id) const;
  // One more than the largest id, i.e. the embedding rows the tokenizer needs.
  int32_t vocab_size() const;

  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> pad_id() const;
  // The ids encode(text, true) puts before / after the text.
  const std::vector<int32_t>& special_prefix() const;
  const std::vector<int32_t>& special_suffix() const;

  // The normalizer applied to plain text (identity when there is none); decode(encode(x)) == this(x).
  std::string normalize(std::string_view text) const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  static Tokenizer load(const nlohmann::json& root, const nlohmann::json& config, const std::string& name);
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1::tok
