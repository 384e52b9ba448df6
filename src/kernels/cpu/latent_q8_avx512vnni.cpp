// The Q8 attention kernels on AVX-512 VNNI (latent_q8.h): vpdpbusd, rows in the lanes for the scores
// (vpdpbusd multiplies unsigned by signed bytes: the cache bytes go in as c + 128, their top bit flipped,
// and 128·Σq comes off afterwards), dimensions in the lanes for the values (the blocks transposed slice by slice).
#include "kernels/cpu/avx512_intrinsics.h"  // first: it sets warning state before <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/latent_q8.h"
#include "kernels/cpu/latent_q8_recipe.h"

namespace r1 {

namespace {

constexpr int64_t kRows = kQ8BlockRows;

inline Ints16 to_ints(__m512i x) { return Ints16(x); }

// acc + the products of unsigned a and signed b's bytes, four per lane. (As a register-only asm
// statement: GCC 12 copied the intrinsic's accumulators between registers and folded the same load
// into several of them.)
inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

// kNB blocks, heads [h0, h0 + kTile) at a time (the last repeated past the end): kNB × kTile accumulators;
// each load of a block's four dimensions serves kTile heads and each broadcast query word kNB blocks. The
// rope part is summed first and its sums set aside (16 of the 32 registers would otherwise hold them
// through the latent part, halving the tile).
//
// Meanwhile the blocks read next (`next`, up to one per tile of heads) come into L1, a line per group:
// the first tile of heads reads its blocks from memory, and with nothing else in flight it waited on them
// (the scores took 7-8.5 µs per 128 rows of a 16k cache instead of the 5.7 µs from L2; with this 5.8-6.1).
template <int kNB, int kTile>
void scores_vnni(const LatentQ8Shape& s, const QueryQ8& q, const LatentBlockQ8* b, float scale, float* scores, int64_t ld,
                 const LatentBlockQ8* next, int64_t next_count) {
  const int64_t lg = s.latent_groups(), G = s.groups();
  const __m512i flip = _mm512_set1_epi8(int8_t(0x80));
  for (int64_t h0 = 0; h0 < s.heads; h0 += kTile) {
    const int64_t tile = h0 / kTile;
    const int8_t* ahead = tile < next_count ? next[tile].q : nullptr;
    if (ahead) {
      __builtin_prefetch(next[tile].latent_scale, 0, 3);
      __builtin_prefetch(next[tile].rope_scale, 0, 3);
    }
    const int8_t* qh[kTile];
    for (int k = 0; k < kTile; ++k) qh[k] = q.q + std::min<int64_t>(h0 + k, s.heads - 1) * 4 * G;
    __m512i acc[kNB][kTile];
    // Groups [g0, g1) into acc.
    const auto sums = [&](int64_t g0, int64_t g1) __attribute__((always_inline)) {
      for (auto& block : acc) {
        for (__m512i& x : block) x = _mm512_setzero_si512();
      }
      for (int64_t g = g0; g < g1; ++g) {
        if (ahead) __builtin_prefetch(ahead + g * 64, 0, 3);
        __m512i c[kNB];
        for (int n = 0; n < kNB; ++n) c[n] = _mm512_xor_si512(_mm512_loadu_si512(b[n].q + g * 64), flip);  // c + 128
        for (int k = 0; k < kTile; ++k) {
          int32_t w;
          std::memcpy(&w, qh[k] + 4 * g, 4);
          const __m512i qw = _mm512_set1_epi32(w);
          for (int n = 0; n < kNB; ++n) acc[n][k] = dpbusd(acc[n][k], c[n], qw);
        }
      }
    };
    Ints16 rope[kNB][kTile];
    sums(lg, G);
    for (int n = 0; n < kNB; ++n) {
      for (int k = 0; k < kTile; ++k) rope[n][k] = to_ints(acc[n][k]);
    }
    sums(0, lg);
    for (int n = 0; n < kNB; ++n) {
      for (int k = 0; k < kTile && h0 + k < s.heads; ++k) {
        const int64_t h = h0 + k;
        const Ints16 latent = to_ints(acc[n][k]) - 128 * q.latent_sum[h];
        finish_scores(q, b[n], h, scale, latent, rope[n][k] - 128 * q.rope_sum[h], scores + h * ld + n * kRows);
      }
    }
  }
}

// The value pass by slices of kValueRuns runs of 16 dimensions (the last slice zero past the latent dims),
// tiles of kValueHeads heads: kValueHeads × kValueRuns accumulators; each load of transposed rows serves
// kValueHeads heads and each broadcast weight word kValueRuns runs. Each slice of the step's blocks is
// transposed just before its tiles, into 12 KB that stay in L1 for them. (Transposing the whole step first
// wrote 128 KB, twice L1, and read it back from L2; and with tiles of 4 heads × 4 runs the value pass
// took 9.2-9.3 µs per 256-row step from L2 against 7.3-7.6 µs now: r1_bench_attention's shape, one thread.)
constexpr int64_t kValueRuns = 3, kValueHeads = 8;
inline int64_t value_slices(const LatentQ8Shape& s) { return (s.latent_groups() + 4 * kValueRuns - 1) / (4 * kValueRuns); }

// Runs [n0, n0 + kValueRuns) of a block's latent groups as [row quad][run][16 dims × 4 rows], zero past
// the last group.
void transpose_slice(const LatentQ8Shape& s, const LatentBlockQ8& b, int64_t n0, uint8_t* t) {
  const int64_t lg = s.latent_groups();
  // Within each 128-bit lane (four rows × four dims) the bytes to (four dims × four rows).
  const __m512i dims_rows = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  for (int64_t r = 0; r < kValueRuns; ++r) {
    __m512i a[4];
    for (int m = 0; m < 4; ++m) {
      const int64_t g = 4 * (n0 + r) + m;
      a[m] = g < lg ? _mm512_shuffle_epi8(_mm512_loadu_si512(b.q + g * 64), dims_rows) : _mm512_setzero_si512();
    }
    // Lane k of a[m]: dims 4(4(n0 + r) + m) .. +3 of rows 4k .. 4k+3. Row quad k gathers lane k of a[0..3].
    const __m512i t0 = _mm512_shuffle_i32x4(a[0], a[1], 0x44), t1 = _mm512_shuffle_i32x4(a[2], a[3], 0x44);
    const __m512i t2 = _mm512_shuffle_i32x4(a[0], a[1], 0xEE), t3 = _mm512_shuffle_i32x4(a[2], a[3], 0xEE);
    const __m512i quad[4] = {_mm512_shuffle_i32x4(t0, t1, 0x88), _mm512_shuffle_i32x4(t0, t1, 0xDD),
                             _mm512_shuffle_i32x4(t2, t3, 0x88), _mm512_shuffle_i32x4(t2, t3, 0xDD)};
    for (int k = 0; k < 4; ++k) _mm512_storeu_si512(t + (k * kValueRuns + r) * 64, quad[k]);
  }
}

void values_vnni(const LatentQ8Shape& s, const LatentBlockQ8* blocks, int64_t count, const uint8_t* pw, const float* ws,
                 float* o, int64_t ld, uint8_t* t) {
  const int64_t quads = 4 * count;  // row quads: four per block
  for (int64_t n0 = 0; n0 < value_slices(s) * kValueRuns; n0 += kValueRuns) {
    for (int64_t k = 0; k < count; ++k) transpose_slice(s, blocks[k], n0, t + k * 4 * kValueRuns * 64);
    for (int64_t h0 = 0; h0 < s.heads; h0 += kValueHeads) {
      const uint8_t* ph[kValueHeads];
      tile_weights(pw, h0, s.heads, ph);
      __m512i acc[kValueHeads][kValueRuns] = {};
      for (int64_t k = 0; k < quads; ++k) {
        __m512i rows[kValueRuns];
        for (int64_t r = 0; r < kValueRuns; ++r) {
          rows[r] = pinned(_mm512_loadu_si512(t + (k * kValueRuns + r) * 64));  // loaded once for the kValueHeads heads
        }
        for (int64_t e = 0; e < kValueHeads; ++e) {
          int32_t x;
          std::memcpy(&x, ph[e] + 4 * k, 4);
          const __m512i w = _mm512_set1_epi32(x);
          for (int64_t r = 0; r < kValueRuns; ++r) acc[e][r] = dpbusd(acc[e][r], w, rows[r]);
        }
      }
      for (int64_t e = 0; e < kValueHeads && h0 + e < s.heads; ++e) {
        const __m512 step = _mm512_set1_ps(ws[h0 + e]);
        for (int64_t r = 0; r < kValueRuns && 16 * (n0 + r) < s.dc; ++r) {
          const int64_t left = s.dc - 16 * (n0 + r);
          const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
          float* dst = o + (h0 + e) * ld + 16 * (n0 + r);
          _mm512_mask_storeu_ps(dst, m, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[e][r]), step, _mm512_maskz_loadu_ps(m, dst)));
        }
      }
    }
  }
}
int64_t transposed_bytes(const LatentQ8Shape&) { return kQ8StepBlocks * 4 * kValueRuns * 64; }

void step_scores(const LatentQ8Shape& s, const QueryQ8& q, const LatentBlockQ8* blocks, int64_t count,
                 const LatentBlockQ8* next, int64_t next_count, float scale, float* scores, int64_t ld) {
  // Each group of blocks brings in the blocks after it: the next group here, or the caller's next ones.
  const auto after = [&](int64_t end, int64_t& n) {
    n = end < count ? count - end : next_count;
    return end < count ? blocks + end : next;
  };
  int64_t k = 0, n = 0;
  for (; k + 4 <= count; k += 4) {
    const LatentBlockQ8* a = after(k + 4, n);
    scores_vnni<4, 4>(s, q, blocks + k, scale, scores + k * kRows, ld, a, n);
  }
  for (; k + 2 <= count; k += 2) {
    const LatentBlockQ8* a = after(k + 2, n);
    scores_vnni<2, 8>(s, q, blocks + k, scale, scores + k * kRows, ld, a, n);
  }
  if (k < count) {
    const LatentBlockQ8* a = after(k + 1, n);
    scores_vnni<1, 8>(s, q, blocks + k, scale, scores + k * kRows, ld, a, n);
  }
}

}  // namespace

LatentQ8Kernels latent_q8_kernels_avx512vnni() { return {step_scores, values_vnni, transposed_bytes}; }

}  // namespace r1
