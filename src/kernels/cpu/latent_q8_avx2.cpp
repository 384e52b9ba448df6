// The Q8 attention kernels on AVX2 (latent_q8.h), for CPUs without AVX-512 VNNI. Without vpdpbusd the
// products go through 16-bit sums, exact both ways:
//   scores: vpmaddubsw of |q| (unsigned) and c with q's sign (vpsignb) -- two products of at most 127 · 127
//           per int16, no saturation -- then vpmaddwd by ones to int32; rows in the lanes (8 per register,
//           a block's 16 rows in two);
//   values: the weights (up to 255) do not fit vpmaddubsw's signed operand, so the rows are
//           widened to int16 once for all heads, two rows interleaved per dimension, and vpmaddwd
//           multiplies each pair by the two rows' weights; dimensions in the lanes.
// Built a second time with R1_AVX_VNNI (src/CMakeLists.txt), the products are 256-bit vpdpbusd, as on
// AVX-512 VNNI: the scores' cache bytes go in as c + 128 (top bit flipped; 128·Σq comes off afterwards),
// and the values' blocks are transposed to four rows' bytes per dimension, against the weights' bytes.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/avx_vnni.h"
#include "kernels/cpu/latent_q8.h"
#include "kernels/cpu/latent_q8_recipe.h"

namespace r1 {

namespace {

constexpr int64_t kRows = kQ8BlockRows;

Ints16 to_ints(__m256i lo, __m256i hi) {
  Ints16 x;
  std::memcpy(&x, &lo, 32);
  std::memcpy(reinterpret_cast<char*>(&x) + 32, &hi, 32);
  return x;
}

// The score pass's products per build: score_operand(c) is what a load of cache bytes goes in as, and
// add_score_products adds, per int32 lane, the four products of those bytes and the query's q.
#if defined(R1_AVX_VNNI)
constexpr bool kVnni = true;
// vpdpbusd multiplies unsigned by signed bytes: the cache bytes go in as c + 128 (their top bit flipped).
inline __m256i score_operand(__m256i c) { return _mm256_xor_si256(c, _mm256_set1_epi8(int8_t(0x80))); }
inline __m256i add_score_products(__m256i acc, __m256i c, __m256i q) { return dpbusd256(acc, c, q); }
#else
constexpr bool kVnni = false;
inline __m256i score_operand(__m256i c) { return c; }
// |q| (unsigned) times c with q's sign (c, q: signed bytes, |q| ≤ 127), summed in pairs by vpmaddubsw and
// the pairs by vpmaddwd.
inline __m256i add_score_products(__m256i acc, __m256i c, __m256i q) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(c, q));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}
#endif
// What the score sums of a head carry beyond Σ c·q: with vpdpbusd 128·Σq, from the flipped cache bytes.
constexpr int32_t kScoreOffset = kVnni ? 128 : 0;

// Heads [h0, h0 + kTile) at a time (the last repeated past the end), per block: the two halves' sums.
// With vpdpbusd the first tile of heads also brings the next block into L1, a line per group, as on
// AVX-512 VNNI (without, these kernels are slower than the reads).
void step_scores(const LatentQ8Shape& s, const QueryQ8& q, const LatentBlockQ8* blocks, int64_t count,
                 const LatentBlockQ8* next, int64_t next_count, float scale, float* scores, int64_t ld) {
  constexpr int kTile = 4;
  const int64_t lg = s.latent_groups(), G = s.groups();
  for (int64_t n = 0; n < count; ++n) {
    const LatentBlockQ8& b = blocks[n];
    const LatentBlockQ8* after = n + 1 < count ? &blocks[n + 1] : next_count > 0 ? next : nullptr;
    const int8_t* ahead = kVnni && after ? after->q : nullptr;
    if (ahead) {
      __builtin_prefetch(after->latent_scale, 0, 3);
      __builtin_prefetch(after->rope_scale, 0, 3);
    }
    for (int64_t h0 = 0; h0 < s.heads; h0 += kTile, ahead = nullptr) {
      const int8_t* qh[kTile];
      for (int k = 0; k < kTile; ++k) qh[k] = q.q + std::min<int64_t>(h0 + k, s.heads - 1) * 4 * G;
      __m256i acc[2][kTile][2];  // [part][head][rows 0-7, 8-15]
      const auto sums = [&](__m256i(&part)[kTile][2], int64_t g0, int64_t g1) __attribute__((always_inline)) {
        for (auto& head : part) head[0] = head[1] = _mm256_setzero_si256();
        for (int64_t g = g0; g < g1; ++g) {
          if (ahead) __builtin_prefetch(ahead + g * 64, 0, 3);
          const __m256i lo = score_operand(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.q + g * 64)));
          const __m256i hi = score_operand(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.q + g * 64 + 32)));
          for (int k = 0; k < kTile; ++k) {
            int32_t w;
            std::memcpy(&w, qh[k] + 4 * g, 4);
            const __m256i qw = _mm256_set1_epi32(w);
            part[k][0] = add_score_products(part[k][0], lo, qw);
            part[k][1] = add_score_products(part[k][1], hi, qw);
          }
        }
      };
      sums(acc[0], 0, lg);
      sums(acc[1], lg, G);
      for (int k = 0; k < kTile && h0 + k < s.heads; ++k) {
        const int64_t h = h0 + k;
        finish_scores(q, b, h, scale, to_ints(acc[0][k][0], acc[0][k][1]) - kScoreOffset * q.latent_sum[h],
                      to_ints(acc[1][k][0], acc[1][k][1]) - kScoreOffset * q.rope_sum[h], scores + h * ld + n * kRows);
      }
    }
  }
}

// The value pass goes by slices of kValueRuns runs of 8 dimensions (one int32 lane each; the last slice zero
// past the latent dims), tiles of kValueHeads heads: each load of the slice's prepared rows serves
// kValueHeads heads, each broadcast weight word kValueRuns runs. Each slice of the step's blocks is prepared
// just before its tiles, into a buffer that stays in L1 for them (preparing the whole step first wrote 256 KB
// for 256 rows, and the tiles read it back from L2).
#if defined(R1_AVX_VNNI)
constexpr int64_t kValueRuns = 3, kValueHeads = 4;  // 4 × 2 runs 1.5 % slower, 2 × 4 11 % (paired runs)
#else
constexpr int64_t kValueRuns = 4, kValueHeads = 2;
#endif
inline int64_t value_slices(const LatentQ8Shape& s) { return (s.latent_groups() + 2 * kValueRuns - 1) / (2 * kValueRuns); }

// o_h[j] = fma(sum_j, ws_h, o_h[j]) for a tile's heads [h0, h0 + N) and runs [r0, r0 + R) of 8 dimensions.
template <size_t N, size_t R>
inline void store_runs(const LatentQ8Shape& s, const __m256i (&acc)[N][R], int64_t h0, int64_t r0, const float* ws,
                       float* o, int64_t ld) {
  for (int64_t e = 0; e < int64_t(N) && h0 + e < s.heads; ++e) {
    const __m256 step = _mm256_set1_ps(ws[h0 + e]);
    for (int64_t r = 0; r < int64_t(R) && 8 * (r0 + r) < s.dc; ++r) {
      float* dst = o + (h0 + e) * ld + 8 * (r0 + r);
      const int64_t left = s.dc - 8 * (r0 + r);
      if (left >= 8) {
        _mm256_storeu_ps(dst, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[e][r]), step, _mm256_loadu_ps(dst)));
        continue;
      }
      alignas(32) float lanes[8];  // a partial last run: lane by lane, the same fma
      _mm256_store_ps(lanes, _mm256_cvtepi32_ps(acc[e][r]));
      for (int64_t j = 0; j < left; ++j) dst[j] = std::fma(lanes[j], ws[h0 + e], dst[j]);
    }
  }
}

// A slice of the step is prepared as [unit][run][32 bytes]: a unit is kUnitRows consecutive rows, a run 8
// dimensions of them. prepare_slice writes it, weight_word gives a head's weights of a unit broadcast, and
// add_products adds the unit's products to a run's 8 sums.
#if defined(R1_AVX_VNNI)
// As on AVX-512 VNNI (latent_q8_avx512vnni.cpp), on 8 lanes: the blocks transposed to four rows' bytes per
// dimension (6 KB), vpdpbusd of the weights' bytes (unsigned) and the rows' (signed).
constexpr int64_t kUnitRows = 4;

// Runs [n0, n0 + kValueRuns) of the blocks' latent groups: per row quad and run, 8 dims × 4 rows; zero
// past the last group.
void prepare_slice(const LatentQ8Shape& s, const LatentBlockQ8* blocks, int64_t count, int64_t n0, uint8_t* t) {
  const int64_t lg = s.latent_groups();
  // Within each 128-bit lane (four rows × four dims) the bytes to (four dims × four rows).
  const __m256i dims_rows =
      _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  for (int64_t n = 0; n < count; ++n) {
    const auto quad_bytes = [&](int64_t g, int64_t k) {  // rows 4k .. 4k+3 of group g, row-major
      if (g >= lg) return _mm_setzero_si128();
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[n].q + g * 64 + k * 16));
    };
    for (int64_t r = 0; r < kValueRuns; ++r) {
      const int64_t g = 2 * (n0 + r);  // the run's dims: groups g and g + 1
      for (int64_t k = 0; k < 4; ++k) {
        const __m256i x = _mm256_set_m128i(quad_bytes(g + 1, k), quad_bytes(g, k));
        auto* unit_run = reinterpret_cast<__m256i*>(t + ((4 * n + k) * kValueRuns + r) * 32);
        _mm256_storeu_si256(unit_run, _mm256_shuffle_epi8(x, dims_rows));
      }
    }
  }
}

inline __m256i weight_word(const uint8_t* ph, int64_t u) {
  int32_t x;
  std::memcpy(&x, ph + 4 * u, 4);
  return _mm256_set1_epi32(x);
}
inline __m256i add_products(__m256i acc, __m256i w, __m256i x) { return dpbusd256(acc, w, x); }
#else
// The rows widened to int16, two rows interleaved per dimension (16 KB), vpmaddwd of the pairs and the two
// rows' weights.
constexpr int64_t kUnitRows = 2;

// Runs [r0, r0 + kValueRuns) of the blocks' latent values as int16: per row pair and run, 8 dims × 2 rows.
void prepare_slice(const LatentQ8Shape& s, const LatentBlockQ8* blocks, int64_t count, int64_t r0, uint8_t* scratch) {
  auto* t = reinterpret_cast<int16_t*>(scratch);
  const int64_t lg = s.latent_groups();
  // Within 16 bytes (four rows × four dims, row-major): rows 0-1 then rows 2-3, each dim's two rows together.
  const __m128i pairs = _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
  for (int64_t n = 0; n < count; ++n) {
    for (int64_t j = 0; j < 2 * kValueRuns; ++j) {  // groups of four dims of the slice, zero past the latent part
      const int64_t g = 2 * r0 + j;
      for (int64_t quad = 0; quad < 4; ++quad) {  // rows 4·quad .. +3: pairs 2·quad, 2·quad + 1
        __m256i wide = _mm256_setzero_si256();
        if (g < lg) {
          const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[n].q + g * 64 + quad * 16));
          wide = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(x, pairs));
        }
        const int64_t p = 8 * n + 2 * quad;
        // Dims 4g .. 4g+3 are the half g mod 2 of run g / 2.
        int16_t* first = t + (p * kValueRuns + j / 2) * 16 + (j % 2) * 8;
        _mm_storeu_si128(reinterpret_cast<__m128i*>(first), _mm256_castsi256_si128(wide));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(first + kValueRuns * 16), _mm256_extracti128_si256(wide, 1));
      }
    }
  }
}

inline __m256i weight_word(const uint8_t* ph, int64_t u) {
  return _mm256_set1_epi32(int32_t(ph[2 * u]) | int32_t(ph[2 * u + 1]) << 16);
}
inline __m256i add_products(__m256i acc, __m256i w, __m256i x) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(x, w));
}
#endif

void step_values(const LatentQ8Shape& s, const LatentBlockQ8* blocks, int64_t count, const uint8_t* pw, const float* ws,
                 float* o, int64_t ld, uint8_t* t, const LatentBlockQ8*, int64_t) {
  const int64_t units = count * kQ8BlockRows / kUnitRows;
  for (int64_t r0 = 0; r0 < value_slices(s) * kValueRuns; r0 += kValueRuns) {
    prepare_slice(s, blocks, count, r0, t);
    for (int64_t h0 = 0; h0 < s.heads; h0 += kValueHeads) {
      const uint8_t* ph[kValueHeads];
      tile_weights(pw, h0, s.heads, ph);
      __m256i acc[kValueHeads][kValueRuns] = {};
      for (int64_t u = 0; u < units; ++u) {
        __m256i x[kValueRuns];  // loaded once for the kValueHeads heads
        for (int64_t r = 0; r < kValueRuns; ++r) {
          x[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t + (u * kValueRuns + r) * 32));
        }
        for (int64_t e = 0; e < kValueHeads; ++e) {
          const __m256i w = weight_word(ph[e], u);
          for (int64_t r = 0; r < kValueRuns; ++r) acc[e][r] = add_products(acc[e][r], w, x[r]);
        }
      }
      store_runs(s, acc, h0, r0, ws, o, ld);
    }
  }
}

int64_t scratch_bytes(const LatentQ8Shape&) { return kQ8StepRows / kUnitRows * kValueRuns * 32; }

}  // namespace

#if defined(R1_AVX_VNNI)
LatentQ8Kernels latent_q8_kernels_avxvnni() { return {step_scores, step_values, scratch_bytes}; }
#else
LatentQ8Kernels latent_q8_kernels_avx2() { return {step_scores, step_values, scratch_bytes}; }
#endif

}  // namespace r1
