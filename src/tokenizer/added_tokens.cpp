#include "tokenizer/added_tokens.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <cstring>

#include "core/utf8.h"

namespace r1::tok {
namespace {

// Rust's char::is_alphanumeric: the Alphabetic property or a numeric category (Nd, Nl, No).
bool is_word_char(char32_t c) {
  const int8_t type = u_charType(UChar32(c));
  return u_hasBinaryProperty(UChar32(c), UCHAR_ALPHABETIC) || type == U_DECIMAL_DIGIT_NUMBER ||
         type == U_LETTER_NUMBER || type == U_OTHER_NUMBER;
}

// Rust's char::is_whitespace: the White_Space property.
bool is_space(char32_t c) { return u_hasBinaryProperty(UChar32(c), UCHAR_WHITE_SPACE); }

char32_t last_char(std::string_view s) {
  size_t i = s.size() - 1;  // callers pass non-empty text
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return utf8_next(s, i);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns)
    : tokens_(tokens) {
  for (size_t t = 0; t < tokens.size(); ++t) {
    const std::string& p = patterns[t];
    if (p.empty()) continue;
    int32_t node = 0;
    for (unsigned char c : p) {
      const uint64_t key = (uint64_t(uint32_t(node)) << 8) | c;
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        it = edges_.emplace(key, int32_t(terminal_.size())).first;
        terminal_.push_back(-1);
      }
      node = it->second;
    }
    if (terminal_[size_t(node)] < 0) terminal_[size_t(node)] = int32_t(t);  // the first of duplicates wins
    first_byte_[static_cast<unsigned char>(p[0])] = true;
  }
  int distinct = 0, last = -1;
  for (int b = 0; b < 256; ++b) {
    if (first_byte_[b]) ++distinct, last = b;
  }
  if (distinct == 1) only_first_byte_ = last;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Section>& out) const {
  size_t start = 0;  // end of what has been emitted
  size_t i = 0;
  while (i < text.size()) {
    if (only_first_byte_ >= 0) {  // every real vocabulary: all added tokens start with '<'
      const void* next = std::memchr(text.data() + i, only_first_byte_, text.size() - i);
      if (!next) break;
      i = size_t(static_cast<const char*>(next) - text.data());
    } else if (!first_byte_[static_cast<unsigned char>(text[i])]) {
      ++i;
      continue;
    }
    // Longest token starting at i.
    int32_t node = 0, best = -1;
    size_t best_end = 0;
    for (size_t j = i; j < text.size(); ++j) {
      auto it = edges_.find((uint64_t(uint32_t(node)) << 8) | static_cast<unsigned char>(text[j]));
      if (it == edges_.end()) break;
      node = it->second;
      if (terminal_[size_t(node)] >= 0) {
        best = terminal_[size_t(node)];
        best_end = j + 1;
      }
    }
    if (best < 0) {
      ++i;
      continue;
    }
    const AddedToken& tok = tokens_[size_t(best)];
    size_t b = i, e = best_end;
    if (tok.single_word) {
      const bool word_before = b > 0 && is_word_char(last_char(text.substr(0, b)));
      size_t k = e;
      const bool word_after = e < text.size() && is_word_char(utf8_next(text, k));
      if (word_before || word_after) {
        i = e;  // Aho-Corasick resumes after the discarded match
        continue;
      }
    }
    if (tok.lstrip) {
      while (b > start) {
        const char32_t c = last_char(text.substr(0, b));
        if (!is_space(c)) break;
        size_t len = 1;
        while (len < b && (static_cast<unsigned char>(text[b - len]) & 0xC0) == 0x80) ++len;
        b -= len;
      }
    }
    if (tok.rstrip) {
      while (e < text.size()) {
        size_t k = e;
        if (!is_space(utf8_next(text, k))) break;
        e = k;
      }
    }
    if (start < b) out.push_back({start, b, -1});
    out.push_back({b, e, tok.id});
    start = e;
    i = e;
  }
  if (start < text.size()) out.push_back({start, text.size(), -1});
}

}  // namespace r1::tok
