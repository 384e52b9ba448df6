// Fast hashing and comparison of short byte strings (words and tokens) for the tokenizer's flat hash
// tables. Both read whole 8- or 4-byte words with overlapping loads instead of copying a variable
// number of bytes: a variable-length memcpy into a stack word and the wider load after it cost a
// store-forwarding stall on every lookup.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace r1::tok {

namespace detail {
inline uint64_t load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline uint32_t load4(const char* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}
inline uint64_t load_byte(const char* p) { return static_cast<unsigned char>(*p); }
}  // namespace detail

inline uint64_t hash_bytes(std::string_view s) {
  using namespace detail;
  const char* p = s.data();
  const size_t n = s.size();
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    h = (h ^ load8(p + i)) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  const size_t rest = n - i;  // 0..7 bytes, all of them read (with the length in h, no two strings mix up)
  uint64_t w = 0;
  if (rest > 0 && n >= 8) {
    w = load8(p + n - 8);
  } else if (rest >= 4) {
    w = load4(p + i) | uint64_t(load4(p + n - 4)) << 32;
  } else if (rest > 0) {
    w = load_byte(p + i) | load_byte(p + i + rest / 2) << 8 | load_byte(p + n - 1) << 16;
  }
  h = (h ^ w) * 0x94D049BB133111EBull;
  h ^= h >> 29;
  return h;
}

// a[0..n) == b[0..n), for the short strings of the hash tables.
inline bool bytes_equal(const char* a, const char* b, size_t n) {
  using namespace detail;
  if (n >= 8) {
    if (n > 16) return std::memcmp(a, b, n) == 0;
    return load8(a) == load8(b) && load8(a + n - 8) == load8(b + n - 8);
  }
  if (n >= 4) return load4(a) == load4(b) && load4(a + n - 4) == load4(b + n - 4);
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

}  // namespace r1::tok
