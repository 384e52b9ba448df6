// tokenizer.json "pre_tokenizer": cuts normalized text into the pieces ("words") that BPE encodes
// one by one. Supported types (as Hugging Face tokenizers defines them):
//   Split      pattern {"Regex": ...} or {"String": ...}, behavior Removed | Isolated |
//              MergedWithPrevious | MergedWithNext | Contiguous, invert
//   ByteLevel  add_prefix_space, use_regex (the GPT-2 pattern); the byte -> unicode mapping itself
//              is done by the BPE model, which works on raw bytes
//   Digits     individual_digits
//   Sequence   pretokenizers, applied in order, each to every piece of the previous one
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace r1::tok {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces every piece of `pieces` by its sub-pieces (empty ones dropped). Pieces are views into
  // the caller's text or into `storage`, where new strings (a prefix space) are kept alive.
  virtual void split(std::vector<std::string_view>& pieces, std::deque<std::string>& storage) const = 0;
};

// Builds the pre-tokenizer described by `config`; null for null. Sets `byte_level` when a ByteLevel
// step is present (the only kind of model this tokenizer supports). `where` names the field in errors.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& config, const std::string& where,
                                                 bool& byte_level);

}  // namespace r1::tok
