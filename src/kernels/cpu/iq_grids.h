// The codebooks of GGML's IQ1/IQ2/IQ3 types (iq_grids.cpp, generated from ggml-common.h): entry k holds
// 8 (or 4, for the IQ3 types) magnitudes, one per byte, lowest byte first. IQ1's entries are signed
// bytes (−1, 0, 1); the IQ2/IQ3 entries are positive and take their signs from the block.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace r1::quant {

extern const uint64_t kIQ2XXSGrid[256];  // bytes from {8, 25, 43}
extern const uint64_t kIQ2XSGrid[512];
extern const uint64_t kIQ2SGrid[1024];
extern const uint32_t kIQ3XXSGrid[256];  // bytes from {4, 12, …, 52, 62}
extern const uint32_t kIQ3SGrid[512];    // bytes from {1, 3, …, 15}
extern const uint64_t kIQ1SGrid[2048];   // bytes from {0xff, 0, 1}: −1, 0, 1

// kSignMask[bits]: byte j is 0xff where bit j of `bits` is set, else 0 (a table: the decode loops look one
// up per 8 values, and the lookup is cheaper than computing it).
inline constexpr std::array<uint64_t, 256> kSignMask = [] {
  std::array<uint64_t, 256> t{};
  for (int s = 0; s < 256; ++s) {
    for (int j = 0; j < 8; ++j) {
      if (s >> j & 1) t[size_t(s)] |= uint64_t(0xff) << (8 * j);
    }
  }
  return t;
}();
inline uint64_t bits_to_byte_mask(uint32_t bits) { return kSignMask[bits & 255]; }

// IQ2_XXS / IQ2_XS / IQ3_XXS store the signs of 8 values in 7 bits: the eighth makes the count of minus
// signs even (ggml's ksigns_iq2xs).
inline constexpr std::array<uint8_t, 128> kEvenParitySigns = [] {
  std::array<uint8_t, 128> t{};
  for (int s = 0; s < 128; ++s) t[size_t(s)] = uint8_t(s | (__builtin_popcount(unsigned(s)) & 1) << 7);
  return t;
}();
inline uint32_t even_parity_signs(uint32_t s7) { return kEvenParitySigns[s7 & 127]; }

// Eight grid magnitudes (bytes, each in 1..127) with the signs of `mask` (0xff bytes) applied: −g as
// two's complement is (g ^ 0xff) + 1, which never carries into the next byte for g ≥ 1.
inline uint64_t apply_signs(uint64_t grid8, uint64_t mask) { return (grid8 ^ mask) + (mask & 0x0101010101010101ull); }

}  // namespace r1::quant
