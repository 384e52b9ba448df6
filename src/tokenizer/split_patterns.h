// The patterns of pre-tokenizer Split steps. Any pattern runs on PCRE2 (regex.h); the few that the
// R1-family tokenizer.json files use -- DeepSeek-V3's three splits, Qwen2's and Llama-3's word split --
// also have hand-written matchers that give exactly PCRE2's matches several times faster (the
// regex was half of the encode time). Exactness: the character classes are PCRE2's own
// (char_classes.h), and tests compare every hand-written matcher with PCRE2 on random text.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"

namespace r1::tok {

class SplitPattern {
 public:
  virtual ~SplitPattern() = default;
  // The leftmost match in subject[from..], as Regex::find: the subject is the whole piece being split
  // (look-arounds stop at its ends) and valid UTF-8. False when there is none.
  virtual bool find(std::string_view subject, size_t from, size_t& begin, size_t& end) const = 0;

  // Appends the pieces an Isolated split makes of `s`: every match and every gap between matches, in
  // order, empty ones left out. By default through find() and for_each_span(); the hand-written
  // patterns scan the subject in one go.
  virtual void split_isolated(std::string_view s, std::vector<std::string_view>& out) const;
};

// Calls on_span(begin, end, is_match) for every match of `pattern` in `s` and every gap between
// matches, in order, iterating as tokenizers' Split does (after an empty match the search steps
// over one character).
template <typename OnSpan>
void for_each_span(const SplitPattern& pattern, std::string_view s, OnSpan on_span) {
  size_t prev = 0, pos = 0, b = 0, e = 0;
  while (pos <= s.size() && pattern.find(s, pos, b, e)) {
    if (prev != b) on_span(prev, b, false);
    on_span(b, e, true);
    prev = e;
    if (e == s.size()) break;  // nothing left to match: saves a call per piece
    if (e == b) {              // an empty match
      size_t next = e;
      utf8_next(s, next);
      pos = next;
    } else {
      pos = e;
    }
  }
  if (prev != s.size()) on_span(prev, s.size(), false);
}

// The hand-written matcher when `pattern` (a Split "Regex" string) is one of the known ones, else PCRE2.
// `literal` matches `pattern` as plain text. `what` names the field in errors.
std::unique_ptr<SplitPattern> compile_split_pattern(const std::string& pattern, bool literal, const std::string& what);

// The hand-written matcher for `pattern`, or null when there is none (for tests).
std::unique_ptr<SplitPattern> hand_written_split_pattern(std::string_view pattern);

// DeepSeek-V3's three Isolated splits (digits, CJK, words; patterns::kDeepSeek*) applied in sequence,
// in one scan.
class DeepSeekV3Splitter {
 public:
  DeepSeekV3Splitter();  // builds the character class table now, not during the first encode
  ~DeepSeekV3Splitter();
  // Appends the pieces of `s`.
  void split(std::string_view s, std::vector<std::string_view>& out) const;

 private:
  std::unique_ptr<SplitPattern> words_;
};

// The regex strings of the known patterns, as tokenizer.json writes them (after JSON unescaping).
namespace patterns {
// DeepSeek-V3 / R1 pre_tokenizer: Sequence of three Splits (digits, CJK runs, words).
inline constexpr std::string_view kDeepSeekDigits = R"(\p{N}{1,3})";
inline constexpr std::string_view kDeepSeekCjk = "[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+";
inline constexpr std::string_view kDeepSeekWords =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
// Qwen2 / Qwen2.5 / Qwen3: one Split (single digits).
inline constexpr std::string_view kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Llama-3 / 3.1: one Split (digits in groups of up to three).
inline constexpr std::string_view kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}  // namespace patterns

}  // namespace r1::tok
