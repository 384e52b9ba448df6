// The Q8 attention kernels on AVX-512 VNNI (latent_q8.h): vpdpbusd, rows in the lanes for the scores
// (vpdpbusd multiplies unsigned by signed bytes: the cache bytes go in as c + 128, their top bit flipped,
// and 128·Σq comes off afterwards), dimensions in the lanes for the values (the block transposed first).
#include "kernels/cpu/avx512_intrinsics.h"  // first: it sets warning state before <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/latent_q8.h"
#include "kernels/cpu/latent_q8_recipe.h"

namespace r1 {

namespace {

constexpr int64_t kRows = kQ8BlockRows;

inline Ints16 to_ints(__m512i x) { return Ints16(x); }

// kNB blocks, heads [h0, h0 + kTile) at a time (the last repeated past the end): kNB × kTile accumulators
// per part; each load of a block's four dimensions serves kTile heads and each broadcast query word kNB
// blocks.
template <int kNB, int kTile>
void scores_vnni(const LatentQ8Shape& s, const QueryQ8& q, const LatentBlockQ8* b, float scale, float* scores, int64_t ld) {
  const int64_t lg = s.latent_groups(), G = s.groups();
  const __m512i flip = _mm512_set1_epi8(int8_t(0x80));
  for (int64_t h0 = 0; h0 < s.heads; h0 += kTile) {
    const int8_t* qh[kTile];
    for (int k = 0; k < kTile; ++k) qh[k] = q.q + std::min<int64_t>(h0 + k, s.heads - 1) * 4 * G;
    __m512i acc[2][kNB][kTile];
    // Groups [g0, g1) into part (a separate loop per part: indexing the part at run time put the sums
    // in memory).
    const auto sums = [&](__m512i(&part)[kNB][kTile], int64_t g0, int64_t g1) __attribute__((always_inline)) {
      for (auto& block : part) {
        for (__m512i& x : block) x = _mm512_setzero_si512();
      }
      for (int64_t g = g0; g < g1; ++g) {
        __m512i c[kNB];
        for (int n = 0; n < kNB; ++n) c[n] = _mm512_xor_si512(_mm512_loadu_si512(b[n].q + g * 64), flip);  // c + 128
        for (int k = 0; k < kTile; ++k) {
          int32_t w;
          std::memcpy(&w, qh[k] + 4 * g, 4);
          const __m512i qw = _mm512_set1_epi32(w);
          for (int n = 0; n < kNB; ++n) part[n][k] = _mm512_dpbusd_epi32(part[n][k], c[n], qw);
        }
      }
    };
    sums(acc[0], 0, lg);
    sums(acc[1], lg, G);
    for (int n = 0; n < kNB; ++n) {
      for (int k = 0; k < kTile && h0 + k < s.heads; ++k) {
        const int64_t h = h0 + k;
        const Ints16 latent = to_ints(acc[0][n][k]) - 128 * q.latent_sum[h], rope = to_ints(acc[1][n][k]) - 128 * q.rope_sum[h];
        finish_scores(q, b[n], h, scale, latent, rope, scores + h * ld + n * kRows);
      }
    }
  }
}

// Runs of 16 dimensions in the value pass, a whole number of kValueRuns (zero past the latent dims).
constexpr int64_t kValueRuns = 4;
inline int64_t value_runs(const LatentQ8Shape& s) {
  return (s.latent_groups() + 4 * kValueRuns - 1) / (4 * kValueRuns) * kValueRuns;
}

// The latent groups as [row quad][16-dimension run][16 dims × 4 rows], zero past the last group.
void transpose_vnni(const LatentQ8Shape& s, const LatentBlockQ8& b, uint8_t* t) {
  const int64_t lg = s.latent_groups(), runs = value_runs(s);
  // Within each 128-bit lane (four rows × four dims) the bytes to (four dims × four rows).
  const __m512i dims_rows = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  for (int64_t n = 0; n < runs; ++n) {
    __m512i a[4];
    for (int m = 0; m < 4; ++m) {
      const int64_t g = 4 * n + m;
      a[m] = g < lg ? _mm512_shuffle_epi8(_mm512_loadu_si512(b.q + g * 64), dims_rows) : _mm512_setzero_si512();
    }
    // Lane k of a[m]: dims 4(4n + m) .. +3 of rows 4k .. 4k+3. Row quad k gathers lane k of a[0..3].
    const __m512i t0 = _mm512_shuffle_i32x4(a[0], a[1], 0x44), t1 = _mm512_shuffle_i32x4(a[2], a[3], 0x44);
    const __m512i t2 = _mm512_shuffle_i32x4(a[0], a[1], 0xEE), t3 = _mm512_shuffle_i32x4(a[2], a[3], 0xEE);
    const __m512i quad[4] = {_mm512_shuffle_i32x4(t0, t1, 0x88), _mm512_shuffle_i32x4(t0, t1, 0xDD),
                             _mm512_shuffle_i32x4(t2, t3, 0x88), _mm512_shuffle_i32x4(t2, t3, 0xDD)};
    for (int k = 0; k < 4; ++k) _mm512_storeu_si512(t + (k * runs + n) * 64, quad[k]);
  }
}

void values_vnni(const LatentQ8Shape& s, const LatentBlockQ8* blocks, int64_t count, const uint8_t* pw, const float* ws,
                 float* o, int64_t ld, uint8_t* t) {
  const int64_t runs = value_runs(s), quads = 4 * count;  // row quads: four per block
  for (int64_t k = 0; k < count; ++k) transpose_vnni(s, blocks[k], t + k * 4 * runs * 64);
  // kValueRuns runs at a time for every head: independent chains of vpdpbusd (one chain waited on each
  // result), and the transposed rows of those runs (4 KB for a step of four blocks) stay in L1 while the
  // heads go by (head by head over all runs read them from L2).
  for (int64_t n0 = 0; n0 < runs; n0 += kValueRuns) {
    for (int64_t h = 0; h < s.heads; ++h) {
      __m512i acc[kValueRuns];
      for (__m512i& x : acc) x = _mm512_setzero_si512();
      for (int64_t k = 0; k < quads; ++k) {
        int32_t x;
        std::memcpy(&x, pw + h * kQ8StepRows + 4 * k, 4);
        const __m512i w = _mm512_set1_epi32(x);
        for (int64_t r = 0; r < kValueRuns; ++r) {
          acc[r] = _mm512_dpbusd_epi32(acc[r], w, _mm512_loadu_si512(t + (k * runs + n0 + r) * 64));
        }
      }
      const __m512 step = _mm512_set1_ps(ws[h]);
      for (int64_t r = 0; r < kValueRuns && 16 * (n0 + r) < s.dc; ++r) {
        const int64_t left = s.dc - 16 * (n0 + r);
        const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
        float* dst = o + h * ld + 16 * (n0 + r);
        _mm512_mask_storeu_ps(dst, m, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r]), step, _mm512_maskz_loadu_ps(m, dst)));
      }
    }
  }
}
int64_t transposed_bytes(const LatentQ8Shape& s) { return kQ8StepBlocks * 4 * value_runs(s) * 64; }

void step_scores(const LatentQ8Shape& s, const QueryQ8& q, const LatentBlockQ8* blocks, int64_t count, float scale,
                 float* scores, int64_t ld) {
  int64_t k = 0;
  for (; k + 4 <= count; k += 4) scores_vnni<4, 2>(s, q, blocks + k, scale, scores + k * kRows, ld);
  for (; k + 2 <= count; k += 2) scores_vnni<2, 4>(s, q, blocks + k, scale, scores + k * kRows, ld);
  if (k < count) scores_vnni<1, 8>(s, q, blocks + k, scale, scores + k * kRows, ld);
}

}  // namespace

LatentQ8Kernels latent_q8_kernels_avx512vnni() { return {step_scores, values_vnni, transposed_bytes}; }

}  // namespace r1
