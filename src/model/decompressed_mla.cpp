#include "model/decompressed_mla.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/cpu/block_scores.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quants.h"
#include "kernels/cpu/weighted_rows.h"

namespace r1 {

namespace {
// Queries scored together against each block of keys: the register tile of block_scores.h, its "heads"
// here being tokens of one head (they share the keys).
constexpr int64_t kTokens = kScoreHeads;

// Rows attended to by tokens [pos0, pos0 + n): token t sees pos0 + t + 1.
double rows_attended(int64_t n, int64_t pos0) { return double(n) * double(pos0) + double(n) * double(n + 1) / 2; }
}  // namespace

DecompressedMla::DecompressedMla(const ModelConfig& c, const ModelWeights& weights, int64_t max_context, int threads)
    : heads_(c.num_heads), dc_(c.kv_lora_rank), dr_(c.qk_rope_head_dim), dn_(c.qk_nope_head_dim), dv_(c.v_head_dim),
      max_context_(max_context) {
  for (const LayerWeights& L : weights.layers) {
    const MlaWeights& a = L.mla;
    keys_.push_back(key_weights(a));
    values_.push_back(a.kv_b.empty() ? HeadRows{a.v_b, dv_, 0} : HeadRows{a.kv_b, dn_ + dv_, dn_});
  }
  const size_t N = size_t(max_context), padded = size_t((max_context + 15) / 16 * 16);
  latent_.resize(N * size_t(dc_));
  rope_.resize(N * size_t(dr_));
  threads_.resize(size_t(std::max(1, threads)));
  for (Thread& t : threads_) {
    t.row.resize(size_t(dc_ + dr_));
    t.keys_nope.resize(N * size_t(dn_));
    t.key_blocks.resize(padded * size_t(dn_ + dr_));
    t.values.resize(N * size_t(dv_));
    t.value_rows.resize(N);
    t.scores.resize(size_t(kTokens) * N);
  }
}

namespace {
// Multiply-adds per layer: of the W_UK and W_UV products for one row or token, and of attending to one
// row, decompressed and absorbed (float).
struct RowCosts {
  double products, decompressed, absorbed;
};
RowCosts row_costs(const ModelConfig& c) {
  const double H = double(c.num_heads), dc = double(c.kv_lora_rank);
  const double dn = double(c.qk_nope_head_dim), dr = double(c.qk_rope_head_dim), dv = double(c.v_head_dim);
  return {H * dc * (dn + dv), H * (dn + dr + dv), H * (2 * dc + dr)};
}
}  // namespace

double DecompressedMla::decompressed_cost(const ModelConfig& c, int64_t n, int64_t pos0) {
  const RowCosts k = row_costs(c);
  return double(pos0 + n) * k.products + rows_attended(n, pos0) * k.decompressed;
}

double DecompressedMla::absorbed_cost(const ModelConfig& c, int64_t n, int64_t pos0, KvType cache) {
  const RowCosts k = row_costs(c);
  const double per_product = cache == KvType::Q8 ? 0.25 : cache == KvType::BF16 ? 0.5 : 1.0;
  return double(n) * k.products + rows_attended(n, pos0) * k.absorbed * per_product;
}

DecompressedMla::HeadRows DecompressedMla::key_weights(const MlaWeights& a) {
  if (!a.kv_b.empty()) return {a.kv_b, dn_ + dv_, 0};
  // k_b_t holds W_UK,hᵀ per head: row j (of d_c) is column j of W_UK,h. Written out once, transposed; as
  // Q8_0 where k_b_t is a block type (the int8 GEMM: the float product ran at a third of its speed here),
  // else as F32.
  const bool blocks = dtype_is_block(a.k_b_t.dtype) && dc_ % 32 == 0;
  const DType type = blocks ? DType::Q8_0 : DType::F32;
  std::vector<float> row(static_cast<size_t>(dn_)), transposed(static_cast<size_t>(heads_ * dn_ * dc_));
  for (int64_t h = 0; h < heads_; ++h) {
    for (int64_t j = 0; j < dc_; ++j) {
      dequant_row(a.k_b_t, h * dc_ + j, row.data());
      for (int64_t i = 0; i < dn_; ++i) transposed[size_t((h * dn_ + i) * dc_ + j)] = row[size_t(i)];
    }
  }
  std::vector<uint8_t>& bytes = key_bytes_.emplace_back(size_t(heads_ * dn_) * dtype_row_bytes(type, dc_));
  WeightMatrix w;
  w.name = a.k_b_t.name + " (transposed)";
  w.dtype = type;
  w.rows = heads_ * dn_;
  w.cols = dc_;
  w.data = bytes.data();
  for (int64_t r = 0; r < w.rows; ++r) {
    if (blocks) quantize_row(type, transposed.data() + r * dc_, bytes.data() + size_t(r) * dtype_row_bytes(type, dc_), dc_);
    else std::memcpy(bytes.data() + size_t(r) * dtype_row_bytes(type, dc_), transposed.data() + r * dc_, size_t(dc_) * sizeof(float));
  }
  return {w, dn_, 0};
}

void DecompressedMla::run(const float* q, int64_t q_stride, int64_t n, int64_t pos0,
                          const KvCache& cache, int64_t layer, float scale, float* out, int64_t out_stride,
                          ThreadPool& pool) {
  const int64_t N = pos0 + n, qk = dn_ + dr_;
  if (N > max_context_) fail("internal: decompressed attention over {} rows, scratch for {}", N, max_context_);
  if (pool.size() > int(threads_.size())) fail("internal: pool has more threads than scratch was made for");

  // The cache rows as the absorbed attention reads them.
  pool.parallel_for(size_t(N), [&](size_t b, size_t e, int tid) {
    float* row = threads_[size_t(tid)].row.data();
    for (int64_t s = int64_t(b); s < int64_t(e); ++s) {
      cache.read_row(layer, s, row);
      std::copy(row, row + dc_, latent_.begin() + s * dc_);
      std::copy(row + dc_, row + dc_ + dr_, rope_.begin() + s * dr_);
    }
  });

  // A head at a time per thread: its keys and values for all N rows, then its tokens in tiles.
  pool.parallel_for(size_t(heads_), [&](size_t hb, size_t he, int tid) {
    Thread& t = threads_[size_t(tid)];
    for (int64_t h = int64_t(hb); h < int64_t(he); ++h) {
      matmul(keys_[size_t(layer)].head(h, dn_), latent_.data(), N, t.keys_nope.data(), serial_);
      matmul(values_[size_t(layer)].head(h, dv_), latent_.data(), N, t.values.data(), serial_);

      // Keys by columns, 16 rows a block: [W_UK c_s ; k_R,s] per dimension (zero past N).
      for (int64_t b = 0; b < (N + 15) / 16; ++b) {
        float* block = t.key_blocks.data() + b * qk * 16;
        for (int64_t j = 0; j < 16; ++j) {
          const int64_t s = b * 16 + j;
          for (int64_t i = 0; i < dn_; ++i) block[i * 16 + j] = s < N ? t.keys_nope[size_t(s * dn_ + i)] : 0.0f;
          for (int64_t i = 0; i < dr_; ++i) block[(dn_ + i) * 16 + j] = s < N ? rope_[size_t(s * dr_ + i)] : 0.0f;
        }
      }
      for (int64_t s = 0; s < N; ++s) t.value_rows[size_t(s)] = t.values.data() + s * dv_;
      const auto key_block = [&](int64_t b) -> const float* { return t.key_blocks.data() + b * qk * 16; };

      for (int64_t t0 = 0; t0 < n; t0 += kTokens) {
        const int64_t tokens = std::min(kTokens, n - t0), rows = pos0 + t0 + tokens;  // the last token's rows
        column_key_scores(q + t0 * q_stride + h * qk, q_stride, tokens, qk, key_block, rows, scale, t.scores.data(), N);
        for (int64_t i = 0; i < tokens; ++i) {
          float* p = t.scores.data() + i * N;
          const int64_t seen = pos0 + t0 + i + 1;
          softmax(p, seen);
          std::fill(p + seen, p + rows, 0.0f);  // the later tokens' rows
        }
        float* o = out + t0 * out_stride + h * dv_;
        for (int64_t i = 0; i < tokens; ++i) std::fill(o + i * out_stride, o + i * out_stride + dv_, 0.0f);
        add_weighted_rows(t.value_rows.data(), rows, t.scores.data(), N, tokens, o, out_stride, dv_);
      }
    }
  });
}

}  // namespace r1
