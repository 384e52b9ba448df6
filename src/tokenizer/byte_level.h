// GPT-2's byte <-> unicode map used by byte-level BPE (tokenizers' ByteLevel pre-tokenizer and
// decoder): every byte gets a printable code point so that vocabulary entries are readable strings.
// Printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) map to themselves, the other 68
// bytes to U+0100.. in byte order (so ' ' becomes 'Ġ' U+0120 and '\n' becomes 'Ċ' U+010A).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace r1::tok {

// The code point byte `b` maps to.
char32_t byte_to_unicode(unsigned char b);

// The byte whose code point is `cp`, or nothing when `cp` is not in the map.
std::optional<unsigned char> unicode_to_byte(char32_t cp);

// Raw bytes -> byte-level string (UTF-8 of the mapped code points).
std::string bytes_to_byte_level(std::string_view raw);

// Byte-level string -> raw bytes; nothing when a code point is outside the map (e.g. an added token
// such as "<｜User｜>" written as plain text).
std::optional<std::string> byte_level_to_bytes(std::string_view text);

}  // namespace r1::tok
