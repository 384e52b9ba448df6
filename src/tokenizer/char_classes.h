// The Unicode classes the pre-tokenizer patterns test (\p{L}, \p{M}, \p{N}, \p{P}, \p{S}, \s), for
// every code point, exactly as PCRE2 with PCRE2_UCP classifies them -- the table is read out of PCRE2
// itself once per process, so the hand-written split patterns (split_patterns.h) agree with the
// regexes they replace even where Unicode versions differ between libraries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace r1::tok {

enum CharClass : uint8_t {
  kLetter = 1,   // \p{L}
  kMark = 2,     // \p{M}
  kNumber = 4,   // \p{N}
  kPunct = 8,    // \p{P}
  kSymbol = 16,  // \p{S}
  kSpace = 32,   // \s (with PCRE2_UCP)
};

class CharClasses {
 public:
  // The process-wide table, built on first use (tens of milliseconds).
  static const CharClasses& get();

  uint8_t of(char32_t cp) const {
    if (cp < 0x80) return ascii_[cp];
    if (cp > 0x10FFFF) return 0;
    return blocks_[size_t(block_of_page_[cp >> 8]) * 256 + (cp & 0xFF)];
  }
  // The lowercase ASCII letter that `cp` equals case-insensitively in PCRE2 ('S' and U+017F 'ſ' give
  // 's'), or 0 when none does.
  char ascii_fold(char32_t cp) const;

 private:
  CharClasses();
  uint8_t ascii_[0x80] = {};
  std::vector<uint16_t> block_of_page_;  // cp >> 8 -> index of its 256-entry block in blocks_
  std::vector<uint8_t> blocks_;          // deduplicated blocks of classes
  std::vector<std::pair<char32_t, char>> non_ascii_folds_;  // sorted by code point
};

// One code point of valid UTF-8: its value, classes and length in bytes.
struct CodePoint {
  char32_t cp;
  uint8_t classes;
  uint8_t len;
};

// Decodes the code point at s[i] (valid UTF-8, i < s.size()).
inline CodePoint code_point_at(const CharClasses& table, std::string_view s, size_t i) {
  const auto c0 = static_cast<unsigned char>(s[i]);
  if (c0 < 0x80) return {c0, table.of(c0), 1};
  const auto cont = [&](size_t k) { return char32_t(static_cast<unsigned char>(s[i + k]) & 0x3F); };
  char32_t cp;
  uint8_t len;
  if (c0 < 0xE0) {
    cp = (char32_t(c0 & 0x1F) << 6) | cont(1);
    len = 2;
  } else if (c0 < 0xF0) {
    cp = (char32_t(c0 & 0x0F) << 12) | (cont(1) << 6) | cont(2);
    len = 3;
  } else {
    cp = (char32_t(c0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
    len = 4;
  }
  return {cp, table.of(cp), len};
}

}  // namespace r1::tok
