// The Q8 attention kernels on AVX-512 VNNI (latent_q8.h): vpdpbusd, rows in the lanes for the scores
// (vpdpbusd multiplies unsigned by signed bytes: the cache bytes go in as c + 128, their top bit flipped,
// and 128·Σq comes off afterwards), dimensions in the lanes for the values (the blocks transposed in registers).
#include "kernels/cpu/avx512_intrinsics.h"  // first: it sets warning state before <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

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

// The value pass by runs of 16 dimensions (four groups), tiles of up to 16 heads: per block, the run's four
// groups ([16 rows][4 dims] each) are transposed in registers into the block's four row quads ([16 dims][4
// rows]) by eight vpermt2b, and each quad serves the tile's vpdpbusd, one broadcast weight word per head.
//
// Why this shape (a 16k Q8 layer of r1_bench_attention's shape, one and two threads, the variants alternated
// in one process):
// - Per 64 vpdpbusd this transposition takes 8 vpermt2b and no stores; the one it replaces (vpshufb +
//   vshufi32x4 into a scratch, read back per tile) took 12 shuffles and 4 64-byte stores, and was ~1.5 µs
//   of a 7.5 µs step. Stores are what vpdpbusd tolerates worst: beside 16 of them, 4 stores cost 33 %,
//   8 vpermt2b 0-19 % (the host's phases differ), 8 vshufi32x4 12 % (r1_bench_vnni_mix).
// - The next block's groups are loaded before this block's vpdpbusd (software pipelining): loaded after,
//   their L2 latency stood between the blocks and the pass was 9 % slower than the old one.
// - The step after this one (`next`) is prefetched into L2 meanwhile, the run's four lines of each next
//   block: the score pass that follows reads them from L2 instead of memory. With the old value pass
//   prefetching was slower; with this one the layer is 3-6 % faster than without. Prefetching the rope
//   groups and scales too was slower again.
// Together the layer takes 0.94-0.96 of its time with the old value pass.
inline __m512i permute2(__m512i a, __m512i idx, __m512i b) {  // a:b's bytes at idx (vpermt2b)
  asm("vpermt2b %2, %1, %0" : "+v"(a) : "v"(idx), "v"(b));
  return a;
}

// Index vectors of the transposition: byte p of a result takes byte idx[p] of a:b (a: 0-63, b: 64-127).
struct TransposeIndex {
  __m512i pair_lo, pair_hi, merge_lo, merge_hi;
  TransposeIndex() {
    alignas(64) uint8_t lo[64], hi[64], mlo[64], mhi[64];
    for (int p = 0; p < 64; ++p) {
      // A pair of groups m = 0, 1 (a, b) -> bytes [32q, 32q + 32): quad q's (pair_lo) or quad q + 2's
      // (pair_hi) dims of the two groups, dim 4m + d of row j at (4m + d)·4 + j, from byte (4·quad + j)·4 + d.
      const int q = p / 32, m = (p % 32) / 16, d = (p % 16) / 4, j = p % 4;
      lo[p] = uint8_t(64 * m + (4 * q + j) * 4 + d);
      hi[p] = uint8_t(64 * m + (4 * (q + 2) + j) * 4 + d);
      // A quad from two pair results: its 32 bytes of a, then its 32 of b (first or second half of each).
      mlo[p] = uint8_t(p < 32 ? p : 64 + p - 32);
      mhi[p] = uint8_t(p < 32 ? 32 + p : 64 + p);
    }
    pair_lo = _mm512_load_si512(lo);
    pair_hi = _mm512_load_si512(hi);
    merge_lo = _mm512_load_si512(mlo);
    merge_hi = _mm512_load_si512(mhi);
  }
};

// Heads [h, h + N) and run R (dims [16R, 16R + 16); groups past the latent dims are zero): o += ws · Σ pw · rows.
// w = pw + h · kQ8StepRows, ws and o the tile's own.
template <int N>
void values_run(const LatentQ8Shape& s, const LatentBlockQ8* blocks, int64_t count, const uint8_t* w, const float* ws, float* o,
                int64_t ld, int64_t R, const TransposeIndex& index, const LatentBlockQ8* next, int64_t next_count) {
  const int64_t lg = s.latent_groups();
  const auto group = [&](int64_t k, int m) {
    return 4 * R + m < lg ? _mm512_loadu_si512(blocks[k].q + (4 * R + m) * 64) : _mm512_setzero_si512();
  };
  __m512i acc[N];
  for (__m512i& x : acc) x = _mm512_setzero_si512();
  __m512i a0 = group(0, 0), a1 = group(0, 1), a2 = group(0, 2), a3 = group(0, 3);
  for (int64_t k = 0; k < count; ++k) {
    const __m512i x0 = permute2(a0, index.pair_lo, a1), x1 = permute2(a0, index.pair_hi, a1);
    const __m512i y0 = permute2(a2, index.pair_lo, a3), y1 = permute2(a2, index.pair_hi, a3);
    const int64_t after = std::min(k + 1, count - 1);
    a0 = group(after, 0), a1 = group(after, 1), a2 = group(after, 2), a3 = group(after, 3);
    if (k < next_count) {
      const char* ahead = reinterpret_cast<const char*>(next[k].q + 4 * R * 64);
      for (int m = 0; m < 4 && 4 * R + m < lg; ++m) _mm_prefetch(ahead + m * 64, _MM_HINT_T1);
    }
    const uint8_t* wk = w + 16 * k;
    const auto quad = [&](__m512i rows, int r) __attribute__((always_inline)) {
      for (int e = 0; e < N; ++e) {
        int32_t x;
        std::memcpy(&x, wk + e * kQ8StepRows + 4 * r, 4);  // rows 16k + 4r .. + 3 of head h + e
        acc[e] = dpbusd(acc[e], _mm512_set1_epi32(x), rows);
      }
    };
    quad(permute2(x0, index.merge_lo, y0), 0);
    quad(permute2(x0, index.merge_hi, y0), 1);
    quad(permute2(x1, index.merge_lo, y1), 2);
    quad(permute2(x1, index.merge_hi, y1), 3);
  }
  const int64_t left = s.dc - 16 * R;
  const __mmask16 mask = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
  for (int e = 0; e < N; ++e) {
    float* dst = o + e * ld + 16 * R;
    _mm512_mask_storeu_ps(dst, mask, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[e]), _mm512_set1_ps(ws[e]), _mm512_maskz_loadu_ps(mask, dst)));
  }
}

void values_vnni(const LatentQ8Shape& s, const LatentBlockQ8* blocks, int64_t count, const uint8_t* pw, const float* ws,
                 float* o, int64_t ld, uint8_t*, const LatentBlockQ8* next, int64_t next_count) {
  static const TransposeIndex index;
  for (int64_t R = 0; R < (s.latent_groups() + 3) / 4; ++R) {
    int64_t h = 0;
    // The step after this one is prefetched by the first tile of heads only.
    const auto run = [&](auto tile) {
      constexpr int N = decltype(tile)::value;
      values_run<N>(s, blocks, count, pw + h * kQ8StepRows, ws + h, o + h * ld, ld, R, index, next, h == 0 ? next_count : 0);
      h += N;
    };
    while (h + 16 <= s.heads) run(std::integral_constant<int, 16>{});
    while (h + 4 <= s.heads) run(std::integral_constant<int, 4>{});
    while (h < s.heads) run(std::integral_constant<int, 1>{});
  }
}

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

LatentQ8Kernels latent_q8_kernels_avx512vnni() { return {step_scores, values_vnni, no_scratch}; }

}  // namespace r1
