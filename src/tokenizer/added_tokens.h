// Added tokens (tokenizer.json "added_tokens"): strings such as "<｜User｜>" or "<think>" that are
// cut out of the text before normalization and pre-tokenization, exactly as Hugging Face tokenizers'
// AddedVocabulary does:
//   * matching is leftmost-longest over all contents (Aho-Corasick LeftmostLongest in tokenizers);
//   * tokens with normalized=false are matched on the raw text first, then tokens with
//     normalized=true are matched on the normalized remaining pieces;
//   * single_word: a match touching a letter/digit on either side is not a match (and the scan goes
//     on after it, without trying shorter tokens there);
//   * lstrip / rstrip: the match swallows the whitespace on its left / right.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace r1::tok {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, normalized = false, single_word = false;
};

// One piece of split text: a byte range, and the added token's id or -1 for ordinary text.
struct Section {
  size_t begin, end;
  int32_t id;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  // `patterns[i]` is the string to find for `tokens[i]` (the normalized content for normalized tokens).
  AddedTokenMatcher(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns);

  // Splits `text` into sections covering it completely (empty text: no sections).
  void split(std::string_view text, std::vector<Section>& out) const;
  bool empty() const { return terminal_.size() <= 1; }

 private:
  // A byte trie: edges (node, byte) -> child; terminal_[node] = index into tokens_ or -1.
  std::unordered_map<uint64_t, int32_t> edges_;
  std::vector<int32_t> terminal_{-1};
  bool first_byte_[256] = {};
  int only_first_byte_ = -1;  // the first byte of every token when they all share one (memchr finds it)
  std::vector<AddedToken> tokens_;
};

}  // namespace r1::tok
