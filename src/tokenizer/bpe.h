// The byte-level BPE model: vocabulary, merge ranks, and the merge loop, all on integer ids.
//
// A word (one pre-tokenized piece, as raw bytes) starts as one symbol per byte (the id of that byte's
// byte-level character) and is merged greedily: always the adjacent pair with the lowest merge rank,
// the leftmost one on ties -- the same order as tokenizers' Word::merge_all and transformers.js.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/flat_string_map.h"
#include "tokenizer/merge_table.h"

namespace r1::tok {

// Hash for heterogeneous (string_view) lookups in string-keyed maps.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Ids above this are rejected: no real vocabulary comes close, per-id tables stay bounded and merge
// table entries stay small.
constexpr int64_t kMaxId = MergeTable::kMaxId;

class Bpe {
 public:
  // Reads `model` (tokenizer.json "model", type BPE). `where` names the field in errors.
  Bpe(const nlohmann::json& model, const std::string& where);

  // Appends the ids of one word given as raw bytes.
  void encode_word(std::string_view raw, std::vector<int32_t>& out) const;
  // The token of a single byte (a one-byte word), -1 when the vocabulary lacks it.
  int32_t byte_token(unsigned char b) const { return byte_ids_[b]; }

  const StringIdMap& vocab() const { return vocab_; }           // byte-level token string -> id
  const std::vector<std::string>& tokens() const { return tokens_; }  // id -> token ("" for holes)

 private:
  // Words up to this many bytes use merge_short, longer ones merge_long (same result, both exact).
  static constexpr size_t kShortWord = 48;
  void merge_short(std::string_view raw, std::vector<int32_t>& out) const;
  void merge_long(std::string_view raw, std::vector<int32_t>& out) const;
  // The rank of merging the single-byte tokens of bytes a and b: every word starts with these
  // lookups, and this 256 KiB table stays in cache where the merge table cannot.
  int32_t byte_pair_rank(unsigned char a, unsigned char b) const { return byte_pair_rank_[size_t(a) << 8 | b]; }

  StringIdMap vocab_;
  std::vector<std::string> tokens_;
  int32_t byte_ids_[256];          // id of each single byte's token, -1 when the vocab lacks it
  FlatStringMap raw_vocab_;         // raw bytes -> id, for ignore_merges (looked up for every new word)
  bool ignore_merges_ = false;
  MergeTable merges_;                   // (left id, right id) -> rank
  std::vector<int32_t> merged_by_rank_;  // rank -> id of the merged token
  // In GPT-2-style vocabularies (DeepSeek-V3, Qwen) the token made by merge r has id r + a constant:
  // then merging needs no (cache-missing) look at merged_by_rank_.
  std::optional<int32_t> merged_id_minus_rank_;
  int32_t merged_of(int32_t rank) const {
    return merged_id_minus_rank_ ? rank + *merged_id_minus_rank_ : merged_by_rank_[size_t(rank)];
  }
  std::vector<int32_t> byte_pair_rank_;  // 256 x 256
};

}  // namespace r1::tok
