// 16 floats as one vector (GCC/Clang vector extension: one AVX-512 register, two AVX2 ones, ...): the
// unit of the plain-C++ float kernels, which then vectorize the same way on every target and keep a
// fixed summation order.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace r1 {

typedef float Lanes16 __attribute__((vector_size(16 * sizeof(float))));
typedef uint32_t Words16 __attribute__((vector_size(16 * sizeof(uint32_t))));  // e.g. 16 pairs of BF16 values
typedef uint16_t Halves16 __attribute__((vector_size(16 * sizeof(uint16_t))));
typedef int32_t Ints16 __attribute__((vector_size(16 * sizeof(int32_t))));

// 16 floats from / to any address (byte copies: no alignment assumed, one vector load or store).
inline Lanes16 load16(const float* p) {
  Lanes16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float* p, Lanes16 v) { std::memcpy(p, &v, sizeof v); }

// 16 BF16 values (their bits) widened to floats: a BF16 value is the upper half of a float's bits.
inline Lanes16 load16(const uint16_t* p) {
#if defined(__AVX512F__)
  // GCC 12 builds the generic form below from two 256-bit halves. (Zero-masked forms with every lane
  // selected: the plain intrinsics' undefined source trips GCC 12's -Wmaybe-uninitialized.)
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return Lanes16(_mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, _mm512_maskz_cvtepu16_epi32(0xFFFF, h), 16)));
#else
  Halves16 h;
  std::memcpy(&h, p, sizeof h);
  return std::bit_cast<Lanes16>(__builtin_convertvector(h, Words16) << 16);
#endif
}

// x in all 16 lanes: one broadcast (`Lanes16{} + x` adds 0 first, which GCC keeps: -0 + 0 is +0).
inline Lanes16 broadcast16(float x) { return Lanes16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

// v, made to live in a register from here on. In a tile of dot products each loaded vector meets several
// others; under register pressure GCC 12 re-reads it from memory as an operand of every multiply-add
// instead (one load per multiply-add, and the loads rather than the multiply-adds set the pace).
template <class Vector16>
inline Vector16 pinned(Vector16 v) {
#if defined(__AVX512F__)
  asm("" : "+v"(v));
#endif
  return v;
}

// a * b + c rounded once, lane by lane: one instruction where the target has FMA (the build compiles
// with -ffp-contract=off, so plain `a * b + c` is two roundings everywhere), std::fma's result elsewhere.
inline Lanes16 fmadd16(Lanes16 a, Lanes16 b, Lanes16 c) {
#if defined(__AVX512F__)
  return Lanes16(_mm512_fmadd_ps(__m512(a), __m512(b), __m512(c)));
#elif defined(__FMA__)
  const __m256 lo = _mm256_fmadd_ps(_mm256_loadu_ps(&a[0]), _mm256_loadu_ps(&b[0]), _mm256_loadu_ps(&c[0]));
  const __m256 hi = _mm256_fmadd_ps(_mm256_loadu_ps(&a[8]), _mm256_loadu_ps(&b[8]), _mm256_loadu_ps(&c[8]));
  Lanes16 r;
  _mm256_storeu_ps(&r[0], lo);
  _mm256_storeu_ps(&r[8], hi);
  return r;
#elif defined(__aarch64__)
  Lanes16 r;
  for (int i = 0; i < 16; i += 4) vst1q_f32(&r[i], vfmaq_f32(vld1q_f32(&c[i]), vld1q_f32(&a[i]), vld1q_f32(&b[i])));
  return r;
#else
  Lanes16 r;
  for (int i = 0; i < 16; ++i) r[i] = std::fma(a[i], b[i], c[i]);
  return r;
#endif
}

// acc + (a's odd BF16 value · b's) + (a's even BF16 value · b's) per lane of 16 pairs, the odd product
// added first and each addition rounded: AVX512-BF16's vdpbf16ps, or two multiply-adds of the pairs'
// halves widened to float with the same bits (a product of two BF16 values is exact in float).
// (vdpbf16ps also reads values below 2^-126 as zero and the multiply-adds do not: the attention weights
// are flushed below that beforehand (round_weights_to_bf16); queries and cached values that small would
// differ, and do not occur in practice.)
inline Lanes16 dot_bf16_pairs(Lanes16 acc, Words16 a, Words16 b) {
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  return Lanes16(_mm512_dpbf16_ps(__m512(acc), __m512bh(a), __m512bh(b)));
#else
  const Words16 upper = Words16{} + 0xFFFF0000u;
  acc = fmadd16(std::bit_cast<Lanes16>(a & upper), std::bit_cast<Lanes16>(b & upper), acc);
  return fmadd16(std::bit_cast<Lanes16>(a << 16), std::bit_cast<Lanes16>(b << 16), acc);
#endif
}

// The lanes below n kept, the others set to `fill`. (Whole vectors, the common case in loops over a
// length, skip the int-to-float conversion and the compare: 12 % of the Q8 attention's softmax samples.)
inline Lanes16 first_lanes(Lanes16 x, int64_t n, float fill) {
  if (n >= 16) return x;
  const Lanes16 index = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  return index < float(n) ? x : Lanes16{} + fill;
}

// The largest lane, and the sum of the lanes in one fixed order (halves added, then their halves, ...):
// the same bits on every target.
inline float max_lanes(Lanes16 x) {
  Lanes16 y = __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  x = x > y ? x : y;
  y = __builtin_shufflevector(x, x, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
  x = x > y ? x : y;
  y = __builtin_shufflevector(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  x = x > y ? x : y;
  return x[0] > x[1] ? x[0] : x[1];
}
inline float sum_lanes(Lanes16 x) {
  x += __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  x += __builtin_shufflevector(x, x, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
  x += __builtin_shufflevector(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  return x[0] + x[1];
}

// sum_lanes of 16 vectors at once: lane i of the result is sum_lanes(v[i]), by the same additions (each
// step adds the same pairs of lanes, for two, four, eight, then sixteen vectors per register) -- a quarter
// of the shuffles and additions, and one vector of results to store.
inline Lanes16 sum_lanes16(const Lanes16 (&v)[16]) {
  Lanes16 w[8], u[4], z[2];
  for (int k = 0; k < 8; ++k) {  // x[l] + x[l + 8]: vectors 2k, 2k + 1 in lanes 0-7, 8-15
    w[k] = __builtin_shufflevector(v[2 * k], v[2 * k + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
           __builtin_shufflevector(v[2 * k], v[2 * k + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  }
  for (int k = 0; k < 4; ++k) {  // + [l + 4]: four vectors per register
    u[k] = __builtin_shufflevector(w[2 * k], w[2 * k + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
           __builtin_shufflevector(w[2 * k], w[2 * k + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  }
  for (int k = 0; k < 2; ++k) {  // + [l + 2]: eight
    z[k] = __builtin_shufflevector(u[2 * k], u[2 * k + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
           __builtin_shufflevector(u[2 * k], u[2 * k + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  }
  return __builtin_shufflevector(z[0], z[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
         __builtin_shufflevector(z[0], z[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

// dot()'s last steps (ops.h): its four vectors of partial sums (values l, l + 16, l + 32, l + 48 of each
// 64) added pairwise -- sums l and l + 32, then l and l + 16 -- then the 16 lanes as sum_lanes adds them.
inline float sum_dot_partials(Lanes16 s0, Lanes16 s1, Lanes16 s2, Lanes16 s3) {
  s0 += s2;
  s1 += s3;
  s0 += s1;
  return sum_lanes(s0);
}

// An IEEE half-precision value as stored in a row (F16 GGUF files and safetensors): its own type, since a
// bare uint16_t in these kernels is a BF16 value.
struct Half {
  uint16_t bits;
};

// 16 halves widened to floats (exact): the hardware's conversion where the build has it.
inline Lanes16 load16(const Half* p) {
#if defined(__AVX512F__)
  return Lanes16(_mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#elif defined(__F16C__)
  Lanes16 r;
  _mm256_storeu_ps(&r[0], _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  _mm256_storeu_ps(&r[8], _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8))));
  return r;
#else
  const float* table = f16_table();  // (exact, as the conversion)
  Lanes16 r;
  for (int i = 0; i < 16; ++i) r[i] = table[p[i].bits];
  return r;
#endif
}

// One stored value as a float, for scalar tails written once for F32, BF16 and F16 rows.
inline float to_float(float v) { return v; }
inline float to_float(uint16_t bf16) { return bf16_to_f32(bf16); }
inline float to_float(Half h) { return f16_table()[h.bits]; }

// 16 E4M3 values v times f, each rounded once: (v / 256) · f with v exactly fp8_e4m3_to_f32(code), the
// table's value, and NaN for the two NaN codes (all seven value bits set). Widening a block whose scale
// is s, f = 256·s (exact while |s| < 2^119, a power of two's scaling) gives v · s in one multiply.
// With AVX-512 through half precision: each byte sign-extended to 16 bits and shifted left by 7 puts its
// sign at bit 15 and its seven value bits at bits 7-13 (bit 14, a copy of the sign, cleared), which as an
// IEEE half is ±2^(e - 15)·(1 + m/8), or ±m · 2^-17 for e = 0, i.e. v / 256; the multiply by f also puts
// NaN in the NaN codes' lanes. No step meets a subnormal float, whose multiplies are slow on this machine's
// cores: dotting rows widened from subnormal floats (as below) took 0.87 ns per 16 values from L2 without
// subnormal codes, 1.35 with an eighth of them, 3.5 with random codes; through halves, 1.02 in every case
// (a stand-alone loop over 1,536-column rows, one thread). Elsewhere the seven bits go to a float's
// exponent and mantissa directly (bits 20-26: ±2^(e - 127)·(1 + m/8), or the subnormal ±m/8 · 2^-126),
// times 2^112 (exact) for v / 256, then times f.
inline Lanes16 fp8_e4m3_16_times(const uint8_t* p, float f) {
  const float nan = NAN;
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
  const __m256i h = _mm256_and_si256(_mm256_slli_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 7),
                                     _mm256_set1_epi16(int16_t(0xBFFF)));
  const __mmask16 is_nan = _mm256_cmpeq_epi16_mask(_mm256_and_si256(h, _mm256_set1_epi16(0x3F80)), _mm256_set1_epi16(0x3F80));
  return Lanes16(_mm512_mask_mul_ps(_mm512_set1_ps(nan), __mmask16(~is_nan), _mm512_maskz_cvtph_ps(0xFFFF, h), _mm512_set1_ps(f)));
#else
  Ints16 v;  // the bytes sign-extended (GCC 12 builds __builtin_convertvector's form from scalar moves)
#if defined(__AVX2__)
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(&v[0]), _mm256_cvtepi8_epi32(b));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(&v[8]), _mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)));
#else
  for (int i = 0; i < 16; ++i) v[i] = int8_t(p[i]);
#endif
  // Shifted left by 20 the sign fills bits 27-31: kept are bit 31 and the value bits 20-26.
  const Words16 bits = (Words16(v) << 20) & 0x87F00000u;
  const Lanes16 x = std::bit_cast<Lanes16>(bits) * 0x1p112f * broadcast16(f);
  return (bits & 0x07F00000u) == 0x07F00000u ? broadcast16(nan) : x;
#endif
}
// Whether a block scale folds into fp8_e4m3_16_times's multiply (256·s exact and finite).
inline bool fp8_scale_folds(float s) { return std::fabs(s) < 0x1p119f; }

// A stored row's bytes 8 KiB on (the row's rest, then the next rows: a matrix's rows are contiguous)
// towards L1, one line per call. Without it the decode waited on each line (BF16 R1-Distill at 25 % of the
// read bandwidth; 2, 4 and 8 KiB ahead measured, 8 best). (Always inlined: GCC 12 finds a function whose
// only effect is a prefetch free of side effects, and drops the call unless it was inlined first.)
[[gnu::always_inline]] inline void prefetch_row_ahead(const void* p) { __builtin_prefetch(static_cast<const char*>(p) + 8192, 0, 3); }

// The rows dot_lanes reads, as 16 floats at a time (load(i), i a multiple of 16), one float (at(i), the
// tail) and a prefetch of the row's stream ahead of i (prefetch(i), once per 64 values):
// a stored F32 / BF16 / F16 row, its values widened as they are loaded ...
template <class W>
struct StoredRow {
  const W* b;
  Lanes16 load(int64_t i) const { return load16(b + i); }
  float at(int64_t i) const { return to_float(b[i]); }
  [[gnu::always_inline]] void prefetch(int64_t i) const {
    if constexpr (sizeof(W) == 2) {  // a stored row streams from memory: the two lines of 64 values
      prefetch_row_ahead(b + i);
      prefetch_row_ahead(b + i + 32);
    }
  }
};
// ... and an FP8 (E4M3) row of a block-scaled checkpoint: value i is its code times the scale s of its
// column block (blocks of 2^block_shift ≥ 16 columns; scales256 holds 256·s for each, see
// fp8_e4m3_16_times), rounded as dequant_row rounds it, so that the products are the ones of the row
// widened first.
struct Fp8Row {
  const uint8_t* q;
  const float* scales256;
  int block_shift;
  Lanes16 load(int64_t i) const { return fp8_e4m3_16_times(q + i, scales256[i >> block_shift]); }
  float at(int64_t i) const { return fp8_e4m3_table()[q[i]] * (scales256[i >> block_shift] * 0x1p-8f); }
  [[gnu::always_inline]] void prefetch(int64_t i) const { prefetch_row_ahead(q + i); }  // the line of 64 codes
};

// dot() (ops.h), inline where a kernel calls it per row (float_matmul.cpp's decode: a call per 1,536-value
// row cost it 9 %); b may also be a stored row (StoredRow, Fp8Row), widened as it is loaded: the same
// products as widening the row first, without writing and reading it back.
template <class Row>
[[gnu::always_inline]] inline float dot_row_lanes(const float* a, const Row& b, int64_t n) {
  // 64 independent partial sums, enough chains to hide the add latency: sum l is lane l % 16 of
  // s[l / 16]. Plain vector arithmetic without -ffast-math, so the summation order is fixed on every
  // target. Four named vectors rather than an array: sanitizer builds keep local arrays in memory
  // behind redzones, which made this loop twenty times slower there.
  Lanes16 s0 = {}, s1 = {}, s2 = {}, s3 = {};
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    b.prefetch(i);
    s0 += load16(a + i) * b.load(i);
    s1 += load16(a + i + 16) * b.load(i + 16);
    s2 += load16(a + i + 32) * b.load(i + 32);
    s3 += load16(a + i + 48) * b.load(i + 48);
  }
  if (i < n) {  // the tail's element i + l goes to sum l, as if zero-padded to 64
    float ta[64] = {}, tb[64] = {};
    std::memcpy(ta, a + i, size_t(n - i) * sizeof(float));
    for (int64_t k = 0; k < n - i; ++k) tb[k] = b.at(i + k);
    s0 += load16(ta) * load16(tb);
    s1 += load16(ta + 16) * load16(tb + 16);
    s2 += load16(ta + 32) * load16(tb + 32);
    s3 += load16(ta + 48) * load16(tb + 48);
  }
  return sum_dot_partials(s0, s1, s2, s3);
}
template <class W>
[[gnu::always_inline]] inline float dot_lanes(const float* a, const W* b, int64_t n) {
  return dot_row_lanes(a, StoredRow<W>{b}, n);
}

}  // namespace r1
