// quantize_row: r1's own encoders for every GGML block type (layouts: quant_blocks.h).
//
// * 32-value types: round to nearest with the scale ggml's reference uses (the largest |x| lands on
//   the grid's end; Q4_1/Q5_1 span [min, max]), or a least-squares scale (and minimum) from quant_fit.h
//   where that decodes closer (Q8_0 likewise).
// * K-quants and IQ4: each sub-block gets a least-squares scale (and minimum) from quant_fit.h; the
//   sub-block scales are then themselves quantized (6, 4 or 8 bits, relative to an fp16 super-block
//   scale) and every value is rounded again against the scale the decoder will actually use.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_fit.h"
#include "kernels/cpu/quants.h"

namespace r1 {

namespace {

using namespace quant;

// Stores `v` as fp16 and returns the value the decoder will see.
inline float store_f16(uint16_t& dst, float v) {
  dst = f32_to_f16(v);
  return f16_to_f32(dst);
}

// Stores a scale as the nearest fp16 of at least its magnitude, so the largest value still reaches
// the end of the integer grid instead of clipping; this matters for tiny weights, where fp16 is
// subnormal and one unit of rounding is a large fraction of the scale.
inline float store_f16_scale(uint16_t& dst, float v) {
  dst = f32_to_f16(v);
  if (std::fabs(f16_to_f32(dst)) < std::fabs(v) && (dst & 0x7fff) < 0x7bff) ++dst;  // one unit up (same sign)
  return f16_to_f32(dst);
}

inline float inverse_or_zero(float d) { return d != 0 ? 1.0f / d : 0.0f; }

// Writes 32 values q[j] ∈ [0, 15] (only the low 4 bits are used) as a 32-value block's nibbles.
void pack_nibbles32(const int* q, uint8_t qs[16]) {
  for (int j = 0; j < 16; ++j) qs[j] = uint8_t((q[j] & 15) | (q[j + 16] & 15) << 4);
}

// ---- 32-value types ----------------------------------------------------------------------------------

// One way to store a 32-value block: the fp16 scale (and minimum) as stored, the integers against them,
// and the squared error of that decoding.
struct BlockCandidate {
  uint16_t d = 0, m = 0;
  int q[kQ];
  float err = 0;
};

// The block of x for scale `d_want` (and minimum `m_want` with kHasMin: x = d·q + m, q ∈ [0, kQmax];
// else x = d·q, q ∈ [kQmin, kQmax]): every value rounded against the fp16 values the decoder will use.
// `scale_up` stores the scale's fp16 at least as large, so that a value the scale was set by is not clipped.
template <int kQmin, int kQmax, bool kHasMin>
BlockCandidate block_candidate(const float* x, float d_want, float m_want, bool scale_up) {
  BlockCandidate c;
  const float d = scale_up ? store_f16_scale(c.d, d_want) : store_f16(c.d, d_want);
  const float m = kHasMin ? store_f16(c.m, m_want) : 0.0f;
  const float id = inverse_or_zero(d);
  for (int j = 0; j < kQ; ++j) {
    c.q[j] = kHasMin ? round_clamp((x[j] - m) * id, 0, kQmax) : round_clamp(x[j] * id, kQmin, kQmax);
    const float y = d * float(c.q[j]) + m;
    c.err += (y - x[j]) * (y - x[j]);
  }
  return c;
}

// The 32-value types keep the better of two candidates: ggml's reference rounding (the grid spans the
// block: [min, max] with a minimum, else the largest |x| on the grid's end), which llama-quantize writes
// without an importance matrix; and the least-squares fit of quant_fit.h, which gains where one value
// stands out (tests/compat/check_quant_error.py measures both against ggml).
template <int kQmin, int kQmax>
BlockCandidate best_symmetric(const float* x, float reference_scale) {
  const BlockCandidate reference = block_candidate<kQmin, kQmax, false>(x, reference_scale, 0, /*scale_up=*/true);
  int8_t q[kQ];
  BlockCandidate fit = block_candidate<kQmin, kQmax, false>(x, fit_symmetric(x, kQ, kQmin, kQmax, q), 0, /*scale_up=*/false);
  return fit.err < reference.err ? fit : reference;
}

template <int kQmax>
BlockCandidate best_affine(const float* x) {
  const float lo = *std::min_element(x, x + kQ), hi = *std::max_element(x, x + kQ);
  const BlockCandidate reference = block_candidate<0, kQmax, true>(x, (hi - lo) / float(kQmax), lo, /*scale_up=*/true);
  uint8_t q[kQ];
  const AffineFit f = fit_affine(x, kQ, kQmax, q);
  BlockCandidate fit = block_candidate<0, kQmax, true>(x, f.scale, -f.offset, /*scale_up=*/false);
  return fit.err < reference.err ? fit : reference;
}

// Q4_0 / Q4_1 / Q5_0 / Q5_1: Q4_0 and Q5_0 store q + 2^(bits−1), the largest |x| on the grid's longer
// (negative) end in ggml's rounding.
template <int kBits, bool kHasMin, class Block>
void encode_legacy(const float* x, Block& b) {
  constexpr int kHalf = 1 << (kBits - 1);
  BlockCandidate best;
  if constexpr (kHasMin) {
    best = best_affine<(1 << kBits) - 1>(x);
    b.m = best.m;
  } else {
    float vmax = 0;
    for (int j = 0; j < kQ; ++j) vmax = std::fabs(x[j]) > std::fabs(vmax) ? x[j] : vmax;
    best = best_symmetric<-kHalf, kHalf - 1>(x, vmax / -float(kHalf));
    for (int j = 0; j < kQ; ++j) best.q[j] += kHalf;
  }
  b.d = best.d;
  pack_nibbles32(best.q, b.qs);
  if constexpr (kBits == 5) {
    uint32_t qh = 0;
    for (int j = 0; j < kQ; ++j) qh |= uint32_t(best.q[j] >> 4) << j;
    std::memcpy(b.qh, &qh, 4);
  }
}

void encode_q8_0(const float* x, BlockQ8_0& b) {
  float amax = 0;
  for (int j = 0; j < kQ; ++j) amax = std::max(amax, std::fabs(x[j]));
  const BlockCandidate best = best_symmetric<-127, 127>(x, amax / 127.0f);
  b.d = best.d;
  for (int j = 0; j < kQ; ++j) b.qs[j] = int8_t(best.q[j]);
}

void encode_iq4_nl(const float* x, BlockIQ4_NL& b) {
  uint8_t q[kQ];
  const float d = store_f16_scale(b.d, fit_iq4nl(x, kQ, q));
  const float id = inverse_or_zero(d);
  int qi[kQ];
  for (int j = 0; j < kQ; ++j) qi[j] = nearest_iq4nl(x[j] * id);
  pack_nibbles32(qi, b.qs);
}

// ---- K-quants ------------------------------------------------------------------------------------

// Quantizes sub-block scales s[0..n) ≥ 0 to integers in [0, kMax] times an fp16 super-scale:
// the super-scale maps the largest one to kMax. Returns the super-scale the decoder will see.
float quantize_positive_scales(const float* s, int n, int kMax, uint16_t& super, uint8_t* out) {
  const float smax = *std::max_element(s, s + n);
  const float d = store_f16_scale(super, smax / float(kMax));
  const float id = inverse_or_zero(d);
  for (int j = 0; j < n; ++j) out[j] = uint8_t(round_clamp(s[j] * id, 0, kMax));
  return d;
}

// Signed sub-block scales: a least-squares fit of the scales themselves to [lo, hi], then the integers
// again against the super-scale as stored.
float quantize_signed_scales(const float* s, int n, int lo, int hi, uint16_t& super, int8_t* out) {
  const float d = store_f16_scale(super, fit_symmetric(s, n, lo, hi, out));
  const float id = inverse_or_zero(d);
  for (int j = 0; j < n; ++j) out[j] = int8_t(round_clamp(s[j] * id, lo, hi));
  return d;
}

// Writes 256 values q ∈ [0, 3] as the 2-bit planes of Q2_K / Q3_K (value e: bits 2g of qs[32h + l]).
void pack_low2(const int* q, uint8_t qs[64]) {
  std::memset(qs, 0, 64);
  for (int e = 0; e < kQK; ++e) qs[32 * (e / 128) + e % 32] |= uint8_t((q[e] & 3) << (2 * ((e % 128) / 32)));
}

// Affine K-quants (Q2_K: 16 × 16 values, 2 bits; Q4_K, Q5_K: 8 × 32 values, 4 or 5 bits):
// fits (scale, offset) per sub-block, quantizes both sets, then rounds every value against them.
template <int kSub, int kBits>
struct AffineSuperBlock {
  static constexpr int kSubs = kQK / kSub, kMax = (1 << kBits) - 1;
  float scale[kSubs], offset[kSubs];  // what the decoder will use per sub-block
  int q[kQK];

  // `scale_bits`: precision of the stored sub-block scales and offsets. Returns the integer scales
  // and offsets through sc/mn, the super-scales through d/dmin.
  void fit(const float* x, int scale_bits, uint16_t& d, uint16_t& dmin, uint8_t* sc, uint8_t* mn) {
    float s[kSubs], o[kSubs];
    uint8_t first_pass[kQK];
    for (int j = 0; j < kSubs; ++j) {
      const AffineFit f = fit_affine(x + kSub * j, kSub, kMax, first_pass + kSub * j);
      s[j] = f.scale;
      o[j] = f.offset;
    }
    const int smax = (1 << scale_bits) - 1;
    const float dq = quantize_positive_scales(s, kSubs, smax, d, sc);
    const float mq = quantize_positive_scales(o, kSubs, smax, dmin, mn);
    for (int j = 0; j < kSubs; ++j) {
      scale[j] = dq * float(sc[j]);
      offset[j] = mq * float(mn[j]);
      const float id = inverse_or_zero(scale[j]);
      for (int i = kSub * j; i < kSub * (j + 1); ++i) q[i] = round_clamp((x[i] + offset[j]) * id, 0, kMax);
    }
  }
};

void encode_q2_k(const float* x, BlockQ2_K& b) {
  AffineSuperBlock<16, 2> sb;
  uint8_t sc[16], mn[16];
  sb.fit(x, 4, b.d, b.dmin, sc, mn);
  for (int j = 0; j < 16; ++j) b.scales[j] = uint8_t(sc[j] | mn[j] << 4);
  pack_low2(sb.q, b.qs);
}

template <int kBits, class Block>
void encode_k45(const float* x, Block& b) {
  AffineSuperBlock<32, kBits> sb;
  uint8_t sc[8], mn[8];
  sb.fit(x, 6, b.d, b.dmin, sc, mn);
  pack_k4_scales(sc, mn, b.scales);
  // Sub-blocks 2c and 2c+1 share the bytes qs[32c .. 32c+32): low and high nibble.
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = uint8_t((sb.q[64 * c + l] & 15) | (sb.q[64 * c + 32 + l] & 15) << 4);
  }
  if constexpr (kBits == 5) {
    std::memset(b.qh, 0, 32);
    for (int j = 0; j < 8; ++j) {
      for (int l = 0; l < 32; ++l) b.qh[l] |= uint8_t((sb.q[32 * j + l] >> 4) << j);
    }
  }
}

// Symmetric K-quants (Q3_K: q ∈ [−4, 3], 6-bit signed scales; Q6_K: q ∈ [−32, 31], 8-bit scales),
// 16 sub-blocks of 16. Fills q (signed) and the integer scales; returns nothing, stores d.
template <int kQmin, int kQmax, int kScaleMin, int kScaleMax>
void fit_symmetric_superblock(const float* x, uint16_t& d, int8_t scales[16], int q[kQK]) {
  float s[16];
  int8_t first_pass[kQK];
  for (int j = 0; j < 16; ++j) s[j] = fit_symmetric(x + 16 * j, 16, kQmin, kQmax, first_pass + 16 * j);
  const float dq = quantize_signed_scales(s, 16, kScaleMin, kScaleMax, d, scales);
  for (int j = 0; j < 16; ++j) {
    const float id = inverse_or_zero(dq * float(scales[j]));
    for (int i = 16 * j; i < 16 * j + 16; ++i) q[i] = round_clamp(x[i] * id, kQmin, kQmax);
  }
}

void encode_q3_k(const float* x, BlockQ3_K& b) {
  int8_t scales[16];
  int q[kQK];
  fit_symmetric_superblock<-4, 3, -32, 31>(x, b.d, scales, q);
  pack_q3k_scales(scales, b.scales);
  // Stored as q + 4 ∈ [0, 7]: 2 low bits in qs, the third in hmask (set = no −4 offset).
  std::memset(b.hmask, 0, 32);
  for (int e = 0; e < kQK; ++e) {
    const int u = q[e] + 4;
    b.hmask[e % 32] |= uint8_t((u >> 2) << (e / 32));
    q[e] = u & 3;
  }
  pack_low2(q, b.qs);
}

void encode_q6_k(const float* x, BlockQ6_K& b) {
  int q[kQK];
  fit_symmetric_superblock<-32, 31, -128, 127>(x, b.d, b.scales, q);
  std::memset(b.ql, 0, 128);
  std::memset(b.qh, 0, 64);
  for (int e = 0; e < kQK; ++e) {
    const int u = q[e] + 32, h = e / 128, g = (e % 128) / 32, l = e % 32;
    b.ql[64 * h + 32 * (g % 2) + l] |= uint8_t((u & 15) << (4 * (g / 2)));
    b.qh[32 * h + l] |= uint8_t((u >> 4) << (2 * g));
  }
}

void encode_iq4_xs(const float* x, BlockIQ4_XS& b) {
  float s[8];
  uint8_t first_pass[kQK];
  for (int j = 0; j < 8; ++j) s[j] = fit_iq4nl(x + 32 * j, 32, first_pass + 32 * j);
  int8_t scales[8];
  const float dq = quantize_signed_scales(s, 8, -32, 31, b.d, scales);
  b.scales_h = 0;
  std::memset(b.scales_l, 0, 4);
  for (int j = 0; j < 8; ++j) {
    const int u = scales[j] + 32;
    b.scales_l[j / 2] |= uint8_t((u & 15) << (4 * (j % 2)));
    b.scales_h |= uint16_t((u >> 4) << (2 * j));
    const float id = inverse_or_zero(dq * float(scales[j]));
    int q[32];
    for (int i = 0; i < 32; ++i) q[i] = nearest_iq4nl(x[32 * j + i] * id);
    pack_nibbles32(q, b.qs + 16 * j);
  }
}

// The K-quant activation format: d = max|x| / 127, q = round(x / d), per-16 sums of q.
void encode_q8_k(const float* x, BlockQ8_K& b) {
  b.d = quantize_absmax127(x, kQK, b.qs);
  for (int j = 0; j < 16; ++j) {
    int sum = 0;
    for (int i = 0; i < 16; ++i) sum += b.qs[16 * j + i];
    b.bsums[j] = int16_t(sum);
  }
}

using RowEncoder = void (*)(const float* src, void* dst, int64_t blocks);

template <class Block, void (*kEncode)(const float*, Block&)>
void encode_blocks(const float* src, void* dst, int64_t blocks) {
  auto* b = static_cast<Block*>(dst);
  for (int64_t i = 0; i < blocks; ++i) kEncode(src + i * Block::kElems, b[i]);
}

RowEncoder encoder(DType t) {
  switch (t) {
    case DType::Q4_0: return encode_blocks<BlockQ4_0, encode_legacy<4, false, BlockQ4_0>>;
    case DType::Q4_1: return encode_blocks<BlockQ4_1, encode_legacy<4, true, BlockQ4_1>>;
    case DType::Q5_0: return encode_blocks<BlockQ5_0, encode_legacy<5, false, BlockQ5_0>>;
    case DType::Q5_1: return encode_blocks<BlockQ5_1, encode_legacy<5, true, BlockQ5_1>>;
    case DType::Q8_0: return encode_blocks<BlockQ8_0, encode_q8_0>;
    case DType::Q2_K: return encode_blocks<BlockQ2_K, encode_q2_k>;
    case DType::Q3_K: return encode_blocks<BlockQ3_K, encode_q3_k>;
    case DType::Q4_K: return encode_blocks<BlockQ4_K, encode_k45<4, BlockQ4_K>>;
    case DType::Q5_K: return encode_blocks<BlockQ5_K, encode_k45<5, BlockQ5_K>>;
    case DType::Q6_K: return encode_blocks<BlockQ6_K, encode_q6_k>;
    case DType::Q8_K: return encode_blocks<BlockQ8_K, encode_q8_k>;
    case DType::IQ4_NL: return encode_blocks<BlockIQ4_NL, encode_iq4_nl>;
    case DType::IQ4_XS: return encode_blocks<BlockIQ4_XS, encode_iq4_xs>;
    default: return nullptr;
  }
}

}  // namespace

bool can_quantize(DType t) { return encoder(t) != nullptr; }

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  const RowEncoder encode = encoder(t);
  if (!encode) fail("quantize_row: r1 cannot write {} (it reads it, but writes only the types of quants.h)", dtype_name(t));
  encode(src, dst, n / dtype_block_elems(t));
}

}  // namespace r1
