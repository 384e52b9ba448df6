// The tiled int8 matrix product on AVX512-VNNI (see quant_gemm.h for the scheme and why its results
// equal quant_dot's bit for bit).

#include "kernels/cpu/avx512_intrinsics.h"  // first: it sets warning state before <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/quant_dot_ref.h"
#include "kernels/cpu/quant_gemm.h"

namespace r1::quant {
namespace {

constexpr int kLanes = 16;  // tokens per group: the int32 / float lanes of one 512-bit register
constexpr int kPanel = 4;   // weight rows per micro-kernel call
constexpr int kMaxGroups = 2;  // token groups per micro-kernel call

using int32_alias = int32_t __attribute__((may_alias, aligned(1)));  // four weight bytes read as one word

// One weight block in the common integer form, beside its values (signed int8, offset removed).
// The block's exact integer sums against activation block a are
//   s.q = Σ_j sc_j · Σ_{e ∈ sub-block j} v_e·qa_e          s.m = Σ_j mn_j · (Σ qa over min-block j)
// and they enter the result as the recipe does: fma(d·da, s.q), then (if the type has minimums)
// fma(f2·da, s.m), with f2 = −dmin for the K-quants and m for Q4_1 / Q5_1.
template <int kSubs, int kMins>
struct BlockMeta {
  float d = 0, f2 = 0;
  int32_t corr = 0;  // 128 · Σ_j sc_j · Σ v over sub-block j: removes the activations' +128 shift
  int32_t sc[kSubs];
  int32_t mn[kMins > 0 ? kMins : 1];
};

// ---- per weight type: block geometry and decoding -----------------------------------------------------
// kElems values per block, kSub values per integer scale, kMins minimum terms per block, each over
// kElems / kMins activation values (the act_min sums).

struct GemmQ8_0 {
  using Block = BlockQ8_0;
  using Act = ActBlock32;
  static constexpr int kElems = 32, kSub = 32, kMins = 0;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    std::memcpy(v, w.qs, 32);
    m.d = half_to_float(w.d);
    m.sc[0] = 1;
  }
};

// Q4_0 / Q5_0 (offset 2^(bits−1), no minimum) and Q4_1 / Q5_1 (minimum m times Σ qa).
template <int kBits, bool kHasMin, class BlockT>
struct GemmLegacy {
  using Block = BlockT;
  using Act = ActBlock32;
  static constexpr int kElems = 32, kSub = 32, kMins = kHasMin ? 1 : 0;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    uint8_t u[32];
    RecipeLegacy<kBits, kHasMin, BlockT>::unpack(w, u);
    const int offset = kHasMin ? 0 : 1 << (kBits - 1);
    for (int j = 0; j < 32; ++j) v[j] = int8_t(u[j] - offset);
    m.d = half_to_float(w.d);
    m.sc[0] = 1;
    if constexpr (kHasMin) {
      m.f2 = half_to_float(w.m);
      m.mn[0] = 1;
    }
  }
};

struct GemmIQ4_NL {
  using Block = BlockIQ4_NL;
  using Act = ActBlock32;
  static constexpr int kElems = 32, kSub = 32, kMins = 0;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    uint8_t u[32];
    unpack_nibbles32(w.qs, u);
    for (int j = 0; j < 32; ++j) v[j] = kIQ4NL[u[j]];
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
};

struct GemmIQ4_XS {
  using Block = BlockIQ4_XS;
  using Act = BlockQ8_K;
  static constexpr int kElems = 256, kSub = 32, kMins = 0;
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    for (int j = 0; j < 8; ++j) {
      uint8_t u[32];
      unpack_nibbles32(w.qs + 16 * j, u);
      for (int l = 0; l < 32; ++l) v[32 * j + l] = kIQ4NL[u[l]];
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
  template <class M>
  static void decode(const Block& w, int8_t* v, M& m) {
    int8_t sc[16];
    iq_unpack(w, v, sc);
    for (int j = 0; j < 16; ++j) m.sc[j] = sc[j];
    m.d = half_to_float(iq_d_bits(w)) * Block::kFactor;
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

// y[l·ld + r] = v[r][l] (+ bias[r]) for 4 rows × 16 tokens: a 4 × 4 transpose per 128-bit lane turns the
// token-lane vectors into one 4-row store per token.
inline void store_panel(const __m512 v[kPanel], float* y, int64_t ld, const float* bias) {
  static_assert(kPanel == 4);
  const __m512 a = _mm512_unpacklo_ps(v[0], v[1]), b = _mm512_unpackhi_ps(v[0], v[1]);
  const __m512 c = _mm512_unpacklo_ps(v[2], v[3]), d = _mm512_unpackhi_ps(v[2], v[3]);
  // Lane k of t[j] holds rows 0-3 of token 4k + j.
  const __m512 t[4] = {_mm512_shuffle_ps(a, c, 0x44), _mm512_shuffle_ps(a, c, 0xee), _mm512_shuffle_ps(b, d, 0x44),
                       _mm512_shuffle_ps(b, d, 0xee)};
  const __m128 add = bias ? _mm_loadu_ps(bias) : _mm_setzero_ps();
  const auto put = [&](int token, __m128 x) { _mm_storeu_ps(y + token * ld, bias ? _mm_add_ps(x, add) : x); };
  for (int j = 0; j < 4; ++j) {
    put(j, _mm512_castps512_ps128(t[j]));
    put(4 + j, _mm512_extractf32x4_ps(t[j], 1));
    put(8 + j, _mm512_extractf32x4_ps(t[j], 2));
    put(12 + j, _mm512_extractf32x4_ps(t[j], 3));
  }
}

template <class G>
struct Gemm {
  static constexpr int kE = G::kElems, kS = G::kSub, kSubs = kE / kS, kMins = G::kMins;
  using Meta = BlockMeta<kSubs, kMins>;
  using Act = typename G::Act;

  // One activation block of 16 tokens: values (qa + 128) as [value / 4][token][value % 4], the tokens'
  // scales, and their min-block sums. Tokens past T are zero (they are computed, never stored).
  struct alignas(64) PackedAct {
    uint8_t q[kE * kLanes];
    float d[kLanes];
    int32_t m[kMins > 0 ? kMins : 1][kLanes];
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
          for (int j = 0; j < kMins; ++j) p.m[j][l] = 0;
          continue;
        }
        const Act& a = reinterpret_cast<const Act*>(g.acts + size_t(t) * g.act_stride)[i];
        for (int k = 0; k < kE / 4; ++k) {
          uint32_t x;
          std::memcpy(&x, a.qs + 4 * k, 4);
          q32[k * kLanes + l] = x ^ 0x80808080u;  // int8 + 128 as uint8, four at a time
        }
        p.d[l] = a.d;
        for (int j = 0; j < kMins; ++j) p.m[j][l] = act_min_sum<kMins>(a, j);
      }
    }
  }

  static void decode_row(const typename G::Block* w, int64_t blocks, int8_t* v, Meta* meta) {
    for (int64_t i = 0; i < blocks; ++i) {
      Meta& m = meta[i];
      int8_t* vb = v + i * kE;
      G::decode(w[i], vb, m);
      int32_t corr = 0;
      for (int j = 0; j < kSubs; ++j) {
        int32_t s = 0;
        for (int e = 0; e < kS; ++e) s += vb[j * kS + e];
        corr += m.sc[j] * s;
      }
      m.corr = 128 * corr;
    }
  }

  // out[g][r] (16 token lanes) = Σ over blocks of row r · the 16 tokens of group g, finished as the
  // recipe does. kGroups × kPanel independent vpdpbusd chains; each activation load serves kPanel rows
  // and each weight broadcast kGroups token groups (two, or one for the last of an odd number).
  template <int kGroups>
  static void tile(const int8_t* const v[kPanel], const Meta* const meta[kPanel], const PackedAct* const a[],
                   int64_t blocks, __m512 out[][kPanel]) {
    __m512 p[4][kGroups][kPanel];  // [partial b % 4][group][row]
    for (auto& lane : p) {
      for (auto& grp : lane) {
        for (auto& x : grp) x = _mm512_setzero_ps();
      }
    }
    for (int64_t i = 0; i < blocks; ++i) {
      __m512i sq[kGroups][kPanel];
      for (int j = 0; j < kSubs; ++j) {
        __m512i c[kGroups][kPanel];
        for (auto& grp : c) {
          for (auto& x : grp) x = _mm512_setzero_si512();
        }
#pragma GCC unroll 8
        for (int k = 0; k < kS; k += 4) {
          const int e = j * kS + k;
          __m512i x[kGroups];
          for (int gi = 0; gi < kGroups; ++gi) x[gi] = _mm512_load_si512(a[gi][i].q + e * kLanes);
          for (int r = 0; r < kPanel; ++r) {
            const __m512i wv = _mm512_set1_epi32(*reinterpret_cast<const int32_alias*>(v[r] + i * kE + e));
            for (int gi = 0; gi < kGroups; ++gi) c[gi][r] = _mm512_dpbusd_epi32(c[gi][r], x[gi], wv);
          }
        }
        for (int r = 0; r < kPanel; ++r) {
          for (int gi = 0; gi < kGroups; ++gi) {
            if constexpr (kSubs == 1) {
              sq[gi][r] = c[gi][r];
            } else {
              const __m512i scaled = _mm512_mullo_epi32(c[gi][r], _mm512_set1_epi32(meta[r][i].sc[j]));
              sq[gi][r] = j == 0 ? scaled : _mm512_add_epi32(sq[gi][r], scaled);
            }
          }
        }
      }
      const int lane = int(i & 3);
      for (int gi = 0; gi < kGroups; ++gi) {
        const PackedAct& A = a[gi][i];
        const __m512 da = _mm512_load_ps(A.d);
        for (int r = 0; r < kPanel; ++r) {
          const Meta& m = meta[r][i];
          const __m512i q = _mm512_sub_epi32(sq[gi][r], _mm512_set1_epi32(m.corr));
          __m512& acc = p[lane][gi][r];
          acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(m.d), da), _mm512_cvtepi32_ps(q), acc);
          if constexpr (kMins > 0) {
            __m512i sm = _mm512_mullo_epi32(_mm512_load_si512(A.m[0]), _mm512_set1_epi32(m.mn[0]));
            for (int j = 1; j < kMins; ++j) {
              sm = _mm512_add_epi32(sm, _mm512_mullo_epi32(_mm512_load_si512(A.m[j]), _mm512_set1_epi32(m.mn[j])));
            }
            acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(m.f2), da), _mm512_cvtepi32_ps(sm), acc);
          }
        }
      }
    }
    for (int gi = 0; gi < kGroups; ++gi) {
      for (int r = 0; r < kPanel; ++r) {
        out[gi][r] = _mm512_add_ps(_mm512_add_ps(p[0][gi][r], p[1][gi][r]), _mm512_add_ps(p[2][gi][r], p[3][gi][r]));
      }
    }
  }

  static void run(const GemmArgs& g, ThreadPool& pool) {
    const int64_t blocks = g.cols / kE;
    const int64_t groups = (g.tokens + kLanes - 1) / kLanes;

    // Repacked activations, per calling thread, 64-byte aligned; reused across calls.
    thread_local std::vector<uint8_t> packed_storage;
    const size_t packed_bytes = size_t(groups * blocks) * sizeof(PackedAct) + 64;
    if (packed_storage.size() < packed_bytes) packed_storage.resize(packed_bytes);
    auto* packed = reinterpret_cast<PackedAct*>((reinterpret_cast<uintptr_t>(packed_storage.data()) + 63) & ~uintptr_t(63));
    pool.parallel_for(size_t(groups), [&](size_t begin, size_t end, int) {
      for (size_t grp = begin; grp < end; ++grp) pack_group(g, int64_t(grp) * kLanes, blocks, packed + grp * size_t(blocks));
    });

    // Row blocks small enough that their decoded values stay in L2 beside one token group's activations,
    // and at least four per thread so that uneven blocks even out.
    const int64_t by_cache = std::max<int64_t>(kPanel, (int64_t(128) << 10) / std::max<int64_t>(g.cols, 1));
    const int64_t by_threads = (g.rows + 4 * pool.size() - 1) / (4 * pool.size());
    int64_t block_rows = std::min<int64_t>({64, by_cache, std::max<int64_t>(by_threads, kPanel)});
    block_rows = std::max<int64_t>(kPanel, block_rows / kPanel * kPanel);
    const int64_t row_blocks = (g.rows + block_rows - 1) / block_rows;

    pool.parallel_for(size_t(row_blocks), [&](size_t begin, size_t end, int) {
      thread_local std::vector<int8_t> values;
      thread_local std::vector<Meta> metas;
      if (values.size() < size_t(block_rows * g.cols)) values.resize(size_t(block_rows * g.cols));
      if (metas.size() < size_t(block_rows * blocks)) metas.resize(size_t(block_rows * blocks));
      for (size_t rb = begin; rb < end; ++rb) {
        const int64_t r0 = int64_t(rb) * block_rows, nr = std::min(block_rows, g.rows - r0);
        for (int64_t r = 0; r < nr; ++r) {
          decode_row(reinterpret_cast<const typename G::Block*>(g.w + size_t(r0 + r) * g.row_bytes), blocks,
                     values.data() + r * g.cols, metas.data() + r * blocks);
        }
        for (int64_t grp = 0; grp < groups; grp += kMaxGroups) {
          const int ng = int(std::min<int64_t>(kMaxGroups, groups - grp));
          const PackedAct* a[kMaxGroups];
          for (int gi = 0; gi < ng; ++gi) a[gi] = packed + size_t((grp + gi) * blocks);
          for (int64_t pr = 0; pr < nr; pr += kPanel) {
            const int8_t* v[kPanel];
            const Meta* m[kPanel];
            for (int r = 0; r < kPanel; ++r) {
              const int64_t row = std::min(pr + r, nr - 1);  // a short last panel repeats its last row
              v[r] = values.data() + row * g.cols;
              m[r] = metas.data() + row * blocks;
            }
            __m512 out[kMaxGroups][kPanel];
            if (ng == 2) {
              tile<2>(v, m, a, blocks, out);
            } else {
              tile<1>(v, m, a, blocks, out);
            }
            for (int gi = 0; gi < ng; ++gi) {
              const int64_t t0 = (grp + gi) * kLanes, nt = std::min<int64_t>(kLanes, g.tokens - t0);
              const int64_t row = r0 + pr;
              if (pr + kPanel <= nr && nt == kLanes) {
                store_panel(out[gi], g.y + size_t(t0) * size_t(g.rows) + size_t(row), g.rows, g.bias ? g.bias + row : nullptr);
                continue;
              }
              alignas(64) float res[kPanel][kLanes];
              for (int r = 0; r < kPanel; ++r) _mm512_store_ps(res[r], out[gi][r]);
              for (int r = 0; r < kPanel && pr + r < nr; ++r) {
                for (int64_t l = 0; l < nt; ++l) {
                  const float x = res[r][l];
                  g.y[size_t(t0 + l) * size_t(g.rows) + size_t(row + r)] = g.bias ? x + g.bias[row + r] : x;
                }
              }
            }
          }
        }
      }
    });
  }
};

template <class Fn>
bool with_gemm(DType t, Fn&& fn) {
  switch (t) {
    case DType::Q8_0: fn(Gemm<GemmQ8_0>{}); return true;
    case DType::Q4_0: fn(Gemm<GemmLegacy<4, false, BlockQ4_0>>{}); return true;
    case DType::Q4_1: fn(Gemm<GemmLegacy<4, true, BlockQ4_1>>{}); return true;
    case DType::Q5_0: fn(Gemm<GemmLegacy<5, false, BlockQ5_0>>{}); return true;
    case DType::Q5_1: fn(Gemm<GemmLegacy<5, true, BlockQ5_1>>{}); return true;
    case DType::IQ4_NL: fn(Gemm<GemmIQ4_NL>{}); return true;
    case DType::Q2_K: fn(Gemm<GemmQ2_K>{}); return true;
    case DType::Q3_K: fn(Gemm<GemmQ3_K>{}); return true;
    case DType::Q4_K: fn(Gemm<GemmK45<4, BlockQ4_K>>{}); return true;
    case DType::Q5_K: fn(Gemm<GemmK45<5, BlockQ5_K>>{}); return true;
    case DType::Q6_K: fn(Gemm<GemmQ6_K>{}); return true;
    case DType::IQ4_XS: fn(Gemm<GemmIQ4_XS>{}); return true;
    case DType::IQ2_XXS: fn(Gemm<GemmIQ<BlockIQ2_XXS>>{}); return true;
    case DType::IQ2_XS: fn(Gemm<GemmIQ<BlockIQ2_XS>>{}); return true;
    case DType::IQ2_S: fn(Gemm<GemmIQ<BlockIQ2_S>>{}); return true;
    case DType::IQ3_XXS: fn(Gemm<GemmIQ<BlockIQ3_XXS>>{}); return true;
    case DType::IQ3_S: fn(Gemm<GemmIQ<BlockIQ3_S>>{}); return true;
    case DType::IQ1_S: fn(Gemm<GemmIQ<BlockIQ1_S>>{}); return true;
    case DType::IQ1_M: fn(Gemm<GemmIQ<BlockIQ1_M>>{}); return true;
    default: return false;
  }
}

}  // namespace

bool gemm_avx512vnni_has(DType type) {
  return with_gemm(type, [](auto) {});
}

void gemm_avx512vnni(const GemmArgs& args, ThreadPool& pool) {
  with_gemm(args.type, [&](auto kernel) { decltype(kernel)::run(args, pool); });
}

}  // namespace r1::quant
