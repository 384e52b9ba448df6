// UTF-8 helpers: validation, lossy repair, encoding a code point, and streaming-safe cut points.
//
// Invalid UTF-8 is repaired the way Rust's String::from_utf8_lossy, Python's
// bytes.decode("utf-8", "replace") and the WHATWG TextDecoder do: every maximal subpart of an
// ill-formed sequence becomes one U+FFFD. Hugging Face tokenizers only ever sees valid text (a Rust
// String or a Python str), so the tokenizer repairs its input this way before encoding.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace r1 {

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool utf8_valid(std::string_view s);

// `s` with every maximal ill-formed subpart replaced by U+FFFD ("\xEF\xBF\xBD").
std::string utf8_lossy(std::string_view s);

// Length of the longest prefix of `s` that can be decoded now without guessing: everything except a
// trailing, still incomplete but so far valid, multi-byte sequence (which later bytes may complete).
size_t utf8_complete_prefix(std::string_view s);

// Appends code point `cp` (assumed valid) as UTF-8.
void utf8_append(std::string& out, char32_t cp);

// Decodes the code point starting at s[i] of valid UTF-8 and advances i.
char32_t utf8_next(std::string_view s, size_t& i);

}  // namespace r1
