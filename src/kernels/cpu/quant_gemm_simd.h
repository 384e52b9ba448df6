// The tiled int8 matrix product, written once over an instruction-set policy P (quant_gemm_avx512vnni.cpp,
// quant_gemm_avx2.cpp); see quant_gemm.h for the scheme and why its results equal quant_dot's bit for bit.
//
// P supplies, for registers of kLanes int32 (I) or float (F) lanes:
//   zero_i, zero_f, set1_i, set1_f, load_i, load_f, store_f, add_i, sub_i, mullo_i, add_f, mul_f,
//   fma_f(a, b, c) = a·b + c rounded once, cvt (int32 -> float)
//   dot2_i16(c, x, w): c += x.lo·w.lo + x.hi·w.hi per int32 lane, its halves taken as int16 (the minimum terms)
//   load_act(p)                the kLanes × 4 activation bytes (qa + 128) of one step of four values
//   broadcast4(p)              four weight bytes (int8) in every 32-bit lane
//   kScaleInDot = false:       dot4(c, x, w): c += Σ of the four u8·s8 products per lane; the sub-block's
//                              scale is applied to its sums afterwards (AVX512-VNNI's vpdpbusd)
//   kScaleInDot = true:        dot4_scaled(c, x, w, sc): c += sc · that sum, with scale16(s) the scale in
//                              every int16 lane (AVX2: products summed in pairs as int16, exact while the
//                              weights stay within ±64: types without G::kFullInt8)
//   store_panel(v[4], y, ld, bias)   kPanel rows × kLanes tokens into y[token·ld + row] (+ bias[row])
//   kMaxGroups                 token groups per micro-kernel call (2 or 3: its accumulators must fit the
//                              registers)
//
// Internal linkage throughout: each instruction set's translation unit has its own copy.
#pragma once

#if defined(__SSSE3__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <span>
#include <vector>

#include "kernels/cpu/quant_dot_ref.h"
#include "kernels/cpu/quant_gemm.h"
#include "kernels/cpu/row_groups.h"
#include "kernels/cpu/row_groups_blocks.h"

namespace r1::quant {
namespace {

constexpr int kPanel = 4;      // weight rows per micro-kernel call

// One weight block in the common integer form, beside its values (signed int8, offset removed).
// The block's exact integer sums against activation block a are
//   s.q = Σ_j sc_j · Σ_{e ∈ sub-block j} v_e·qa_e          s.m = Σ_j mn_j · (Σ qa over min-block j)
// and they enter the result as the recipe does: fma(d·da, s.q), then (if the type has minimums)
// fma(f2·da, s.m), with f2 = −dmin for the K-quants and m for Q4_1 / Q5_1.
// s.m is summed two terms per instruction (dot2_i16): the minimums (at most 63) and the activations'
// min-block sums (at most 32 · 127 in magnitude) fit int16, so each 32-bit word holds a pair of them.
// Four multiply-adds for Q4_K's eight terms instead of eight 32-bit multiplies and seven adds (512 tokens
// of 8960 × 1536 on one thread: 49.1 → 44.6-46.8 ms; bench/RESULTS.md).
template <int kMins>
constexpr int kMinPairs = kMins > 0 ? (kMins + 1) / 2 : 1;
inline int32_t int16_pair(int32_t lo, int32_t hi) { return int32_t(uint32_t(uint16_t(lo)) | uint32_t(hi) << 16); }

// One row's block as the types' decoders give it ...
template <int kSubs, int kMins>
struct BlockMeta {
  float d = 0, f2 = 0;
  int32_t sc[kSubs];
  int32_t mn[kMins > 0 ? kMins : 1];
};
// ... and 16 rows' block b as the tile reads it, field by field (row r of a row block in lane r % 16 of
// the metas of its 16 rows), so that a group block's scales are filled 16 rows at a time.
template <int kSubs, int kMins>
struct GroupMeta {
  float d[16], f2[16];
  int32_t corr[16];  // 128 · Σ_j sc_j · Σ v over sub-block j: removes the activations' +128 shift
  int32_t sc[kSubs][16];
  int32_t mn_pairs[kMinPairs<kMins>][16];  // mn as int16 pairs, a zero past an odd count
};

// Bit i of `bits` as byte i (0 or 1) of the word: the byte copied to all eight, each keeping its own bit,
// then every non-zero byte made 1 (adding 0x7f carries into bit 7 of that byte only).
inline uint64_t bit_bytes(uint8_t bits) {
  const uint64_t x = (bits * 0x0101010101010101ull) & 0x8040201008040201ull;
  return ((x + 0x7f7f7f7f7f7f7f7full) >> 7) & 0x0101010101010101ull;
}

// The 32 values of an IQ4 block from its 16 bytes of nibbles (unpack_nibbles32's order) through the
// kIQ4NL table: one byte shuffle per 16 where the build has SSSE3 (every x86 translation unit that
// includes this header); a lookup per value otherwise, which made these types' decoding cost 3-4x the
// products at MoE token counts.
// With AVX2 the 32 bytes go out in one store: decode_row reads them back at once for their sum, and a load
// spanning two stores is not forwarded from them but waits until they reach the cache (the decoding cost
// 1.5x the products at 48 tokens).
inline void iq4_values32(const uint8_t* qs16, int8_t* v) {
#if defined(__SSSE3__)
  const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NL));
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs16)), low4 = _mm_set1_epi8(15);
  const __m128i lo = _mm_shuffle_epi8(table, _mm_and_si128(q, low4));
  const __m128i hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(q, 4), low4));
#if defined(__AVX2__)
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(v), _mm256_set_m128i(hi, lo));
#else
  _mm_storeu_si128(reinterpret_cast<__m128i*>(v), lo);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(v + 16), hi);
#endif
#else
  uint8_t u[32];
  unpack_nibbles32(qs16, u);
  for (int j = 0; j < 32; ++j) v[j] = kIQ4NL[u[j]];
#endif
}

// ---- per weight type: block geometry and decoding -----------------------------------------------------
// kElems values per block, kSub values per integer scale, kMins minimum terms per block, each over
// kElems / kMins activation values (the act_min sums). kFullInt8: the decoded values use the whole int8
// range (the others stay within ±64, which the AVX2 kernel's int16 pair sums need).
//
// Types with a row-group layout whose values are bit fields also decode from their group blocks directly
// (Gemm::decode_group), 16 rows at once: Group, the group block; kOffset, what the values' unsigned
// fields u carry above the signed value (v = u − kOffset, u ≤ 255); group_values<V>(g, q, slot) calls
// slot(e, u) for every four values e .. e+3 of rows 4q .. 4q+3, u their bytes (row-major, four per row),
// in loops the compiler unrolls (so that Gemm keeps each sub-block's sums in registers), as
// group_meta(g, r, m) gives row r's scales — or, where kGroupScales, group_scales(g, d, f2, sc, mn) those
// of all 16 rows at once, a byte per row. Every group field is four bytes per row: V is the vector that
// holds its bytes, __m128i for a quarter of it (rows 4q .. 4q+3, one 16-byte load) or, where the build
// has AVX-512, __m512i for all of it (the 16 rows; q unused), through the byte operations below.

// A group field's bytes: quarter q of the 64-byte field (16 bytes), or all of it.
template <class V>
V field(const uint8_t (*f)[4], int q);
template <>
inline __m128i field<__m128i>(const uint8_t (*f)[4], int q) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(f + 4 * q)); }
inline __m128i or_bits(__m128i a, __m128i b) { return _mm_or_si128(a, b); }
inline __m128i and_bits(__m128i a, __m128i b) { return _mm_and_si128(a, b); }
inline __m128i shl16(__m128i x, int n) { return _mm_slli_epi16(x, n); }
inline __m128i shr16(__m128i x, int n) { return _mm_srli_epi16(x, n); }
inline __m128i bytes_of(__m128i, int8_t b) { return _mm_set1_epi8(b); }  // b in every byte (the first argument picks the width)
#if defined(__AVX512BW__)
template <>
inline __m512i field<__m512i>(const uint8_t (*f)[4], int) { return _mm512_loadu_si512(f); }
inline __m512i or_bits(__m512i a, __m512i b) { return _mm512_or_si512(a, b); }
inline __m512i and_bits(__m512i a, __m512i b) { return _mm512_and_si512(a, b); }
inline __m512i shl16(__m512i x, int n) { return _mm512_slli_epi16(x, unsigned(n)); }
inline __m512i shr16(__m512i x, int n) { return _mm512_srli_epi16(x, unsigned(n)); }
inline __m512i bytes_of(__m512i, int8_t b) { return _mm512_set1_epi8(b); }
#endif
template <class V>
V low4(V x) { return and_bits(x, bytes_of(x, 15)); }
template <class V>
V high4(V x) { return and_bits(shr16(x, 4), bytes_of(x, 15)); }
// Bit n of each byte as bit 4 (0 or 16).
template <class V>
V bit_to_4(V x, int n) { return and_bits(shl16(shr16(x, n), 4), bytes_of(x, 16)); }

struct GemmQ8_0 {
  using Block = BlockQ8_0;
  using Act = ActBlock32;
  static constexpr bool kFullInt8 = true;
  static constexpr int kElems = 32, kSub = 32, kMins = 0;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    std::memcpy(v, w.qs, 32);
    m.d = half_to_float(w.d);
    m.sc[0] = 1;
  }
  using Group = GroupQ8_0;  // its bytes stored plus 128
  static constexpr int kOffset = 128;
  template <class V, class Slot>
  static void group_values(const Group& g, int q, Slot&& slot) {
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) slot(4 * c, field<V>(g.qs[c], q));
  }
  template <class M>
  static void group_meta(const Group& g, int r, M& m) {
    m.d = half_to_float(g.d[r]);
    m.sc[0] = 1;
  }
};

// Q4_0 / Q5_0 (offset 2^(bits−1), no minimum) and Q4_1 / Q5_1 (minimum m times Σ qa).
template <int kBits, bool kHasMin, class BlockT>
struct GemmLegacy {
  using Block = BlockT;
  using Act = ActBlock32;
  static constexpr int kElems = 32, kSub = 32, kMins = kHasMin ? 1 : 0;
  // Eight values per 64-bit word, as RecipeLegacy::unpack orders them (a loop per value compiled to
  // byte inserts and made these types' decoding cost more than their products at 48 tokens).
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    constexpr uint64_t kOnes = 0x0101010101010101ull, kLow4 = 15 * kOnes;
    uint64_t q[2];
    std::memcpy(q, w.qs, 16);
    uint64_t u[4] = {q[0] & kLow4, q[1] & kLow4, (q[0] >> 4) & kLow4, (q[1] >> 4) & kLow4};  // values 8k .. 8k+7
    if constexpr (kBits == 5) {
      for (int k = 0; k < 4; ++k) u[k] |= bit_bytes(w.qh[k]) << 4;  // bit j of qh is bit 4 of value j
    }
    if constexpr (!kHasMin) {
      // u − 2^kTop as int8: the top bit flipped, and where it was clear (a negative result) the bits
      // above it set.
      constexpr int kTop = kBits - 1;
      for (uint64_t& x : u) x = (x ^ (kOnes << kTop)) | ((~x >> kTop) & kOnes) * uint64_t(0x100 - (2 << kTop));
    }
    std::memcpy(v, u, 32);
    m.d = half_to_float(w.d);
    m.sc[0] = 1;
    if constexpr (kHasMin) {
      m.f2 = half_to_float(w.m);
      m.mn[0] = 1;
    }
  }
  using Group = std::conditional_t<kBits == 4, std::conditional_t<kHasMin, GroupQ4_1, GroupQ4_0>,
                                   std::conditional_t<kHasMin, GroupQ5_1, GroupQ5_0>>;
  static constexpr int kOffset = kHasMin ? 0 : 1 << (kBits - 1);
  // Chunk c: low nibbles values 4c .., high nibbles 16 + 4c ..; Q5's fifth bits rearranged per row (bit c
  // of byte k: value 4c + k; bit 4 + c: value 16 + 4c + k).
  template <class V, class Slot>
  static void group_values(const Group& g, int q, Slot&& slot) {
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const V w = field<V>(g.qs[c], q);
      V lo = low4(w), hi = high4(w);
      if constexpr (kBits == 5) {
        const V h = field<V>(g.qh, q);
        lo = or_bits(lo, bit_to_4(h, c));
        hi = or_bits(hi, bit_to_4(h, 4 + c));
      }
      slot(4 * c, lo);
      slot(16 + 4 * c, hi);
    }
  }
  template <class M>
  static void group_meta(const Group& g, int r, M& m) {
    m.d = half_to_float(g.d[r]);
    m.sc[0] = 1;
    if constexpr (kHasMin) {
      m.f2 = half_to_float(g.m[r]);
      m.mn[0] = 1;
    }
  }
};

struct GemmIQ4_NL {
  using Block = BlockIQ4_NL;
  using Act = ActBlock32;
  static constexpr bool kFullInt8 = true;
  static constexpr int kElems = 32, kSub = 32, kMins = 0;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    iq4_values32(w.qs, v);
    m.d = half_to_float(w.d);
    m.sc[0] = 1;
  }
};

struct GemmQ2_K {
  using Block = BlockQ2_K;
  using Act = BlockQ8_K;
  static constexpr int kElems = 256, kSub = 16, kMins = 16;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    unpack_low2(w.qs, reinterpret_cast<uint8_t*>(v));  // values 0..3: the same bytes as int8
    for (int j = 0; j < 16; ++j) {
      m.sc[j] = w.scales[j] & 15;
      m.mn[j] = w.scales[j] >> 4;
    }
    m.d = half_to_float(w.d);
    m.f2 = -half_to_float(w.dmin);
  }
};

struct GemmQ3_K {
  using Block = BlockQ3_K;
  using Act = BlockQ8_K;
  static constexpr int kElems = 256, kSub = 16, kMins = 0;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    uint8_t u[256];
    RecipeQ3_K::unpack(w, u);
    for (int e = 0; e < 256; ++e) v[e] = int8_t(u[e] - 4);
    int8_t sc[16];
    unpack_q3k_scales(w.scales, sc);
    for (int j = 0; j < 16; ++j) m.sc[j] = sc[j];
    m.d = half_to_float(w.d);
  }
};

template <int kBits, class BlockT>
struct GemmK45 {
  using Block = BlockT;
  using Act = BlockQ8_K;
  static constexpr int kElems = 256, kSub = 32, kMins = 8;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    uint8_t sc[8], mn[8];
    RecipeK45<kBits, BlockT>::unpack(w, reinterpret_cast<uint8_t*>(v));  // values 0..31: the same bytes as int8
    unpack_k4_scales(w.scales, sc, mn);
    for (int j = 0; j < 8; ++j) {
      m.sc[j] = sc[j];
      m.mn[j] = mn[j];
    }
    m.d = half_to_float(w.d);
    m.f2 = -half_to_float(w.dmin);
  }
  using Group = std::conditional_t<kBits == 4, GroupQ4_K, GroupQ5_K>;
  static constexpr int kOffset = 0;
  // Chunk 8j + l: low nibbles values 64j + 4l .., high nibbles 64j + 32 + 4l ..; Q5_K's fifth bits are bits
  // 2j and 2j + 1 of qh chunk l.
  template <class V, class Slot>
  static void group_values(const Group& g, int q, Slot&& slot) {
#pragma GCC unroll 32
    for (int c = 0; c < 32; ++c) {
      const int j = c / 8, l = c % 8;
      const V w = field<V>(g.qs[c], q);
      V lo = low4(w), hi = high4(w);
      if constexpr (kBits == 5) {
        const V h = field<V>(g.qh[l], q);
        lo = or_bits(lo, bit_to_4(h, 2 * j));
        hi = or_bits(hi, bit_to_4(h, 2 * j + 1));
      }
      slot(64 * j + 4 * l, lo);
      slot(64 * j + 32 + 4 * l, hi);
    }
  }
  // The 16 rows' scales and minimums at once (unpack_k4_scales bytewise: bytes 0-3 scales 0-3 and bytes
  // 4-7 minimums 0-3 in their low 6 bits; bytes 8-11 the low 4 bits of scale / minimum 4 + j, whose top two
  // bits are the top bits of bytes j and 4 + j), and their factors.
  static constexpr bool kGroupScales = true;
  static void group_scales(const Group& g, float d[16], float f2[16], __m128i sc[8], __m128i mn[8]) {
    __m128i s[12];
    for (int k = 0; k < 12; ++k) s[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.scales[k]));
    const __m128i low6 = _mm_set1_epi8(63), top2 = _mm_set1_epi8(0x30);
    for (int j = 0; j < 4; ++j) {
      sc[j] = _mm_and_si128(s[j], low6);
      mn[j] = _mm_and_si128(s[j + 4], low6);
      sc[j + 4] = _mm_or_si128(low4(s[j + 8]), _mm_and_si128(_mm_srli_epi16(s[j], 2), top2));
      mn[j + 4] = _mm_or_si128(high4(s[j + 8]), _mm_and_si128(_mm_srli_epi16(s[j + 4], 2), top2));
    }
    for (int r = 0; r < 16; ++r) {
      d[r] = half_to_float(g.d[r]);
      f2[r] = -half_to_float(g.dmin[r]);
    }
  }
};

struct GemmQ6_K {
  using Block = BlockQ6_K;
  using Act = BlockQ8_K;
  static constexpr int kElems = 256, kSub = 16, kMins = 0;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    uint8_t u[256];
    RecipeQ6_K::unpack(w, u);
    for (int e = 0; e < 256; ++e) v[e] = int8_t(u[e] - 32);
    for (int j = 0; j < 16; ++j) m.sc[j] = w.scales[j];
    m.d = half_to_float(w.d);
  }
  using Group = GroupQ6_K;
  static constexpr int kOffset = 32;
  // Step 8h + c: values 128h + 32k + 4c .. for k = 0..3 from the low / high nibbles of ql's two chunks and
  // bit pairs 0-1, 2-3, 4-5, 6-7 of qh's (RecipeQ6_K::unpack; row_groups_simd.h's finish_q6k).
  template <class V, class Slot>
  static void group_values(const Group& g, int q, Slot&& slot) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        const auto& step = g.q[8 * h + c];
        const V l0 = field<V>(step[0], q), l1 = field<V>(step[1], q), hb = field<V>(step[2], q);
        const V bits45 = bytes_of(hb, 0x30);
        slot(128 * h + 4 * c, or_bits(low4(l0), and_bits(shl16(hb, 4), bits45)));
        slot(128 * h + 32 + 4 * c, or_bits(low4(l1), and_bits(shl16(hb, 2), bits45)));
        slot(128 * h + 64 + 4 * c, or_bits(high4(l0), and_bits(hb, bits45)));
        slot(128 * h + 96 + 4 * c, or_bits(high4(l1), and_bits(shr16(hb, 2), bits45)));
      }
    }
  }
  template <class M>
  static void group_meta(const Group& g, int r, M& m) {
    for (int j = 0; j < 16; ++j) m.sc[j] = g.scales[j][r];
    m.d = half_to_float(g.d[r]);
  }
};

struct GemmIQ4_XS {
  using Block = BlockIQ4_XS;
  using Act = BlockQ8_K;
  static constexpr bool kFullInt8 = true;
  static constexpr int kElems = 256, kSub = 32, kMins = 0;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    for (int j = 0; j < 8; ++j) {
      iq4_values32(w.qs + 16 * j, v + 32 * j);
      m.sc[j] = iq4xs_scale(w, j);
    }
    m.d = half_to_float(w.d);
  }
};

// The codebook types (IQ1_*, IQ2_*, IQ3_*): their integer form as it is (quant_blocks_iq.h), with
// d·F as the block's float factor, the product the recipe forms.
template <class BlockT>
struct GemmIQ {
  using Block = BlockT;
  using Act = BlockQ8_K;
  static constexpr int kElems = 256, kSub = 16, kMins = 0;
  // Rows of a row-group matrix come in the groups' stored form (row_groups_blocks.h): the same integer
  // form, decoded without the codebook.
  using Stored = typename IqStored<Block>::type;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    int8_t sc[16];
    iq_unpack(w, v, sc);
    for (int j = 0; j < 16; ++j) m.sc[j] = sc[j];
    m.d = half_to_float(iq_d_bits(w)) * Block::kFactor;
  }
  template <class M>
  static void decode(const Stored& x, int8_t* v, M& m) {
    int8_t sc[16];
    iq_unpack_stored<Block>(x, v, sc);
    for (int j = 0; j < 16; ++j) m.sc[j] = sc[j];
    m.d = half_to_float(x.d) * Block::kFactor;
  }
};

// Σ qa over min-block j of an activation block (kMins of them per block).
template <int kMins>
int32_t act_min_sum(const ActBlock32& a, int) {
  return a.sum;
}
template <int kMins>
int32_t act_min_sum(const BlockQ8_K& a, int j) {
  if constexpr (kMins == 16) return a.bsums[j];
  return a.bsums[2 * j] + a.bsums[2 * j + 1];  // 8 min-blocks of 32
}

template <class P, class G>
struct Gemm {
  using I = typename P::I;  // kLanes int32 lanes
  using F = typename P::F;  // kLanes float lanes
  static constexpr int kLanes = P::kLanes;
  static constexpr int kE = G::kElems, kS = G::kSub, kSubs = kE / kS, kMins = G::kMins;
  using Meta = BlockMeta<kSubs, kMins>;
  using Metas = GroupMeta<kSubs, kMins>;
  struct MetaRow {  // a row's metas: block i's fields at m[i], lane `lane`
    const Metas* m;
    int lane;
  };
  using Act = typename G::Act;

  // One activation block of 16 tokens: values (qa + 128) as [value / 4][token][value % 4], the tokens'
  // scales, and their min-block sums as int16 pairs. Tokens past T are zero (computed, never stored).
  struct alignas(64) PackedAct {
    uint8_t q[kE * kLanes];
    float d[kLanes];
    int32_t m[kMinPairs<kMins>][kLanes];
  };

  static void pack_group(const GemmArgs& g, int64_t t0, int64_t blocks, PackedAct* out) {
    for (int64_t i = 0; i < blocks; ++i) {
      PackedAct& p = out[i];
      auto* q32 = reinterpret_cast<uint32_t*>(p.q);
      for (int l = 0; l < kLanes; ++l) {
        const int64_t t = t0 + l;
        if (t >= g.tokens) {
          for (int k = 0; k < kE / 4; ++k) q32[k * kLanes + l] = 0x80808080u;
          p.d[l] = 0;
          for (auto& pair : p.m) pair[l] = 0;
          continue;
        }
        const Act& a = reinterpret_cast<const Act*>(g.acts + size_t(t) * g.act_stride)[i];
        for (int k = 0; k < kE / 4; ++k) {
          uint32_t x;
          std::memcpy(&x, a.qs + 4 * k, 4);
          q32[k * kLanes + l] = x ^ 0x80808080u;  // int8 + 128 as uint8, four at a time
        }
        p.d[l] = a.d;
        for (int j = 0; j < kMins; j += 2) {
          p.m[j / 2][l] = int16_pair(act_min_sum<kMins>(a, j), j + 1 < kMins ? act_min_sum<kMins>(a, j + 1) : 0);
        }
      }
    }
  }

  // Decoded values are stored by row groups, four values of each of the group's 16 rows in turn: value e
  // of row r at group(r) + (r % 16)·4 + e·16 (e a multiple of four), group(r) = (r / 16)·16·cols -- the
  // layout of a group block's fields, so that a field decodes with one 64-byte store (AVX-512; four
  // 16-byte ones for a quarter each) where 4-row panels took four with extracts (the decoders were 16 % of
  // an MoE expert's product at 48 tokens), and a panel's step reads 16 bytes of one 64-byte line.
  static constexpr int64_t kStepBytes = 4 * kRowGroup;  // one step of four values of the 16 rows
  static int8_t* row_values(int8_t* values, int64_t cols, int64_t r) {
    return values + (r / kRowGroup) * kRowGroup * cols + (r % kRowGroup) * 4;
  }
  // One row's block into lane `lane` of gm; sums: Σ v over each sub-block.
  static void finish_meta(const Meta& m, const int32_t sums[kSubs], Metas& gm, int lane) {
    int32_t corr = 0;
    for (int j = 0; j < kSubs; ++j) {
      corr += m.sc[j] * sums[j];
      gm.sc[j][lane] = m.sc[j];
    }
    gm.d[lane] = m.d;
    gm.f2[lane] = m.f2;
    gm.corr[lane] = 128 * corr;
    for (int j = 0; j < kMins; j += 2) gm.mn_pairs[j / 2][lane] = int16_pair(m.mn[j], j + 1 < kMins ? m.mn[j + 1] : 0);
  }

  // One row of blocks (v = row_values of the row): the file's (G::Block) or, for the codebook types in
  // row groups, their stored form.
  template <class RowBlock>
  [[gnu::noinline]] static void decode_row(const RowBlock* w, int64_t blocks, int8_t* v, Metas* metas, int lane) {
    alignas(64) int8_t vb[kE];
    for (int64_t i = 0; i < blocks; ++i) {
      Meta m;
      G::decode(w[i], vb, m);
      int32_t sums[kSubs];
      for (int j = 0; j < kSubs; ++j) {
        int32_t s = 0;
        for (int e = 0; e < kS; ++e) s += vb[j * kS + e];
        sums[j] = s;
      }
      finish_meta(m, sums, metas[i], lane);
      for (int e = 0; e < kE; e += 4) std::memcpy(v + (i * kE + e) / 4 * kStepBytes, vb + e, 4);
    }
  }

  // Whether decode_group takes a whole group field per vector (the AVX-512 policy where the unit is built
  // for it) or a quarter: by the policy, not by the compiler's flags, so that the AVX2 kernels stay the
  // AVX2 kernels in a -march=native build too.
#if defined(__AVX512BW__)
  static constexpr bool kWideDecode = P::kLanes == 16;
#else
  static constexpr bool kWideDecode = false;
#endif

  // The 16 rows of a row group from its blocks (G::group_values): values into the group's four panels
  // (v = its first), block i's scales into metas[i] (16 rows at once where G has group_scales).
  template <class Group>
  [[gnu::noinline]] static void decode_group(const Group* gb, int64_t blocks, int64_t cols, int8_t* v, Metas* metas) {
    static_assert(kRowGroup == 4 * kPanel);
    for (int64_t i = 0; i < blocks; ++i) {
      if (i + 1 < blocks) {  // the next block towards L1 while this one decodes (the weights' first read)
        for (size_t at = 0; at < sizeof(Group); at += 64) _mm_prefetch(reinterpret_cast<const char*>(gb + i + 1) + at, _MM_HINT_T0);
      }
      alignas(64) int32_t sums[kSubs][kRowGroup];  // Σ u over sub-block j of each row
      const auto step = [&](int e) { return v + (i * kE + e) / 4 * kStepBytes; };
      if constexpr (kWideDecode) {  // all 16 rows per field: a quarter of the instructions, one store
        const __m512i offset = _mm512_set1_epi8(int8_t(G::kOffset)), ones8 = _mm512_set1_epi8(1);
        __m512i pair_sums[kSubs];  // in int16 pairs: at most 2 · 255 · kS / 4
        for (__m512i& x : pair_sums) x = _mm512_setzero_si512();
        G::template group_values<__m512i>(gb[i], 0, [&](int e, __m512i u) {
          const __m512i s = _mm512_sub_epi8(u, offset);
          _mm512_storeu_si512(step(e), s);
          pair_sums[e / kS] = _mm512_add_epi16(pair_sums[e / kS], _mm512_maddubs_epi16(u, ones8));
        });
        for (int j = 0; j < kSubs; ++j) _mm512_store_si512(sums[j], _mm512_madd_epi16(pair_sums[j], _mm512_set1_epi16(1)));
      } else {
        const __m128i offset = _mm_set1_epi8(int8_t(G::kOffset)), ones8 = _mm_set1_epi8(1), ones16 = _mm_set1_epi16(1);
        for (int q = 0; q < 4; ++q) {
          __m128i pair_sums[kSubs];  // in int16 pairs: at most 2 · 255 · kS / 4
          for (__m128i& x : pair_sums) x = _mm_setzero_si128();
          G::template group_values<__m128i>(gb[i], q, [&](int e, __m128i u) {  // rows 4q .. 4q+3 of the step
            _mm_storeu_si128(reinterpret_cast<__m128i*>(step(e) + 16 * q), _mm_sub_epi8(u, offset));
            pair_sums[e / kS] = _mm_add_epi16(pair_sums[e / kS], _mm_maddubs_epi16(u, ones8));
          });
          for (int j = 0; j < kSubs; ++j) {
            _mm_store_si128(reinterpret_cast<__m128i*>(&sums[j][4 * q]), _mm_madd_epi16(pair_sums[j], ones16));
          }
        }
      }
      Metas& gm = metas[i];
      if constexpr (requires { G::kGroupScales; }) {  // finish_meta's fields, four rows per vector
        __m128i sc[kSubs], mn[kMins];
        G::group_scales(gb[i], gm.d, gm.f2, sc, mn);
        alignas(16) uint8_t sc_bytes[kSubs][16], mn_bytes[kMins][16];
        for (int j = 0; j < kSubs; ++j) _mm_store_si128(reinterpret_cast<__m128i*>(sc_bytes[j]), sc[j]);
        for (int j = 0; j < kMins; ++j) _mm_store_si128(reinterpret_cast<__m128i*>(mn_bytes[j]), mn[j]);
        const auto widen4 = [](const uint8_t* four) {  // four bytes as int32 lanes
          int32_t x;
          std::memcpy(&x, four, 4);
          return _mm_cvtepu8_epi32(_mm_cvtsi32_si128(x));
        };
        const __m128i offset_sum = _mm_set1_epi32(G::kOffset * kS);
        for (int q = 0; q < 4; ++q) {
          __m128i corr = _mm_setzero_si128();
          for (int j = 0; j < kSubs; ++j) {
            const __m128i s32 = widen4(sc_bytes[j] + 4 * q);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(&gm.sc[j][4 * q]), s32);
            const __m128i row_sums = _mm_sub_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(&sums[j][4 * q])), offset_sum);
            corr = _mm_add_epi32(corr, _mm_mullo_epi32(s32, row_sums));
          }
          _mm_storeu_si128(reinterpret_cast<__m128i*>(&gm.corr[4 * q]), _mm_slli_epi32(corr, 7));
          for (int j = 0; j < kMins; j += 2) {
            const __m128i hi = j + 1 < kMins ? _mm_slli_epi32(widen4(mn_bytes[j + 1] + 4 * q), 16) : _mm_setzero_si128();
            _mm_storeu_si128(reinterpret_cast<__m128i*>(&gm.mn_pairs[j / 2][4 * q]), _mm_or_si128(widen4(mn_bytes[j] + 4 * q), hi));
          }
        }
      } else {
        for (int r = 0; r < kRowGroup; ++r) {
          Meta m;
          G::group_meta(gb[i], r, m);
          int32_t row_sums[kSubs];
          for (int j = 0; j < kSubs; ++j) row_sums[j] = sums[j][r] - G::kOffset * kS;
          finish_meta(m, row_sums, gm, r);
        }
      }
    }
  }

  // The integer sums Σ_j sc_j · Σ_{e ∈ sub-block j} w_e·(qa_e + 128) of block i for each row and token.
  template <int kGroups>
  static void block_sums(const int8_t* const v[kPanel], const MetaRow meta[kPanel], const PackedAct* const a[],
                         int64_t i, I sq[][kPanel]) {
    const auto step = [&](int e, auto&& each) {  // four values e .. e+3: each(group, row, x, w)
      I x[kGroups];
      for (int gi = 0; gi < kGroups; ++gi) x[gi] = P::load_act(a[gi][i].q + e * kLanes);
      for (int r = 0; r < kPanel; ++r) {
        const I wv = P::broadcast4(v[r] + (i * kE + e) / 4 * kStepBytes);
        for (int gi = 0; gi < kGroups; ++gi) each(gi, r, x[gi], wv);
      }
    };
    if constexpr (P::kScaleInDot) {  // each step's products scaled as they are added
      for (int gi = 0; gi < kGroups; ++gi) {
        for (I& x : sq[gi]) x = P::zero_i();
      }
      for (int j = 0; j < kSubs; ++j) {
        I sc[kPanel];
        for (int r = 0; r < kPanel; ++r) sc[r] = P::scale16(meta[r].m[i].sc[j][meta[r].lane]);
#pragma GCC unroll 8
        for (int k = 0; k < kS; k += 4) {
          step(j * kS + k, [&](int gi, int r, I x, I wv) { sq[gi][r] = P::dot4_scaled(sq[gi][r], x, wv, sc[r]); });
        }
      }
    } else {  // each sub-block's sums, then times its scale
      for (int j = 0; j < kSubs; ++j) {
        I c[kGroups][kPanel];
        for (auto& grp : c) {
          for (I& x : grp) x = P::zero_i();
        }
#pragma GCC unroll 8
        for (int k = 0; k < kS; k += 4) {
          step(j * kS + k, [&](int gi, int r, I x, I wv) { c[gi][r] = P::dot4(c[gi][r], x, wv); });
        }
        for (int r = 0; r < kPanel; ++r) {
          for (int gi = 0; gi < kGroups; ++gi) {
            if constexpr (kSubs == 1) {
              sq[gi][r] = c[gi][r];
            } else {
              const I scaled = P::mullo_i(c[gi][r], P::set1_i(meta[r].m[i].sc[j][meta[r].lane]));
              sq[gi][r] = j == 0 ? scaled : P::add_i(sq[gi][r], scaled);
            }
          }
        }
      }
    }
  }

  // out[g][r] (kLanes token lanes) = Σ over blocks of row r · the tokens of group g, finished as the
  // recipe does. kGroups × kPanel independent accumulator chains; each activation load serves kPanel rows
  // and each weight broadcast kGroups token groups (up to P::kMaxGroups; fewer for the last ones).
  template <int kGroups>
  static void tile(const int8_t* const v[kPanel], const MetaRow meta[kPanel], const PackedAct* const a[],
                   int64_t blocks, F out[][kPanel]) {
    F p[4][kGroups][kPanel];  // [partial b % 4][group][row]
    for (auto& lane : p) {
      for (auto& grp : lane) {
        for (auto& x : grp) x = P::zero_f();
      }
    }
    for (int64_t i = 0; i < blocks; ++i) {
      I sq[kGroups][kPanel];
      block_sums<kGroups>(v, meta, a, i, sq);
      const int lane = int(i & 3);
      for (int gi = 0; gi < kGroups; ++gi) {
        const PackedAct& A = a[gi][i];
        const F da = P::load_f(A.d);
        for (int r = 0; r < kPanel; ++r) {
          const Metas& m = meta[r].m[i];
          const int row = meta[r].lane;
          const I q = P::sub_i(sq[gi][r], P::set1_i(m.corr[row]));
          F& acc = p[lane][gi][r];
          acc = P::fma_f(P::mul_f(P::set1_f(m.d[row]), da), P::cvt(q), acc);
          if constexpr (kMins > 0) {
            I sm = P::zero_i();
            for (int j = 0; j < kMinPairs<kMins>; ++j) sm = P::dot2_i16(sm, P::load_i(A.m[j]), P::set1_i(m.mn_pairs[j][row]));
            acc = P::fma_f(P::mul_f(P::set1_f(m.f2[row]), da), P::cvt(sm), acc);
          }
        }
      }
    }
    for (int gi = 0; gi < kGroups; ++gi) {
      for (int r = 0; r < kPanel; ++r) {
        out[gi][r] = P::add_f(P::add_f(p[0][gi][r], p[1][gi][r]), P::add_f(p[2][gi][r], p[3][gi][r]));
      }
    }
  }

  // The product in two phases, so that gemm_run can put several products' phases in one parallel loop
  // each: packing the activations (per token group), then row blocks against all token groups.
  static int64_t token_groups(const GemmArgs& g) { return (g.tokens - g.tail + kLanes - 1) / kLanes; }
  static size_t packed_bytes(const GemmArgs& g) { return size_t(token_groups(g) * (g.cols / kE)) * sizeof(PackedAct); }
  static void pack(const GemmArgs& g, uint8_t* packed, int64_t grp) {
    const int64_t blocks = g.cols / kE;
    pack_group(g, grp * kLanes, blocks, reinterpret_cast<PackedAct*>(packed) + grp * blocks);
  }

  // Rows per row block: few enough that their decoded values stay in L2 beside one token group's
  // activations, and at least four blocks per thread so that uneven blocks even out.
  static int64_t block_rows(const GemmArgs& g, int threads) {
    const int64_t by_cache = std::max<int64_t>(kPanel, (int64_t(128) << 10) / std::max<int64_t>(g.cols, 1));
    const int64_t by_threads = (g.rows + 4 * threads - 1) / (4 * threads);
    // Over row groups, whole groups: their rows are decoded (or restored, row_groups.cpp) 16 at a time.
    const int64_t unit = g.row_groups ? kRowGroup : kPanel;
    const int64_t rows = std::min<int64_t>({64, by_cache, std::max<int64_t>(by_threads, kPanel)});
    return std::max<int64_t>(unit, rows / unit * unit);
  }

  // Rows [r0, r0 + block_rows) against every token group of the packed activations.
  static void row_block(const GemmArgs& g, const uint8_t* packed_bytes, int64_t block_rows, int64_t r0) {
    const int64_t blocks = g.cols / kE, groups = token_groups(g);
    const auto* packed = reinterpret_cast<const PackedAct*>(packed_bytes);
    thread_local std::vector<int8_t> values;
    thread_local std::vector<Metas> metas;  // [row / 16][block]
    const int64_t value_groups = (block_rows + kRowGroup - 1) / kRowGroup;  // values and metas by whole groups
    if (values.size() < size_t(value_groups * kRowGroup * g.cols)) values.resize(size_t(value_groups * kRowGroup * g.cols));
    if (metas.size() < size_t(value_groups * blocks)) metas.resize(size_t(value_groups * blocks));
    const auto row_metas = [&](int64_t r) { return metas.data() + (r / kRowGroup) * blocks; };
    const int64_t nr = std::min(block_rows, g.rows - r0);
    // Rows [first, nr) of the block from rows of `RowBlock`s, `stride` bytes apart.
    const auto decode_rows = [&](auto row_block, const uint8_t* rows, size_t stride, int64_t first = 0) {
      using RowBlock = decltype(row_block);
      for (int64_t r = first; r < nr; ++r) {
        decode_row(reinterpret_cast<const RowBlock*>(rows + size_t(r - first) * stride), blocks,
                   row_values(values.data(), g.cols, r), row_metas(r), int(r % kRowGroup));
      }
    };
    if (!g.row_groups) {
      decode_rows(typename G::Block{}, g.w + size_t(r0) * g.row_bytes, g.row_bytes);
    } else if constexpr (requires { typename G::Group; }) {  // whole groups from their blocks, then the rows after them
      const int64_t grouped = g.rows / kRowGroup * kRowGroup;
      for (int64_t r = 0; r < nr; r += kRowGroup) {
        const uint8_t* at = g.w + row_groups_offset(g.type, g.rows, g.cols, r0 + r);
        if (r0 + r + kRowGroup <= grouped) {
          decode_group(reinterpret_cast<const typename G::Group*>(at), blocks, g.cols, row_values(values.data(), g.cols, r),
                       row_metas(r));
        } else {
          decode_rows(typename G::Block{}, at, g.row_bytes, r);
        }
      }
    } else if constexpr (requires { typename G::Stored; }) {  // in the groups' stored form, decoded from it
      thread_local std::vector<uint8_t> stored;
      const size_t stored_bytes = stored_row_bytes(g.type, g.cols);
      stored.resize(size_t(nr) * stored_bytes);
      stored_rows_from_groups(g.type, g.w, g.rows, g.cols, r0, nr, stored.data());
      decode_rows(typename G::Stored{}, stored.data(), stored_bytes);
    } else {  // restored to the standard layout first
      thread_local std::vector<uint8_t> restored;
      restored.resize(size_t(nr) * g.row_bytes);
      rows_from_groups(g.type, g.w, g.rows, g.cols, r0, nr, restored.data());
      decode_rows(typename G::Block{}, restored.data(), g.row_bytes);
    }
    constexpr int kMaxGroups = P::kMaxGroups;
    for (int64_t grp = 0; grp < groups; grp += kMaxGroups) {
      const int ng = int(std::min<int64_t>(kMaxGroups, groups - grp));
      const PackedAct* a[kMaxGroups];
      for (int gi = 0; gi < ng; ++gi) a[gi] = packed + size_t((grp + gi) * blocks);
      for (int64_t pr = 0; pr < nr; pr += kPanel) {
        const int8_t* v[kPanel];
        MetaRow m[kPanel];
        for (int r = 0; r < kPanel; ++r) {
          // A short last panel computes rows past the block (values left from earlier blocks, the last row's
          // scales) and stores none of them.
          v[r] = row_values(values.data(), g.cols, pr + r);
          const int64_t row = std::min(pr + r, nr - 1);
          m[r] = {row_metas(row), int(row % kRowGroup)};
        }
        F out[kMaxGroups][kPanel];
        if constexpr (kMaxGroups == 3) {
          if (ng == 3) tile<3>(v, m, a, blocks, out);
        }
        if (ng == 2) {
          tile<2>(v, m, a, blocks, out);
        } else if (ng == 1) {
          tile<1>(v, m, a, blocks, out);
        }
        for (int gi = 0; gi < ng; ++gi) {
          const int64_t t0 = (grp + gi) * kLanes, nt = std::min<int64_t>(kLanes, g.tokens - t0);
          const int64_t row = r0 + pr;
          if (pr + kPanel <= nr && nt == kLanes) {
            P::store_panel(out[gi], g.y + size_t(t0) * size_t(g.rows) + size_t(row), g.rows, g.bias ? g.bias + row : nullptr);
            continue;
          }
          alignas(64) float res[kPanel][kLanes];
          for (int r = 0; r < kPanel; ++r) P::store_f(res[r], out[gi][r]);
          for (int r = 0; r < kPanel && pr + r < nr; ++r) {
            for (int64_t l = 0; l < nt; ++l) {
              const float x = res[r][l];
              g.y[size_t(t0 + l) * size_t(g.rows) + size_t(row + r)] = g.bias ? x + g.bias[row + r] : x;
            }
          }
        }
      }
    }
    const uint8_t* block_groups = g.tail > 0 ? g.w + row_groups_offset(g.type, g.rows, g.cols, r0) : nullptr;
    for (int64_t t0 = g.tokens - g.tail; t0 < g.tokens; t0 += kMaxTokens) {  // the tail, a pass per kMaxTokens
      const int n = int(std::min<int64_t>(kMaxTokens, g.tokens - t0));
      float* y = g.y + size_t(t0) * size_t(g.rows) + size_t(r0);
      g.tail_kernel(g.cols, block_groups, int(nr / kRowGroup), g.acts + size_t(t0) * g.act_stride, g.act_stride, n, y,
                    size_t(g.rows));
      if (!g.bias) continue;
      for (int k = 0; k < n; ++k) {
        for (int64_t r = 0; r < nr; ++r) y[size_t(k) * size_t(g.rows) + size_t(r)] += g.bias[r0 + r];
      }
    }
  }
};

// fn(G{}) with the decoder of weight type t; false for types without one.
template <class Fn>
bool with_gemm_type(DType t, Fn&& fn) {
  switch (t) {
    case DType::Q8_0: fn(GemmQ8_0{}); return true;
    case DType::Q4_0: fn(GemmLegacy<4, false, BlockQ4_0>{}); return true;
    case DType::Q4_1: fn(GemmLegacy<4, true, BlockQ4_1>{}); return true;
    case DType::Q5_0: fn(GemmLegacy<5, false, BlockQ5_0>{}); return true;
    case DType::Q5_1: fn(GemmLegacy<5, true, BlockQ5_1>{}); return true;
    case DType::IQ4_NL: fn(GemmIQ4_NL{}); return true;
    case DType::Q2_K: fn(GemmQ2_K{}); return true;
    case DType::Q3_K: fn(GemmQ3_K{}); return true;
    case DType::Q4_K: fn(GemmK45<4, BlockQ4_K>{}); return true;
    case DType::Q5_K: fn(GemmK45<5, BlockQ5_K>{}); return true;
    case DType::Q6_K: fn(GemmQ6_K{}); return true;
    case DType::IQ4_XS: fn(GemmIQ4_XS{}); return true;
    case DType::IQ2_XXS: fn(GemmIQ<BlockIQ2_XXS>{}); return true;
    case DType::IQ2_XS: fn(GemmIQ<BlockIQ2_XS>{}); return true;
    case DType::IQ2_S: fn(GemmIQ<BlockIQ2_S>{}); return true;
    case DType::IQ3_XXS: fn(GemmIQ<BlockIQ3_XXS>{}); return true;
    case DType::IQ3_S: fn(GemmIQ<BlockIQ3_S>{}); return true;
    case DType::IQ1_S: fn(GemmIQ<BlockIQ1_S>{}); return true;
    case DType::IQ1_M: fn(GemmIQ<BlockIQ1_M>{}); return true;
    default: return false;
  }
}


// Whether weight type t has the tiled kernel on policy P.
template <class P>
bool gemm_has(DType t) {
  bool ok = false;
  with_gemm_type(t, [&](auto g) {
    if constexpr (P::kScaleInDot) {
      ok = !requires { decltype(g)::kFullInt8; };
    } else {
      ok = true;
    }
  });
  return ok;
}

// fn(Gemm<P, G>{}) for weight type t (gemm_has<P>(t) must hold).
template <class P, class Fn>
void with_gemm(DType t, Fn&& fn) {
  with_gemm_type(t, [&](auto g) {
    if constexpr (!(P::kScaleInDot && requires { decltype(g)::kFullInt8; })) fn(Gemm<P, decltype(g)>{});
  });
}

// Every job's product in two parallel loops: all the jobs' token groups packed (jobs with the same
// activations and type share them: an expert's gate and up), then all their row blocks, in contiguous
// ranges rebalanced by stealing (ThreadPool::parallel_steal), so that many small products -- an MoE
// layer's experts in a prefill -- cost two synchronisations instead of two each, and a thread whose vCPU
// runs slower hands the end of its range to the other.
template <class P>
void gemm_run(std::span<const GemmArgs> jobs, ThreadPool& pool) {
  struct Plan {
    size_t packed_at;
    int64_t groups, group_at;  // token groups, and the first one's number in the packing loop (-1: shared)
    int64_t block_rows, row_blocks, block_at;  // rows per block, blocks, and the first one's number
  };
  // Per calling thread, reused; used through references (in the loops a thread_local name is the worker's).
  thread_local std::vector<Plan> plan_list;
  thread_local std::vector<uint8_t> packed_storage;
  std::vector<Plan>& plans = plan_list;
  plans.clear();
  size_t packed_total = 0;
  int64_t groups_total = 0, blocks_total = 0;
  for (size_t k = 0; k < jobs.size(); ++k) {
    const GemmArgs& g = jobs[k];
    Plan plan{};
    with_gemm<P>(g.type, [&](auto kernel) {
      using K = decltype(kernel);
      plan.groups = K::token_groups(g);
      plan.block_rows = K::block_rows(g, pool.size());
      plan.row_blocks = (g.rows + plan.block_rows - 1) / plan.block_rows;
      const GemmArgs* prev = k > 0 ? &jobs[k - 1] : nullptr;
      if (prev && prev->acts == g.acts && prev->act_stride == g.act_stride && prev->tokens == g.tokens &&
          prev->tail == g.tail && prev->cols == g.cols && prev->type == g.type) {
        plan.packed_at = plans.back().packed_at;
        plan.group_at = -1;
      } else {
        plan.packed_at = packed_total;
        plan.group_at = groups_total;
        packed_total += (K::packed_bytes(g) + 63) / 64 * 64;
        groups_total += plan.groups;
      }
    });
    plan.block_at = blocks_total;
    blocks_total += plan.row_blocks;
    plans.push_back(plan);
  }
  if (packed_storage.size() < packed_total + 64) packed_storage.resize(packed_total + 64);
  uint8_t* packed = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(packed_storage.data()) + 63) & ~uintptr_t(63));

  pool.parallel_for(size_t(groups_total), [&](size_t begin, size_t end, int) {
    size_t k = 0;
    for (int64_t unit = int64_t(begin); unit < int64_t(end); ++unit) {
      while (plans[k].group_at < 0 || unit >= plans[k].group_at + plans[k].groups) ++k;
      with_gemm<P>(jobs[k].type, [&](auto kernel) {
        decltype(kernel)::pack(jobs[k], packed + plans[k].packed_at, unit - plans[k].group_at);
      });
    }
  });

  pool.parallel_steal(size_t(blocks_total), [&](size_t block, size_t, int) {
    // The job whose blocks hold this one: the last to start at or before it.
    const auto k = size_t(std::upper_bound(plans.begin(), plans.end(), int64_t(block),
                                           [](int64_t b, const Plan& p) { return b < p.block_at; }) - plans.begin()) - 1;
    const Plan& plan = plans[k];
    with_gemm<P>(jobs[k].type, [&](auto kernel) {
      decltype(kernel)::row_block(jobs[k], packed + plan.packed_at, plan.block_rows, (int64_t(block) - plan.block_at) * plan.block_rows);
    });
  });
}

}  // namespace
}  // namespace r1::quant
