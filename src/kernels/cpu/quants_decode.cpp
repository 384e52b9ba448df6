// dequantize_row: ggml's decoding of every block type, operation for operation (the value of each
// element is computed with the same float operations as ggml's dequantize_row_*), one block at a time.
#include <cstring>

#include "core/error.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quants.h"

namespace r1 {

namespace {

using namespace quant;

inline float f16(uint16_t h) { return f16_to_f32(h); }

// Value j (0..31) of a 32-value block's nibbles: low nibbles first, then high nibbles.
inline int nibble32(const uint8_t qs[16], int j) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; }

// Q4_0, Q4_1, Q5_0, Q5_1: x = d·(q − 2^(bits−1)) without a minimum, x = d·q + m with one.
template <int kBits, bool kHasMin, class Block>
void decode_legacy(const Block& b, float* y) {
  const float d = f16(b.d);
  uint32_t qh = 0;
  if constexpr (kBits == 5) std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < kQ; ++j) {
    int q = nibble32(b.qs, j);
    if constexpr (kBits == 5) q |= int((qh >> j) & 1) << 4;
    if constexpr (kHasMin) {
      y[j] = float(q) * d + f16(b.m);
    } else {
      y[j] = float(q - (1 << (kBits - 1))) * d;
    }
  }
}

void decode_q8_0(const BlockQ8_0& b, float* y) {
  const float d = f16(b.d);
  for (int j = 0; j < kQ; ++j) y[j] = float(b.qs[j]) * d;
}

void decode_iq4_nl(const BlockIQ4_NL& b, float* y) {
  const float d = f16(b.d);
  for (int j = 0; j < kQ; ++j) y[j] = d * float(kIQ4NL[nibble32(b.qs, j)]);
}

// The 2 low bits of value e of a Q2_K / Q3_K super-block (layout in quant_blocks.h).
inline int low2(const uint8_t qs[64], int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

void decode_q2_k(const BlockQ2_K& b, float* y) {
  const float d = f16(b.d), dmin = f16(b.dmin);
  for (int j = 0; j < 16; ++j) {
    const float dl = d * float(b.scales[j] & 15), ml = dmin * float(b.scales[j] >> 4);
    for (int e = 16 * j; e < 16 * j + 16; ++e) y[e] = dl * float(low2(b.qs, e)) - ml;
  }
}

void decode_q3_k(const BlockQ3_K& b, float* y) {
  const float d = f16(b.d);
  int8_t scale[16];
  unpack_q3k_scales(b.scales, scale);
  for (int j = 0; j < 16; ++j) {
    const float dl = d * float(scale[j]);
    for (int e = 16 * j; e < 16 * j + 16; ++e) {
      const bool high = (b.hmask[e % 32] >> (e / 32)) & 1;
      y[e] = dl * float(low2(b.qs, e) - (high ? 0 : 4));
    }
  }
}

// Q4_K and Q5_K: value l of sub-block j is nibble j % 2 of qs[32(j/2) + l], plus bit j of qh[l] for Q5_K.
template <int kBits, class Block>
void decode_k45(const Block& b, float* y) {
  const float d = f16(b.d), dmin = f16(b.dmin);
  uint8_t sc[8], mn[8];
  unpack_k4_scales(b.scales, sc, mn);
  for (int j = 0; j < 8; ++j) {
    const float d1 = d * float(sc[j]), m1 = dmin * float(mn[j]);
    for (int l = 0; l < 32; ++l) {
      int q = (b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15;
      if constexpr (kBits == 5) q |= ((b.qh[l] >> j) & 1) << 4;
      y[32 * j + l] = d1 * float(q) - m1;
    }
  }
}

void decode_q6_k(const BlockQ6_K& b, float* y) {
  const float d = f16(b.d);
  for (int e = 0; e < kQK; ++e) {
    const int h = e / 128, g = (e % 128) / 32, l = e % 32;
    const int lo = (b.ql[64 * h + 32 * (g % 2) + l] >> (4 * (g / 2))) & 15;
    const int hi = (b.qh[32 * h + l] >> (2 * g)) & 3;
    y[e] = d * float(b.scales[e / 16]) * float((lo | hi << 4) - 32);
  }
}

void decode_q8_k(const BlockQ8_K& b, float* y) {
  for (int e = 0; e < kQK; ++e) y[e] = b.d * float(b.qs[e]);
}

void decode_iq4_xs(const BlockIQ4_XS& b, float* y) {
  const float d = f16(b.d);
  for (int j = 0; j < 8; ++j) {
    const float dl = d * float(iq4xs_scale(b, j));
    for (int i = 0; i < 32; ++i) y[32 * j + i] = dl * float(kIQ4NL[nibble32(b.qs + 16 * j, i)]);
  }
}

using RowDecoder = void (*)(const void* src, float* dst, int64_t blocks);

template <class Block, void (*kDecode)(const Block&, float*)>
void decode_blocks(const void* src, float* dst, int64_t blocks) {
  const auto* b = static_cast<const Block*>(src);
  for (int64_t i = 0; i < blocks; ++i) kDecode(b[i], dst + i * Block::kElems);
}

RowDecoder decoder(DType t) {
  switch (t) {
    case DType::Q4_0: return decode_blocks<BlockQ4_0, decode_legacy<4, false, BlockQ4_0>>;
    case DType::Q4_1: return decode_blocks<BlockQ4_1, decode_legacy<4, true, BlockQ4_1>>;
    case DType::Q5_0: return decode_blocks<BlockQ5_0, decode_legacy<5, false, BlockQ5_0>>;
    case DType::Q5_1: return decode_blocks<BlockQ5_1, decode_legacy<5, true, BlockQ5_1>>;
    case DType::Q8_0: return decode_blocks<BlockQ8_0, decode_q8_0>;
    case DType::Q2_K: return decode_blocks<BlockQ2_K, decode_q2_k>;
    case DType::Q3_K: return decode_blocks<BlockQ3_K, decode_q3_k>;
    case DType::Q4_K: return decode_blocks<BlockQ4_K, decode_k45<4, BlockQ4_K>>;
    case DType::Q5_K: return decode_blocks<BlockQ5_K, decode_k45<5, BlockQ5_K>>;
    case DType::Q6_K: return decode_blocks<BlockQ6_K, decode_q6_k>;
    case DType::Q8_K: return decode_blocks<BlockQ8_K, decode_q8_k>;
    case DType::IQ4_NL: return decode_blocks<BlockIQ4_NL, decode_iq4_nl>;
    case DType::IQ4_XS: return decode_blocks<BlockIQ4_XS, decode_iq4_xs>;
    default: return nullptr;
  }
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  const RowDecoder decode = decoder(t);
  if (!decode) fail("dequantize_row: {} is not a block-quantized type", dtype_name(t));
  decode(src, dst, n / dtype_block_elems(t));
}

}  // namespace r1
