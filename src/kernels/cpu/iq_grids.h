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

// Sign words: eight bytes of +1 or −1, one per value, as the kernels multiply by them.
// kSignPM1[s]: byte j is −1 where bit j of s is set (IQ2_S, IQ3_S store such a byte per 8 values).
inline constexpr std::array<uint64_t, 256> kSignPM1 = [] {
  std::array<uint64_t, 256> t{};
  for (size_t s = 0; s < 256; ++s) {
    for (int j = 0; j < 8; ++j) t[s] |= uint64_t((s >> j & 1) ? 0xff : 0x01) << (8 * j);
  }
  return t;
}();
// IQ2_XXS / IQ2_XS / IQ3_XXS store 7 sign bits per 8 values; the eighth makes the count of minus signs
// even (ggml's ksigns_iq2xs). kEvenSignPM1[s7] is the sign word of that completion.
inline constexpr std::array<uint64_t, 128> kEvenSignPM1 = [] {
  std::array<uint64_t, 128> t{};
  for (size_t s = 0; s < 128; ++s) t[s] = kSignPM1[s | (__builtin_popcount(unsigned(s)) & 1) << 7];
  return t;
}();
// IQ1: one sign per group for its ±1/8 shift, as a whole word of +1 or −1.
inline constexpr uint64_t kShiftPM1[2] = {0x0101010101010101ull, 0xffffffffffffffffull};

// Eight magnitudes (bytes in 1..127) times the sign word's ±1 bytes, without a carry between bytes: where
// the sign is −1, −g is (g ^ 0xff) + 1, and g ≥ 1 keeps that below 256.
inline uint64_t apply_signs(uint64_t grid8, uint64_t sign_word) {
  const uint64_t minus = ((sign_word >> 1) & 0x7f7f7f7f7f7f7f7full) | (sign_word & 0x8080808080808080ull);  // 0xff or 0
  return (grid8 ^ minus) + (minus & 0x0101010101010101ull);
}

}  // namespace r1::quant
