// tokenizer.json "normalizer": Unicode normalization forms (ICU) and sequences of them.
// Supported types: null, Sequence, NFC, NFD, NFKC, NFKD (what byte-level BPE files use; Qwen2.5/Qwen3
// use NFC, DeepSeek-V3 an empty Sequence, Llama-3 none). Anything else is a clear load error.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace r1::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Normalizes valid UTF-8 `text` into `out`; returns false (leaving `out` alone) when `text` is
  // already normal, so callers can skip the copy.
  virtual bool normalize(std::string_view text, std::string& out) const = 0;
};

// Builds the normalizer described by `config` (the tokenizer.json "normalizer" value); null when
// the config is null or a no-op (an empty Sequence). `where` names the field in errors.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config, const std::string& where);

// Applies `n` (may be null) to `text`, returning the normalized text.
std::string normalized(const Normalizer* n, std::string_view text);

}  // namespace r1::tok
