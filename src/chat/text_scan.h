// Small scanning helpers shared by the streaming output parsers.
#pragma once

#include <string_view>

namespace r1::chat {

inline bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Length of the whitespace run at the start / end of `s`.
inline size_t leading_space(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && is_ws(s[n])) ++n;
  return n;
}
inline size_t trailing_space(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && is_ws(s[s.size() - 1 - n])) ++n;
  return n;
}

// Length of the longest proper suffix of `s` that is a prefix of `tag`: text that may yet become the
// tag when more arrives, and so must be held back.
inline size_t partial_suffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace r1::chat
