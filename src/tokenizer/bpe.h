// The byte-level BPE model: vocabulary, merge ranks, and the merge loop, all on integer ids.
//
// A word (one pre-tokenized piece, as raw bytes) starts as one symbol per byte (the id of that byte's
// byte-level character) and is merged greedily: always the adjacent pair with the lowest merge rank,
// the leftmost one on ties -- the same order as tokenizers' Word::merge_all and transformers.js.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace r1::tok {

// Hash for heterogeneous (string_view) lookups in string-keyed maps.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Ids above this are rejected: no real vocabulary comes close, and per-id tables stay bounded.
constexpr int64_t kMaxId = int64_t(1) << 21;

class Bpe {
 public:
  // Reads `model` (tokenizer.json "model", type BPE). `where` names the field in errors.
  Bpe(const nlohmann::json& model, const std::string& where);

  // Appends the ids of one word given as raw bytes.
  void encode_word(std::string_view raw, std::vector<int32_t>& out) const;

  const StringIdMap& vocab() const { return vocab_; }           // byte-level token string -> id
  const std::vector<std::string>& tokens() const { return tokens_; }  // id -> token ("" for holes)

 private:
  struct Merge {
    int32_t rank, merged;
  };
  static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  static uint64_t slot_of(uint64_t key) { return (key * 0x9E3779B97F4A7C15ull) >> 20; }
  const Merge* find_merge(int32_t a, int32_t b) const;

  StringIdMap vocab_;
  std::vector<std::string> tokens_;
  int32_t byte_ids_[256];          // id of each single byte's token, -1 when the vocab lacks it
  StringIdMap raw_vocab_;           // raw bytes -> id, for ignore_merges
  bool ignore_merges_ = false;
  // Merges in an open-addressing table keyed by the id pair: BPE looks pairs up constantly.
  struct MergeSlot {
    uint64_t key = ~uint64_t(0);  // empty
    Merge merge{};
  };
  std::vector<MergeSlot> merge_table_;
  uint64_t merge_mask_ = 0;
  void add_merge(uint64_t key, Merge m);
};

}  // namespace r1::tok
