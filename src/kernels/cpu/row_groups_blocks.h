// The row-group blocks (row_groups.h): block b of 16 rows with each field transposed, so that a 64-byte
// load of a value field holds the same four bytes of every row.
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_blocks_iq.h"
#include "kernels/cpu/quant_dot.h"

namespace r1::quant {

struct GroupQ4_K {
  using Block = BlockQ4_K;
  using Act = BlockQ8_K;  // the activation blocks it multiplies
  uint16_t d[16], dmin[16];  // fp16, per row
  uint8_t scales[12][16];    // byte k of each row's packed scales
  uint8_t qs[32][16][4];     // bytes 4c .. 4c+3 of each row's nibbles
};
static_assert(sizeof(GroupQ4_K) == 16 * sizeof(BlockQ4_K));

// Q6_K's value bytes in the order the kernel reads them (a stream the hardware prefetcher follows; with
// ql and qh apart, decoding from memory ran slower than the standard layout): step 8h + c holds bytes
// 4c .. 4c+3 of ql[64h ..], of ql[64h + 32 ..] and of qh[32h ..] -- the values l = 4c .. 4c+3 of half h.
// Q2_K: 16 sub-blocks of 16, scale byte j = sc_j | m_j << 4; value 128h + 32g + l is bits 2g..2g+1 of qs[32h + l].
struct GroupQ2_K {
  using Block = BlockQ2_K;
  using Act = BlockQ8_K;  // the activation blocks it multiplies
  uint16_t d[16], dmin[16];  // fp16, per row
  uint8_t scales[16][16];    // scale byte j of each row
  uint8_t qs[16][16][4];     // bytes 4c .. 4c+3 of each row's 2-bit values
};
static_assert(sizeof(GroupQ2_K) == 16 * sizeof(BlockQ2_K));

// Q3_K: as Q2_K's values plus bit 4h + g of hmask[l] as bit 2 of value 128h + 32g + l; 16 packed 6-bit scales.
struct GroupQ3_K {
  using Block = BlockQ3_K;
  using Act = BlockQ8_K;  // the activation blocks it multiplies
  uint16_t d[16];            // fp16, per row
  uint8_t scales[12][16];    // byte k of each row's packed scales
  uint8_t hmask[8][16][4];   // bytes 4c .. 4c+3 of each row's high bits
  uint8_t qs[16][16][4];     // bytes 4c .. 4c+3 of each row's 2-bit values
};
static_assert(sizeof(GroupQ3_K) == 16 * sizeof(BlockQ3_K));

// Q5_K: Q4_K's fields and the fifth bits, qh (32 bytes per row) before the nibbles in the order read.
struct GroupQ5_K {
  using Block = BlockQ5_K;
  using Act = BlockQ8_K;  // the activation blocks it multiplies
  uint16_t d[16], dmin[16];  // fp16, per row
  uint8_t scales[12][16];    // byte k of each row's packed scales
  uint8_t qh[8][16][4];      // bytes 4c .. 4c+3 of each row's fifth bits
  uint8_t qs[32][16][4];     // bytes 4c .. 4c+3 of each row's nibbles
};
static_assert(sizeof(GroupQ5_K) == 16 * sizeof(BlockQ5_K));

struct GroupQ6_K {
  using Block = BlockQ6_K;
  using Act = BlockQ8_K;  // the activation blocks it multiplies
  uint16_t d[16];              // fp16, per row
  int8_t scales[16][16];       // scale j of each row
  uint8_t q[16][3][16][4];     // [step][ql low, ql high, qh][row][byte]
};
static_assert(sizeof(GroupQ6_K) == 16 * sizeof(BlockQ6_K));

// Q4_0 / Q5_0 (32 values, x = d·(q − 2^(bits−1))): value j < 16 is the low nibble of qs[j], j ≥ 16 the high
// nibble of qs[j − 16]. Q5_0's fifth bits (bit j of the row's 32-bit qh) are rearranged per row so that
// chunk c's come out with one shift: bit c of byte k is the fifth bit of value 4c + k, bit 4 + c that of
// value 16 + 4c + k.
struct GroupQ4_0 {
  using Block = BlockQ4_0;
  using Act = ActBlock32;  // the activation blocks it multiplies
  uint16_t d[16];          // fp16, per row
  uint8_t qs[4][16][4];    // bytes 4c .. 4c+3 of each row's nibbles
};
static_assert(sizeof(GroupQ4_0) == 16 * sizeof(BlockQ4_0));
struct GroupQ5_0 {
  using Block = BlockQ5_0;
  using Act = ActBlock32;  // the activation blocks it multiplies
  uint16_t d[16];          // fp16, per row
  uint8_t qh[16][4];       // each row's fifth bits, rearranged
  uint8_t qs[4][16][4];    // bytes 4c .. 4c+3 of each row's nibbles
};
static_assert(sizeof(GroupQ5_0) == 16 * sizeof(BlockQ5_0));
// Q4_1 / Q5_1 (x = d·q + m): Q4_0's and Q5_0's values beside each row's minimum.
struct GroupQ4_1 {
  using Block = BlockQ4_1;
  using Act = ActBlock32;  // the activation blocks it multiplies
  uint16_t d[16], m[16];   // fp16, per row
  uint8_t qs[4][16][4];    // bytes 4c .. 4c+3 of each row's nibbles
};
static_assert(sizeof(GroupQ4_1) == 16 * sizeof(BlockQ4_1));
struct GroupQ5_1 {
  using Block = BlockQ5_1;
  using Act = ActBlock32;  // the activation blocks it multiplies
  uint16_t d[16], m[16];   // fp16, per row
  uint8_t qh[16][4];       // each row's fifth bits, rearranged as Q5_0's
  uint8_t qs[4][16][4];    // bytes 4c .. 4c+3 of each row's nibbles
};
static_assert(sizeof(GroupQ5_1) == 16 * sizeof(BlockQ5_1));

// IQ4_NL: Q4_0's layout, the nibbles indexing kIQ4NL. IQ4_XS: 8 sub-blocks of 32, sub-block j in IQ4_NL's
// nibble order in qs[16j ..]; scale j = (nibble j % 2 of scales_l[j / 2] | bits 2j..2j+1 of scales_h << 4) − 32.
struct GroupIQ4_NL {
  using Block = BlockIQ4_NL;
  using Act = ActBlock32;  // the activation blocks it multiplies
  uint16_t d[16];          // fp16, per row
  uint8_t qs[4][16][4];    // bytes 4c .. 4c+3 of each row's nibbles
};
static_assert(sizeof(GroupIQ4_NL) == 16 * sizeof(BlockIQ4_NL));
struct GroupIQ4_XS {
  using Block = BlockIQ4_XS;
  using Act = BlockQ8_K;     // the activation blocks it multiplies
  uint16_t d[16];            // fp16, per row
  uint16_t scales_h[16];     // per row
  uint8_t scales_l[4][16];   // byte k of each row's scales_l
  uint8_t qs[32][16][4];     // bytes 4c .. 4c+3 of each row's nibbles
};
static_assert(sizeof(GroupIQ4_XS) == 16 * sizeof(BlockIQ4_XS));

// Q8_0's values stored as unsigned bytes q + 128, the operand vpdpbusd multiplies unsigned:
// Σ (q + 128)·qa = Σ q·qa + 128·Σ qa, and the activation block carries Σ qa.
struct GroupQ8_0 {
  using Block = BlockQ8_0;
  using Act = ActBlock32;  // the activation blocks it multiplies
  uint16_t d[16];          // fp16, per row
  uint8_t qs[8][16][4];    // bytes 4c .. 4c+3 of each row's values, plus 128
};
static_assert(sizeof(GroupQ8_0) == 16 * sizeof(BlockQ8_0));

// IQ1_S, expanded: in the file each group of eight values is an 11-bit codebook index, which the vector
// kernels can only look up one at a time (its mat-vec ran 1.3x slower than llama.cpp's, compute-bound
// at a sixth of the read bandwidth). Its group stores the entries looked up once, at load time, as
// 2-bit codes c = g + 1 for the codebook bytes g in {-1, 0, 1} -- Q2_K's value layout, decoded with a
// shift and a mask -- and per sub-block of 32 the 4 bits qh[j] >> 12 (s in bits 0-2, the shift's sign in
// bit 3), in nibble j % 2 of meta[j / 2]. 70 bytes per row and block instead of 50: a layout that takes
// more bytes than the standard one (row_groups_bytes). Restoring a row looks each group's 8 codes up in
// the codebook's inverse (row_groups.cpp).
struct BlockIQ1SCodes {  // one row's block in the form its group stores
  uint16_t d;        // fp16
  uint8_t meta[4];
  uint8_t qs[64];    // value 128h + 32k + l: bits 2k..2k+1 of qs[32h + l]
};
static_assert(sizeof(BlockIQ1SCodes) == 70);
struct GroupIQ1_S {
  using Block = BlockIQ1_S;
  using Stored = BlockIQ1SCodes;  // each row's block converted to this first, and back
  using Act = BlockQ8_K;          // the activation blocks it multiplies
  uint16_t d[16];                 // fp16, per row
  uint8_t meta[4][16];            // byte k of each row's meta
  uint8_t qs[16][16][4];          // bytes 4c .. 4c+3 of each row's codes
};
static_assert(sizeof(GroupIQ1_S) == 16 * sizeof(BlockIQ1SCodes));

// IQ2_XXS, IQ2_XS, IQ2_S, expanded likewise (their codebooks all hold the magnitudes 8, 25, 43): each
// value's magnitude as a 2-bit code (0, 1, 2) in Q2_K's value layout and its sign in Q3_K's hmask layout
// (the sign of value 128h + 32k + l is bit 4h + k of signs[l]), the scale's s of each 16 values in nibble
// j % 2 of scales[j / 2]: 106 bytes per row and block instead of 66 / 74 / 82.
struct BlockIQ2Codes {
  uint16_t d;  // fp16
  uint8_t scales[8];
  uint8_t signs[32];
  uint8_t qs[64];
};
static_assert(sizeof(BlockIQ2Codes) == 106);
template <class FileBlock>
struct GroupIQ2 {
  using Block = FileBlock;
  using Stored = BlockIQ2Codes;
  using Act = BlockQ8_K;
  uint16_t d[16];         // fp16, per row
  uint8_t scales[8][16];  // byte k of each row's scales
  uint8_t signs[8][16][4];
  uint8_t qs[16][16][4];
};
static_assert(sizeof(GroupIQ2<BlockIQ2_XXS>) == 16 * sizeof(BlockIQ2Codes));

// IQ3_XXS and IQ3_S, expanded likewise: each value's magnitude as a 3-bit code (its place among the
// codebook's eight magnitudes) and its sign as bit 3, one nibble per value in Q4_K's layout (value
// 64c + 32n + l in nibble n of qs[32c + l]), the scale's s of each 32 values in nibble j % 2 of
// scales[j / 2]: 134 bytes per row and block instead of 98 / 110.
struct BlockIQ3Codes {
  uint16_t d;  // fp16
  uint8_t scales[4];
  uint8_t qs[128];
};
static_assert(sizeof(BlockIQ3Codes) == 134);
template <class FileBlock>
struct GroupIQ3 {
  using Block = FileBlock;
  using Stored = BlockIQ3Codes;
  using Act = BlockQ8_K;
  uint16_t d[16];         // fp16, per row
  uint8_t scales[4][16];  // byte k of each row's scales
  uint8_t qs[32][16][4];  // bytes 4c .. 4c+3 of each row's nibbles
};
static_assert(sizeof(GroupIQ3<BlockIQ3_S>) == 16 * sizeof(BlockIQ3Codes));

// IQ1_M, expanded as IQ1_S: 2-bit codes c = g + 1, and for each value whether its shift is +1/8 (IQ1_M has
// one shift per eight values; the file's bit is set for −1/8) in Q3_K's hmask layout, the 3-bit scale of each 16 values in nibble j % 2 of scales[j / 2],
// and d (in the file: the top nibbles of the scale words): 106 bytes per row and block instead of 56.
struct BlockIQ1MCodes {
  uint16_t d;  // fp16
  uint8_t scales[8];
  uint8_t plus[32];
  uint8_t qs[64];
};
static_assert(sizeof(BlockIQ1MCodes) == 106);
struct GroupIQ1_M {
  using Block = BlockIQ1_M;
  using Stored = BlockIQ1MCodes;
  using Act = BlockQ8_K;
  uint16_t d[16];         // fp16, per row
  uint8_t scales[8][16];  // byte k of each row's scales
  uint8_t plus[8][16][4];
  uint8_t qs[16][16][4];
};
static_assert(sizeof(GroupIQ1_M) == 16 * sizeof(BlockIQ1MCodes));

// The magnitudes the codes stand for: IQ2's 8, 25, 43 (codes 0-2); IQ3_XXS's 4, 12, …, 52, 62 and IQ3_S's
// 1, 3, …, 15 (codes 0-7). Arithmetic rather than tables, so that the loops below vectorize; the kernels'
// lookup tables and the conversions are built from these.
constexpr uint8_t iq2_magnitude(unsigned c) { return uint8_t(8 + 17 * c + (c >> 1)); }
template <bool kXXS>
constexpr uint8_t iq3_magnitude(unsigned c) {
  return kXXS ? uint8_t(4 + 8 * c + 2 * ((c >> 2) & (c >> 1) & c & 1)) : uint8_t(2 * c + 1);  // XXS: 62, not 60, for 7
}
template <bool kXXS>
constexpr int kIQ3Max = kXXS ? 62 : 15;

// The stored forms in the integer form of quant_blocks_iq.h (v[256], sc[16]), as iq_unpack gives it from
// the file's blocks: the tiled GEMM decodes rows of a row-group matrix from these directly (restoring the
// file's blocks would look every group up in the codebook's inverse, then in the codebook again). Plain
// loops over the 32 bytes of a run, which the compilers vectorize.
inline void iq_unpack(const BlockIQ1SCodes& x, int8_t v[256], int8_t sc[16]) {
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 4; ++k) {  // values 128h + 32k + l: sub-block 4h + k
      const int nib = (x.meta[(4 * h + k) / 2] >> (4 * (k % 2))) & 15;
      const int shift = nib & 8 ? -9 : -7;  // 8(c - 1) ± 1
      sc[2 * (4 * h + k)] = sc[2 * (4 * h + k) + 1] = int8_t(2 * (nib & 7) + 1);
      for (int l = 0; l < 32; ++l) v[128 * h + 32 * k + l] = int8_t(8 * ((x.qs[32 * h + l] >> (2 * k)) & 3) + shift);
    }
  }
}
inline void iq_unpack(const BlockIQ1MCodes& x, int8_t v[256], int8_t sc[16]) {
  for (int j = 0; j < 16; ++j) sc[j] = int8_t(2 * ((x.scales[j / 2] >> (4 * (j % 2))) & 7) + 1);
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) {  // 8(c - 1) + 1 for a +1/8 shift, - 1 for -1/8
        v[128 * h + 32 * k + l] = int8_t(8 * ((x.qs[32 * h + l] >> (2 * k)) & 3) - 9 + 2 * ((x.plus[l] >> (4 * h + k)) & 1));
      }
    }
  }
}
inline void iq_unpack(const BlockIQ2Codes& x, int8_t v[256], int8_t sc[16]) {
  for (int j = 0; j < 16; ++j) sc[j] = int8_t(2 * ((x.scales[j / 2] >> (4 * (j % 2))) & 15) + 1);
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) {  // arithmetic rather than a lookup or selects, so that it vectorizes
        const uint8_t c = (x.qs[32 * h + l] >> (2 * k)) & 3, minus = (x.signs[l] >> (4 * h + k)) & 1;
        const uint8_t m = iq2_magnitude(c);
        v[128 * h + 32 * k + l] = int8_t(uint8_t((m ^ uint8_t(-minus)) + minus));
      }
    }
  }
}
template <bool kXXS>  // IQ3_XXS's magnitudes 4, 12, …, 52, 62; IQ3_S's 1, 3, …, 15
inline void iq3_unpack(const BlockIQ3Codes& x, int8_t v[256], int8_t sc[16]) {
  for (int j = 0; j < 16; ++j) sc[j] = int8_t(2 * ((x.scales[j / 4] >> (4 * ((j / 2) % 2))) & 15) + 1);
  for (int c = 0; c < 4; ++c) {
    for (int n = 0; n < 2; ++n) {
      for (int l = 0; l < 32; ++l) {  // value 64c + 32n + l: nibble n of qs[32c + l]
        const uint8_t nib = (x.qs[32 * c + l] >> (4 * n)) & 15, code = nib & 7, minus = nib >> 3;
        const uint8_t m = iq3_magnitude<kXXS>(code);
        v[64 * c + 32 * n + l] = int8_t(uint8_t((m ^ uint8_t(-minus)) + minus));
      }
    }
  }
}

// Each codebook type's stored form.
template <class Block> struct IqStored;
template <> struct IqStored<BlockIQ1_S> { using type = BlockIQ1SCodes; };
template <> struct IqStored<BlockIQ1_M> { using type = BlockIQ1MCodes; };
template <> struct IqStored<BlockIQ2_XXS> { using type = BlockIQ2Codes; };
template <> struct IqStored<BlockIQ2_XS> { using type = BlockIQ2Codes; };
template <> struct IqStored<BlockIQ2_S> { using type = BlockIQ2Codes; };
template <> struct IqStored<BlockIQ3_XXS> { using type = BlockIQ3Codes; };
template <> struct IqStored<BlockIQ3_S> { using type = BlockIQ3Codes; };
template <class Block>
inline void iq_unpack_stored(const typename IqStored<Block>::type& x, int8_t v[256], int8_t sc[16]) {
  if constexpr (std::is_same_v<Block, BlockIQ3_XXS> || std::is_same_v<Block, BlockIQ3_S>) {
    iq3_unpack<std::is_same_v<Block, BlockIQ3_XXS>>(x, v, sc);
  } else {
    iq_unpack(x, v, sc);
  }
}

// The per-row block a group stores: Group::Stored where the type is converted, else the file's block.
template <class Group>
struct StoredBlock {
  using type = typename Group::Block;
};
template <class Group>
  requires requires { typename Group::Stored; }
struct StoredBlock<Group> {
  using type = typename Group::Stored;
};

// fn(Group{}) for the row-group block of type t; false for a type without a row-group layout.
template <class Fn>
bool with_group(DType t, Fn&& fn) {
  switch (t) {
    case DType::Q4_0: fn(GroupQ4_0{}); return true;
    case DType::Q4_1: fn(GroupQ4_1{}); return true;
    case DType::Q5_0: fn(GroupQ5_0{}); return true;
    case DType::Q5_1: fn(GroupQ5_1{}); return true;
    case DType::Q8_0: fn(GroupQ8_0{}); return true;
    case DType::IQ4_NL: fn(GroupIQ4_NL{}); return true;
    case DType::IQ4_XS: fn(GroupIQ4_XS{}); return true;
    case DType::IQ1_S: fn(GroupIQ1_S{}); return true;
    case DType::IQ2_XXS: fn(GroupIQ2<BlockIQ2_XXS>{}); return true;
    case DType::IQ2_XS: fn(GroupIQ2<BlockIQ2_XS>{}); return true;
    case DType::IQ2_S: fn(GroupIQ2<BlockIQ2_S>{}); return true;
    case DType::IQ1_M: fn(GroupIQ1_M{}); return true;
    case DType::IQ3_XXS: fn(GroupIQ3<BlockIQ3_XXS>{}); return true;
    case DType::IQ3_S: fn(GroupIQ3<BlockIQ3_S>{}); return true;
    case DType::Q2_K: fn(GroupQ2_K{}); return true;
    case DType::Q3_K: fn(GroupQ3_K{}); return true;
    case DType::Q4_K: fn(GroupQ4_K{}); return true;
    case DType::Q5_K: fn(GroupQ5_K{}); return true;
    case DType::Q6_K: fn(GroupQ6_K{}); return true;
    default: return false;
  }
}

}  // namespace r1::quant
