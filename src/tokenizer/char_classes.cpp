#include "tokenizer/char_classes.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <string>

#include "core/utf8.h"
#include "tokenizer/regex.h"

namespace r1::tok {

const CharClasses& CharClasses::get() {
  static const CharClasses table;
  return table;
}

CharClasses::CharClasses() {
  // Every Unicode scalar value in order, as one UTF-8 string; each class is the set of code points
  // PCRE2's own regex for it matches there.
  std::string all(0x80 + 0x780 * 2 + (0x10000 - 0x800 - 0x800) * 3 + 0x100000 * 4, '\0');
  size_t n = 0;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;  // surrogates are not scalar values
    const auto put = [&](char32_t byte) { all[n++] = char(byte); };
    if (cp < 0x80) {
      put(cp);
    } else if (cp < 0x800) {
      put(0xC0 | (cp >> 6)), put(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      put(0xE0 | (cp >> 12)), put(0x80 | ((cp >> 6) & 0x3F)), put(0x80 | (cp & 0x3F));
    } else {
      put(0xF0 | (cp >> 18)), put(0x80 | ((cp >> 12) & 0x3F)), put(0x80 | ((cp >> 6) & 0x3F)), put(0x80 | (cp & 0x3F));
    }
  }
  assert(n == all.size());
  std::vector<uint8_t> classes(0x110000, 0);
  const struct {
    const char* pattern;
    CharClass bit;
  } kPatterns[] = {{R"(\p{L}+)", kLetter}, {R"(\p{M}+)", kMark},   {R"(\p{N}+)", kNumber},
                   {R"(\p{P}+)", kPunct},  {R"(\p{S}+)", kSymbol}, {R"(\s+)", kSpace}};
  for (const auto& [pattern, bit] : kPatterns) {
    const Regex re(pattern, false, "character class table");
    size_t pos = 0, begin = 0, end = 0;
    while (pos < all.size() && re.find(all, pos, begin, end)) {
      for (size_t i = begin; i < end;) classes[utf8_next(all, i)] |= bit;
      pos = end;  // these patterns never match empty
    }
  }
  std::copy(classes.begin(), classes.begin() + 0x80, ascii_);

  // Pages of 256 code points; most are identical (unassigned, CJK, private use), so they share blocks.
  std::map<std::string, uint16_t> block_index;
  block_of_page_.resize(0x1100);
  for (size_t page = 0; page < block_of_page_.size(); ++page) {
    std::string block(reinterpret_cast<const char*>(classes.data() + page * 256), 256);
    auto [it, added] = block_index.emplace(std::move(block), uint16_t(block_index.size()));
    if (added) blocks_.insert(blocks_.end(), classes.begin() + long(page * 256), classes.begin() + long(page * 256 + 256));
    block_of_page_[page] = it->second;
  }

  // Code points beyond ASCII that a caseless ASCII letter matches (U+017F 'ſ' for s, U+212A KELVIN SIGN for k).
  const Regex any_letter("(?i)[a-z]", false, "character class table");
  size_t pos = 0, begin = 0, end = 0;
  while (pos < all.size() && any_letter.find(all, pos, begin, end)) {
    size_t i = begin;
    const char32_t cp = utf8_next(all, i);
    if (cp >= 0x80) {
      const std::string text = all.substr(begin, end - begin);
      for (char letter = 'a'; letter <= 'z'; ++letter) {
        size_t b = 0, e = 0;
        if (Regex(std::string("(?i)") + letter, false, "character class table").find(text, 0, b, e)) {
          non_ascii_folds_.emplace_back(cp, letter);
          break;
        }
      }
    }
    pos = end;
  }
}

char CharClasses::ascii_fold(char32_t cp) const {
  if (cp < 0x80) {
    const char c = char(cp | 0x20);
    return c >= 'a' && c <= 'z' && (ascii_[cp] & kLetter) ? c : 0;
  }
  const auto it = std::lower_bound(non_ascii_folds_.begin(), non_ascii_folds_.end(), std::make_pair(cp, char(0)));
  return it != non_ascii_folds_.end() && it->first == cp ? it->second : 0;
}

}  // namespace r1::tok
