// GGML's codebook ("i-quant") types below 4 bits: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M.
// Super-blocks of 256 values; groups of 8 (IQ3: 4) values are one index into a codebook (iq_grids.h) of
// magnitudes, with the signs stored beside it (IQ1: signed codebook entries plus a shift of ±1/8).
//
// Every type is also written here in one integer form, which the int8 dot products use:
//   x_i = d · F · sc_j · v_i     v_i an int8 (|v| ≤ 62), sc_j a small odd integer per 16 values,
// with d the block's fp16 scale and F a power of two of the type (so d · F is exact):
//   IQ2_*:   d·(0.5 + s)·0.25 · g        = d/8 · (2s+1) · g
//   IQ3_XXS: d·(0.5 + s)·0.5  · g        = d/4 · (2s+1) · g
//   IQ3_S:   d·(1 + 2s)       · g        = d   · (2s+1) · g
//   IQ1_*:   d·(2s+1)·(g ± 1/8)          = d/8 · (2s+1) · (8g ± 1)
// The float decoding (quants_decode.cpp) goes through the same form: (d·F·sc_j)·v_i rounds exactly as ggml's
// (d·(0.5 + s)·0.25)·(±g) or (d·(2s+1))·(g ± 1/8) do, since F, 0.25 and 1/8 only move the exponent.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/iq_grids.h"

namespace r1::quant {

// What the kernels need to know of a type besides its fields: its codebook (8-byte entries of 8 values,
// or 4-byte ones of 4), the F of its integer form, and how signs are stored -- one bit per value
// (Eight), 7 bits per 8 values completed to even parity (Seven), or IQ1's signed entries with one ±1/8
// shift per group (Shift). An empty base: the block structs keep their exact file layout.
enum class Signs { Eight, Seven, Shift };
template <const auto& kTable, int kFactorLog2, Signs kSignForm>  // F = 2^-kFactorLog2
struct IqKind {
  static constexpr int kElems = 256;
  static constexpr const auto* kGrid = kTable;
  static constexpr bool kCodebook4 = sizeof(kTable[0]) == 4;
  static constexpr float kFactor = 1.0f / float(1 << kFactorLog2);
  static constexpr bool kSigns7 = kSignForm == Signs::Seven;
  static constexpr bool kShifted = kSignForm == Signs::Shift;
};

// 8 sub-blocks of 32; sub-block j is qs[4j .. 4j+4) read as two little-endian words w0, w1: the bytes of
// w0 index kIQ2XXSGrid for groups 0..3, bits 7l..7l+6 of w1 are group l's signs (even-parity
// completed), bits 28..31 of w1 the scale s.
struct BlockIQ2_XXS : IqKind<kIQ2XXSGrid, 3, Signs::Seven> {
  uint16_t d;  // fp16
  uint16_t qs[32];
};
// Group k (of 32): qs[k] = index (9 bits, kIQ2XSGrid) | signs (7 bits) << 9; scales[j]: the low nibble
// is s for values 32j .. 32j+15, the high nibble for 32j+16 .. 32j+31.
struct BlockIQ2_XS : IqKind<kIQ2XSGrid, 3, Signs::Seven> {
  uint16_t d;  // fp16
  uint16_t qs[32];
  uint8_t scales[8];
};
// Group k: index = qs[k] | bits 2(k%4)..2(k%4)+1 of qh[k/4] as bits 8-9 (kIQ2SGrid); signs = byte
// qs[32 + k], one bit per value; scales as IQ2_XS.
struct BlockIQ2_S : IqKind<kIQ2SGrid, 3, Signs::Eight> {
  uint16_t d;  // fp16
  uint8_t qs[64];
  uint8_t qh[8];
  uint8_t scales[8];
};
// Half-group h (4 values) indexes kIQ3XXSGrid with qs[h]; sub-block j's word w = qs[64 + 4j ..] holds
// group l's signs at bits 7l.. (even-parity completed) and s at bits 28..31.
struct BlockIQ3_XXS : IqKind<kIQ3XXSGrid, 2, Signs::Seven> {
  uint16_t d;  // fp16
  uint8_t qs[96];
};
// Half-group h: index = qs[h] | bit (h % 8) of qh[h / 8] as bit 8 (kIQ3SGrid); signs[k] one bit per
// value of group k; scales[j/2] nibble j % 2 is sub-block j's s, and the scale is 1 + 2s.
struct BlockIQ3_S : IqKind<kIQ3SGrid, 0, Signs::Eight> {
  uint16_t d;  // fp16
  uint8_t qs[64];
  uint8_t qh[8];
  uint8_t signs[32];
  uint8_t scales[4];
};
// Sub-block j: group l's index = qs[4j + l] | bits 3l..3l+2 of qh[j] as bits 8-10 (kIQ1SGrid); bits
// 12..14 of qh[j] are s, bit 15 the sign of the shift (set: −1/8).
struct BlockIQ1_S : IqKind<kIQ1SGrid, 3, Signs::Shift> {
  uint16_t d;  // fp16
  uint8_t qs[32];
  uint16_t qh[8];
};
// No stored d field: d is the fp16 whose four nibbles are the top nibbles of the four 16-bit words of
// `scales`. Word j/2 holds sub-block j's two 3-bit scales (values 0..15, 16..31) at bits 6(j%2) and
// 6(j%2)+3. Group k's index = qs[k] | 3 bits of qh[k/2] (low nibble for even k, high for odd) as bits
// 8-10; bit 3 of that nibble is the sign of the group's shift.
struct BlockIQ1_M : IqKind<kIQ1SGrid, 3, Signs::Shift> {
  uint8_t qs[32];
  uint8_t qh[16];
  uint8_t scales[8];
};

static_assert(std::is_standard_layout_v<BlockIQ1_M> && std::is_trivially_copyable_v<BlockIQ1_M>);
static_assert(sizeof(BlockIQ2_XXS) == 66 && sizeof(BlockIQ2_XS) == 74 && sizeof(BlockIQ2_S) == 82 &&
              sizeof(BlockIQ3_XXS) == 98 && sizeof(BlockIQ3_S) == 110 && sizeof(BlockIQ1_S) == 50 &&
              sizeof(BlockIQ1_M) == 56);

// The block's d, as fp16 bits: a field of its own, except in IQ1_M.
template <class Block>
static inline uint16_t iq_d_bits(const Block& b) {
  return b.d;
}
static inline uint16_t iq_d_bits(const BlockIQ1_M& b) {
  uint16_t sc[4];
  std::memcpy(sc, b.scales, 8);
  return uint16_t((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
}

// ---- the block's fields, per 64 values -----------------------------------------------------------------
// For values 64q .. 64q+63 (q = 0..3): the codebook index of each group (8 of them; IQ3: 16 entries of 4
// values) and one sign index per group of 8 values: the 8 values' signs, one bit each (IQ2_S, IQ3_S), the
// 7 stored bits of them (kSigns7: IQ2_XXS, IQ2_XS, IQ3_XXS), or the sign of the group's shift (IQ1).
// The vector kernels look their words up with these indices directly; iq_unpack below builds the
// integer form from them.
struct IqGroups64 {
  uint32_t grid[16];
  uint32_t sign[8];
};

// The sign word (±1 bytes) of group i.
template <class Block>
static inline uint64_t iq_sign_word(const IqGroups64& g, int i) {
  if constexpr (Block::kShifted) return kShiftPM1[g.sign[i] & 1];
  if constexpr (Block::kSigns7) return kEvenSignPM1[g.sign[i] & 127];
  return kSignPM1[g.sign[i] & 255];
}

// One odd scale per 16 values.
static inline void iq2_scales(const uint8_t scales[8], int8_t sc[16]) {
  for (int j = 0; j < 8; ++j) {
    sc[2 * j] = int8_t(2 * (scales[j] & 15) + 1);
    sc[2 * j + 1] = int8_t(2 * (scales[j] >> 4) + 1);
  }
}

static inline void iq_scales(const BlockIQ2_XXS& b, int8_t sc[16]) {
  for (int j = 0; j < 8; ++j) sc[2 * j] = sc[2 * j + 1] = int8_t(2 * (b.qs[4 * j + 3] >> 12) + 1);  // bits 28..31 of w1
}
static inline void iq_scales(const BlockIQ2_XS& b, int8_t sc[16]) { iq2_scales(b.scales, sc); }
static inline void iq_scales(const BlockIQ2_S& b, int8_t sc[16]) { iq2_scales(b.scales, sc); }
static inline void iq_scales(const BlockIQ3_XXS& b, int8_t sc[16]) {
  for (int j = 0; j < 8; ++j) sc[2 * j] = sc[2 * j + 1] = int8_t(2 * (b.qs[64 + 4 * j + 3] >> 4) + 1);
}
static inline void iq_scales(const BlockIQ3_S& b, int8_t sc[16]) {
  for (int j = 0; j < 8; ++j) sc[2 * j] = sc[2 * j + 1] = int8_t(2 * ((b.scales[j / 2] >> (4 * (j % 2))) & 15) + 1);
}
static inline void iq_scales(const BlockIQ1_S& b, int8_t sc[16]) {
  for (int j = 0; j < 8; ++j) sc[2 * j] = sc[2 * j + 1] = int8_t(2 * ((b.qh[j] >> 12) & 7) + 1);
}
static inline void iq_scales(const BlockIQ1_M& b, int8_t sc[16]) {
  uint16_t s[4];
  std::memcpy(s, b.scales, 8);
  for (int j = 0; j < 8; ++j) {
    const int shift = 6 * (j % 2);
    sc[2 * j] = int8_t(2 * ((s[j / 2] >> shift) & 7) + 1);
    sc[2 * j + 1] = int8_t(2 * ((s[j / 2] >> (shift + 3)) & 7) + 1);
  }
}

static inline void iq_groups64(const BlockIQ2_XXS& b, int q, IqGroups64& g) {
  for (int jj = 0; jj < 2; ++jj) {
    uint32_t w[2];
    std::memcpy(w, b.qs + 4 * (2 * q + jj), 8);
    for (int l = 0; l < 4; ++l) {
      g.grid[4 * jj + l] = (w[0] >> (8 * l)) & 255;
      g.sign[4 * jj + l] = (w[1] >> (7 * l)) & 127;
    }
  }
}
static inline void iq_groups64(const BlockIQ2_XS& b, int q, IqGroups64& g) {
  for (int i = 0; i < 8; ++i) {
    const uint16_t x = b.qs[8 * q + i];
    g.grid[i] = x & 511;
    g.sign[i] = x >> 9;
  }
}
static inline void iq_groups64(const BlockIQ2_S& b, int q, IqGroups64& g) {
  for (int i = 0; i < 8; ++i) {
    const int k = 8 * q + i;
    g.grid[i] = b.qs[k] | ((b.qh[k / 4] >> (2 * (k % 4))) & 3u) << 8;
    g.sign[i] = b.qs[32 + k];
  }
}
static inline void iq_groups64(const BlockIQ3_XXS& b, int q, IqGroups64& g) {
  for (int jj = 0; jj < 2; ++jj) {
    const int j = 2 * q + jj;
    uint32_t w;
    std::memcpy(&w, b.qs + 64 + 4 * j, 4);
    for (int m = 0; m < 8; ++m) g.grid[8 * jj + m] = b.qs[8 * j + m];
    for (int l = 0; l < 4; ++l) g.sign[4 * jj + l] = (w >> (7 * l)) & 127;
  }
}
static inline void iq_groups64(const BlockIQ3_S& b, int q, IqGroups64& g) {
  for (int m = 0; m < 16; ++m) {
    const int h = 16 * q + m;  // half-group of 4 values
    g.grid[m] = b.qs[h] | ((b.qh[h / 8] >> (h % 8)) & 1u) << 8;
  }
  for (int i = 0; i < 8; ++i) g.sign[i] = b.signs[8 * q + i];
}
static inline void iq_groups64(const BlockIQ1_S& b, int q, IqGroups64& g) {
  for (int jj = 0; jj < 2; ++jj) {
    const int j = 2 * q + jj;
    for (int l = 0; l < 4; ++l) {
      g.grid[4 * jj + l] = b.qs[4 * j + l] | ((b.qh[j] >> (3 * l)) & 7u) << 8;
      g.sign[4 * jj + l] = b.qh[j] >> 15;
    }
  }
}
static inline void iq_groups64(const BlockIQ1_M& b, int q, IqGroups64& g) {
  for (int i = 0; i < 8; ++i) {
    const int k = 8 * q + i;
    const uint32_t nibble = (b.qh[k / 2] >> (4 * (k % 2))) & 15;
    g.grid[i] = b.qs[k] | (nibble & 7) << 8;
    g.sign[i] = nibble >> 3;
  }
}

// ---- the integer form: v[256] and sc[16] (one per 16 values) -----------------------------------------

// Eight codebook values of group i: one 8-value entry, or two 4-value entries.
template <class Block>
static inline uint64_t iq_entry8(const IqGroups64& g, int i) {
  if constexpr (Block::kCodebook4) {
    return uint64_t(Block::kGrid[g.grid[2 * i]]) | uint64_t(Block::kGrid[g.grid[2 * i + 1]]) << 32;
  } else {
    return Block::kGrid[g.grid[i]];
  }
}

// IQ1: v = 8g ± 1 for the codebook bytes g ∈ {−1, 0, 1}.
static inline uint64_t iq1_values(uint64_t grid8, bool minus) {
  uint8_t out[8];
  for (int i = 0; i < 8; ++i) out[i] = uint8_t(8 * int8_t(grid8 >> (8 * i)) + (minus ? -1 : 1));
  uint64_t v;
  std::memcpy(&v, out, 8);
  return v;
}

template <class Block>
static inline void iq_unpack(const Block& b, int8_t v[256], int8_t sc[16]) {
  iq_scales(b, sc);
  for (int q = 0; q < 4; ++q) {
    IqGroups64 g;
    iq_groups64(b, q, g);
    for (int i = 0; i < 8; ++i) {
      const uint64_t entry = iq_entry8<Block>(g, i);
      const uint64_t x = Block::kShifted ? iq1_values(entry, g.sign[i] != 0) : apply_signs(entry, iq_sign_word<Block>(g, i));
      std::memcpy(v + 64 * q + 8 * i, &x, 8);
    }
  }
}

}  // namespace r1::quant
