#include "kernels/cpu/float_matmul.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <vector>

#include "kernels/cpu/lanes.h"

namespace r1 {

namespace {

constexpr int64_t kChunk = 64;  // values per chunk: dot()'s 64 partial sums, sum l at l mod 64
// The accumulators are the target's own vectors, kVec of dot()'s partial sums each (a chunk holds kSub of
// them): GCC keeps arrays of vectors wider than the target's registers (a Lanes16 on AVX2) in memory.
#if defined(__AVX512F__)
typedef float Vec __attribute__((vector_size(64)));
// 4 rows × 6 tokens: 24 accumulators of the 32 registers, 10 loads per 24 products. (All four partial-sum
// vectors of 2 rows × 3 tokens in registers instead: 20 loads per 24 products, 70 GFLOP/s on one thread.)
constexpr int kTileRows = 4, kTileTokens = 6;
#elif defined(__AVX__)
typedef float Vec __attribute__((vector_size(32)));
constexpr int kTileRows = 2, kTileTokens = 5;  // 10 accumulators of 16 registers
#elif defined(__aarch64__)
typedef float Vec __attribute__((vector_size(16)));
constexpr int kTileRows = 4, kTileTokens = 6;  // 24 of 32
#else
typedef float Vec __attribute__((vector_size(16)));
constexpr int kTileRows = 2, kTileTokens = 5;  // SSE2: 10 of 16
#endif
constexpr int64_t kVec = sizeof(Vec) / sizeof(float), kSub = kChunk / kVec;
// Rows per parallel item, widened together: every block reads all the packed tokens (T = 480: 16-row blocks
// ran R1-Distill's down projection at 100 GFLOP/s on two threads, 64-row ones at 144; 128 at 149).
constexpr int64_t kBlockRows = 64;
constexpr int64_t kSliceChunks = 32;  // 2,048 values: a token tile's sub-vector q over them is 12 KB (L1)

// The partial sums of a block's rows and a token tile: [row][token][64], in dot()'s order.
using BlockSums = float[kBlockRows][kTileTokens][kChunk];

inline Vec load_vec(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Both operands are packed in the order a pass reads them, so that each pass streams two contiguous runs:
//  - rows, per tile of R rows (R = kTileRows, or 1 for the block's last rows): [sub-vector q][chunk][row][kVec];
//  - tokens, per tile of kTileTokens (zeros for a last tile's missing tokens): [q][chunk][token][kVec], the
//    last chunk's values past the row zero-padded, as dot() pads them.
// Read in place (rows 6 KB apart, each pass taking every fourth 64-byte line) the passes were 25 % slower.
inline int64_t packed_index(int64_t q, int64_t c, int64_t chunks, int64_t n, int64_t k) { return ((q * chunks + c) * n + k) * kVec; }

// Partial sums [q · kVec, (q + 1) · kVec) of R rows × TT tokens over `chunks` chunks (w, x: the packed
// runs at the first); sums[r][t] += x_t · w_r lane by lane, chunk by chunk (`first`: from zero).
template <int R, int TT>
void accumulate(const float* w, const float* x, int64_t chunks, int64_t q, float (*sums)[kTileTokens][kChunk], bool first) {
  std::array<std::array<Vec, TT>, R> acc;
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) acc[r][t] = first ? Vec{} : load_vec(sums[r][t] + q * kVec);
  }
  for (int64_t c = 0; c < chunks; ++c, w += R * kVec, x += kTileTokens * kVec) {
    std::array<Vec, R> wv;  // the rows' vectors in registers, each token's loaded in turn
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wv[r] = pinned(load_vec(w + r * kVec));
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      const Vec xv = pinned(load_vec(x + t * kVec));
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][t] += xv * wv[r];  // dot()'s `a * b`, a the token's value
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) std::memcpy(sums[r][t] + q * kVec, &acc[r][t], sizeof(Vec));
  }
}

// What one call computes.
struct Product {
  const WeightMatrix& w;
  const float* tokens;  // packed, tile after tile
  int64_t T;
  float* y;
  const float* bias;
  int64_t chunks;  // per row, the last one zero-padded
  int64_t stride() const { return chunks * kChunk; }
};

// The block's n rows (packed at `rows`; first row r0) × the TT tokens of tile `tile`. For each slice of
// columns and each sub-vector q, the row tiles go past the tokens' q values, which stay in L1.
template <int TT>
void run_tokens(const Product& pr, const float* rows, int64_t n, int64_t r0, int64_t tile, BlockSums& sums) {
  const float* x = pr.tokens + tile * kTileTokens * pr.stride();
  const int64_t tiled = n / kTileRows * kTileRows;
  for (int64_t c0 = 0; c0 < pr.chunks; c0 += kSliceChunks) {
    const int64_t count = std::min(kSliceChunks, pr.chunks - c0);
    for (int64_t q = 0; q < kSub; ++q) {
      const float* xq = x + packed_index(q, c0, pr.chunks, kTileTokens, 0);
      int64_t i = 0;
      for (; i < tiled; i += kTileRows) {
        const float* w = rows + i * pr.stride() + packed_index(q, c0, pr.chunks, kTileRows, 0);
        accumulate<kTileRows, TT>(w, xq, count, q, sums + i, c0 == 0);
      }
      for (; i < n; ++i) accumulate<1, TT>(rows + i * pr.stride() + packed_index(q, c0, pr.chunks, 1, 0), xq, count, q, sums + i, c0 == 0);
    }
  }
  static_assert(kBlockRows % 16 == 0, "a block's outputs are whole vectors per token");
  for (int t = 0; t < TT; ++t) {
    float* y = pr.y + (tile * kTileTokens + t) * pr.w.rows + r0;
    const auto partial = [&](int64_t i, int v) { return load16(sums[i][t] + 16 * v); };  // dot()'s vector v
    int64_t i0 = 0;
    for (; i0 + 16 <= n; i0 += 16) {  // sum_dot_partials of 16 rows at once: the same additions
      Lanes16 v[16];
      for (int64_t i = 0; i < 16; ++i) v[i] = (partial(i0 + i, 0) + partial(i0 + i, 2)) + (partial(i0 + i, 1) + partial(i0 + i, 3));
      const Lanes16 out = sum_lanes16(v);
      store16(y + i0, pr.bias ? out + load16(pr.bias + r0 + i0) : out);
    }
    for (int64_t i = i0; i < n; ++i) {
      const float v = sum_dot_partials(partial(i, 0), partial(i, 1), partial(i, 2), partial(i, 3));
      y[i] = pr.bias ? v + pr.bias[r0 + i] : v;
    }
  }
}

template <int TT = kTileTokens>
void run_tokens_of(int tokens, const Product& pr, const float* rows, int64_t n, int64_t r0, int64_t tile, BlockSums& sums) {
  if constexpr (TT > 1) {
    if (tokens < TT) return run_tokens_of<TT - 1>(tokens, pr, rows, n, r0, tile, sums);
  }
  run_tokens<TT>(pr, rows, n, r0, tile, sums);
}

// Copies a row of `chunks` · 64 values (zero-padded) into its packed place: element k of a tile of n.
void pack(const float* row, int64_t chunks, int64_t n, int64_t k, float* tile) {
  for (int64_t c = 0; c < chunks; ++c) {
    for (int64_t q = 0; q < kSub; ++q) std::memcpy(tile + packed_index(q, c, chunks, n, k), row + c * kChunk + q * kVec, sizeof(Vec));
  }
}

// Each thread's buffers, grown once to the widest matrix's block and then reused -- by the prefill, so
// that the decode (one token, the same matrices) allocates nothing.
struct Scratch {
  std::vector<float> rows, row;
  alignas(64) BlockSums sums;
  void reserve(int64_t stride) {
    if (rows.size() < size_t(kBlockRows * stride)) rows.resize(size_t(kBlockRows * stride));
    if (row.size() < size_t(stride)) row.resize(size_t(stride));
  }
};
thread_local Scratch scratch;

void run_block(const Product& pr, Scratch& s, int64_t r0) {
  const int64_t n = std::min(kBlockRows, pr.w.rows - r0), stride = pr.stride();
  s.reserve(stride);
  const int64_t tiled = n / kTileRows * kTileRows;
  for (int64_t i = 0; i < n; ++i) {
    dequant_row(pr.w, r0 + i, s.row.data());
    std::fill(s.row.begin() + pr.w.cols, s.row.begin() + stride, 0.0f);
    const int64_t i0 = i < tiled ? i / kTileRows * kTileRows : i;
    pack(s.row.data(), pr.chunks, i < tiled ? kTileRows : 1, i - i0, s.rows.data() + i0 * stride);
  }
  for (int64_t tile = 0; tile * kTileTokens < pr.T; ++tile) {
    run_tokens_of(int(std::min<int64_t>(kTileTokens, pr.T - tile * kTileTokens)), pr, s.rows.data(), n, r0, tile, s.sums);
  }
}

// One token: each row dotted with the input by dot() (inline), its values widened as they are loaded --
// F32, BF16 and F16 rows as stored (BF16 R1-Distill-1.5B's decode 31-34 -> 58-64 % of the read roofline),
// FP8 rows with their column blocks' scales (DeepSeek's 128 x 128 blocks: 32 -> 57-61 %); FP8 rows whose
// blocks are no power of two of columns, or whose scales do not fold (fp8_scale_folds), are widened into
// a buffer first. Rows [r0, r1) of job j, at most kMatVecRows.
constexpr int64_t kMatVecRows = 8;
constexpr int64_t kMaxFp8Blocks = 1024;  // column blocks of an FP8 row dotted in place (their scales on the stack)

// log2 of an FP8 matrix's scale block width where it is a power of two of at least 16 columns, else -1.
int fp8_block_shift(const WeightMatrix& w) {
  const int64_t b = w.block_cols;
  return b >= 16 && (b & (b - 1)) == 0 && w.scale_cols <= kMaxFp8Blocks ? std::countr_zero(uint64_t(b)) : -1;
}
// Row r's block scales times 256 into folded (Fp8Row), false where one of them does not fold.
bool fp8_row_scales(const WeightMatrix& w, int64_t r, float* folded) {
  const float* scales = w.block_scale + ((w.scale_row0 + r) / w.block_rows) * w.scale_cols;
  for (int64_t b = 0; b < w.scale_cols; ++b) {
    if (!fp8_scale_folds(scales[b])) return false;
    folded[b] = 256.0f * scales[b];
  }
  return true;
}

void mat_vec_rows(const MatmulJob& j, int64_t r0, int64_t r1) {
  const WeightMatrix& w = *j.w;
  const int64_t cols = w.cols;
  const float* x = j.x + (j.x_rows ? j.x_rows[0] : 0) * cols;
  const int fp8_shift = w.dtype == DType::F8_E4M3 ? fp8_block_shift(w) : -1;
  float scales256[kMaxFp8Blocks];
  if (w.dtype != DType::F32 && w.dtype != DType::BF16 && w.dtype != DType::F16) {
    scratch.reserve((cols + kChunk - 1) / kChunk * kChunk);  // (grown by the prefill: float_matmul)
  }
  for (int64_t r = r0; r < r1; ++r) {
    float v;
    if (w.dtype == DType::F32) {
      v = dot_lanes(x, reinterpret_cast<const float*>(w.data) + r * cols, cols);
    } else if (w.dtype == DType::BF16) {
      v = dot_lanes(x, reinterpret_cast<const uint16_t*>(w.data) + r * cols, cols);
    } else if (w.dtype == DType::F16) {
      v = dot_lanes(x, reinterpret_cast<const Half*>(w.data) + r * cols, cols);
    } else if (fp8_shift >= 0 && fp8_row_scales(w, r, scales256)) {
      v = dot_row_lanes(x, Fp8Row{w.data + r * cols, scales256, fp8_shift}, cols);
    } else {  // widened first
      dequant_row(w, r, scratch.row.data());
      v = dot_lanes(x, scratch.row.data(), cols);
    }
    j.y[r] = j.bias ? v + j.bias[r] : v;
  }
}

}  // namespace

bool float_mat_vecs(std::span<const MatmulJob> jobs, ThreadPool& pool) {
  constexpr size_t kMaxJobs = 64;  // the tiles' numbering lives on the stack: nothing allocated per step
  if (jobs.size() > kMaxJobs) return false;
  std::array<int64_t, kMaxJobs + 1> first_tile;  // job i's tiles are [first_tile[i], first_tile[i + 1])
  first_tile[0] = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].T != 1) return false;
    first_tile[i + 1] = first_tile[i] + (jobs[i].w->rows + kMatVecRows - 1) / kMatVecRows;
  }
  pool.parallel_steal(size_t(first_tile[jobs.size()]), [&](size_t begin, size_t end, int) {
    for (int64_t tile = int64_t(begin); tile < int64_t(end); ++tile) {
      const size_t i = size_t(std::upper_bound(first_tile.begin(), first_tile.begin() + jobs.size() + 1, tile) - first_tile.begin()) - 1;
      const int64_t r0 = (tile - first_tile[i]) * kMatVecRows;
      mat_vec_rows(jobs[i], r0, std::min(jobs[i].w->rows, r0 + kMatVecRows));
    }
  });
  return true;
}

void float_matmul(const WeightMatrix& w, const float* x, const int32_t* x_rows, int64_t T, float* y, ThreadPool& pool,
                  const float* bias) {
  if (T <= 1) {
    const MatmulJob job{&w, x, T, y, bias, x_rows};
    if (T == 1) float_mat_vecs(std::span(&job, 1), pool);
    return;
  }
  const int64_t chunks = (w.cols + kChunk - 1) / kChunk, stride = chunks * kChunk;
  const int64_t tiles = (T + kTileTokens - 1) / kTileTokens;
  thread_local std::vector<float> buffer;  // the calling thread's, grown once to the largest batch
  if (buffer.size() < size_t(tiles * kTileTokens * stride)) buffer.resize(size_t(tiles * kTileTokens * stride));
  float* const tokens = buffer.data();  // (a thread_local named in the loops would be each worker's own)
  // At least one item per thread: every thread's buffers grow here, in the prefill, whichever threads the
  // blocks and the decode's row tiles then land on (a 64-row matrix is one block, on one thread).
  pool.parallel_for(std::max(size_t(tiles), size_t(pool.size())), [&](size_t begin, size_t end, int) {
    scratch.reserve(stride);
    std::vector<float>& row = scratch.row;
    for (int64_t tile = int64_t(begin); tile < std::min(int64_t(end), tiles); ++tile) {
      for (int64_t k = 0; k < kTileTokens; ++k) {
        const int64_t t = tile * kTileTokens + k;
        const int64_t given = t < T ? w.cols : 0;
        if (given) std::memcpy(row.data(), x + (x_rows ? x_rows[t] : t) * w.cols, size_t(w.cols) * sizeof(float));
        std::fill(row.begin() + given, row.end(), 0.0f);
        pack(row.data(), chunks, kTileTokens, k, tokens + tile * kTileTokens * stride);
      }
    }
  });
  const Product pr{w, tokens, T, y, bias, chunks};
  const int64_t blocks = (w.rows + kBlockRows - 1) / kBlockRows;
  pool.parallel_steal(size_t(blocks), [&](size_t begin, size_t end, int) {
    for (size_t b = begin; b < end; ++b) run_block(pr, scratch, int64_t(b) * kBlockRows);
  });
}

}  // namespace r1
