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

// Q4_0, Q4_1, Q5_0, Q5_1: x = d·(q − 2^(bits−1)) without a minimum, x = d·q + m with one.
template <int kBits, bool kHasMin, class Block>
void decode_legacy(const Block& b, float* y) {
  const float d = f16(b.d);
  uint32_t qh = 0;
  if constexpr (kBits == 5) std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < kQ; ++j) {
    int q = (b.qs[j % 16] >> (4 * (j / 16))) & 15;
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

// IQ4_NL and each IQ4_XS sub-block: byte j holds value j (low nibble) and value j + 16 (high nibble).
void decode_iq4_32(const uint8_t* qs, float d, float* y) {
  for (int j = 0; j < 16; ++j) {
    y[j] = d * float(kIQ4NL[qs[j] & 15]);
    y[j + 16] = d * float(kIQ4NL[qs[j] >> 4]);
  }
}

void decode_iq4_nl(const BlockIQ4_NL& b, float* y) { decode_iq4_32(b.qs, f16(b.d), y); }

// Q2_K / Q3_K: value e = 128h + 32g + l has its 2 low bits at bits 2g..2g+1 of qs[32h + l]. The loops
// run in that order (h, g, l) so that the inner one is a plain vectorizable sweep over l.
void decode_q2_k(const BlockQ2_K& b, float* y) {
  const float d = f16(b.d), dmin = f16(b.dmin);
  for (int h = 0; h < 2; ++h) {
    for (int g = 0; g < 4; ++g) {
      for (int half = 0; half < 2; ++half) {  // sub-block j = 8h + 2g + half: values l = 16·half … 16·half + 15
        const int j = 8 * h + 2 * g + half;
        const float dl = d * float(b.scales[j] & 15), ml = dmin * float(b.scales[j] >> 4);
        const uint8_t* q = b.qs + 32 * h + 16 * half;
        float* out = y + 16 * j;
        for (int l = 0; l < 16; ++l) out[l] = dl * float((q[l] >> (2 * g)) & 3) - ml;
      }
    }
  }
}

void decode_q3_k(const BlockQ3_K& b, float* y) {
  const float d = f16(b.d);
  int8_t scale[16];
  unpack_q3k_scales(b.scales, scale);
  for (int h = 0; h < 2; ++h) {
    for (int g = 0; g < 4; ++g) {
      const int bit = 4 * h + g;  // the high bit of value e is bit e / 32 of hmask[e % 32]
      for (int half = 0; half < 2; ++half) {
        const int j = 8 * h + 2 * g + half;
        const float dl = d * float(scale[j]);
        const uint8_t *q = b.qs + 32 * h + 16 * half, *hm = b.hmask + 16 * half;
        float* out = y + 16 * j;
        for (int l = 0; l < 16; ++l) out[l] = dl * float(((q[l] >> (2 * g)) & 3) - (((hm[l] >> bit) & 1) ? 0 : 4));
      }
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
    const uint8_t* q = b.qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    for (int l = 0; l < 32; ++l) {
      int v = (q[l] >> shift) & 15;
      if constexpr (kBits == 5) v |= ((b.qh[l] >> j) & 1) << 4;
      y[32 * j + l] = d1 * float(v) - m1;
    }
  }
}

// Q6_K: per half h and l < 32, values l, l+32, l+64, l+96 of the half take the low nibble of
// ql[64h+l], of ql[64h+32+l], the high nibble of ql[64h+l], of ql[64h+32+l], and bits 0-1, 2-3, 4-5, 6-7
// of qh[32h+l] as bits 4-5.
void decode_q6_k(const BlockQ6_K& b, float* y) {
  const float d = f16(b.d);
  for (int h = 0; h < 2; ++h) {
    const uint8_t *ql = b.ql + 64 * h, *qh = b.qh + 32 * h;
    const int8_t* sc = b.scales + 8 * h;
    float* out = y + 128 * h;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 15) | (qh[l] & 3) << 4) - 32;
      const int q2 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
      const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
      const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
      out[l] = d * float(sc[is]) * float(q1);
      out[l + 32] = d * float(sc[is + 2]) * float(q2);
      out[l + 64] = d * float(sc[is + 4]) * float(q3);
      out[l + 96] = d * float(sc[is + 6]) * float(q4);
    }
  }
}

void decode_q8_k(const BlockQ8_K& b, float* y) {
  for (int e = 0; e < kQK; ++e) y[e] = b.d * float(b.qs[e]);
}

void decode_iq4_xs(const BlockIQ4_XS& b, float* y) {
  const float d = f16(b.d);
  for (int j = 0; j < 8; ++j) decode_iq4_32(b.qs + 16 * j, d * float(iq4xs_scale(b, j)), y + 32 * j);
}

// The codebook types, from their integer form (quant_blocks_iq.h): x = (d·F·sc_j)·v_i.
template <class Block>
void decode_iq(const Block& b, float* y) {
  int8_t v[256], sc[16];
  iq_unpack(b, v, sc);
  const float dF = f16(iq_d_bits(b)) * Block::kFactor;
  for (int j = 0; j < 16; ++j) {
    const float dl = dF * float(sc[j]);
    for (int i = 16 * j; i < 16 * j + 16; ++i) y[i] = dl * float(v[i]);
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
    case DType::IQ2_XXS: return decode_blocks<BlockIQ2_XXS, decode_iq<BlockIQ2_XXS>>;
    case DType::IQ2_XS: return decode_blocks<BlockIQ2_XS, decode_iq<BlockIQ2_XS>>;
    case DType::IQ2_S: return decode_blocks<BlockIQ2_S, decode_iq<BlockIQ2_S>>;
    case DType::IQ3_XXS: return decode_blocks<BlockIQ3_XXS, decode_iq<BlockIQ3_XXS>>;
    case DType::IQ3_S: return decode_blocks<BlockIQ3_S, decode_iq<BlockIQ3_S>>;
    case DType::IQ1_S: return decode_blocks<BlockIQ1_S, decode_iq<BlockIQ1_S>>;
    case DType::IQ1_M: return decode_blocks<BlockIQ1_M, decode_iq<BlockIQ1_M>>;
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
