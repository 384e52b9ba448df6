#include "model/forward.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "kernels/cpu/block_scores.h"
#include "kernels/cpu/weighted_rows.h"
#include "model/router.h"

namespace r1 {

namespace {
void add_into(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}
}  // namespace

Forward::Forward(const Model& model, int64_t max_tokens, int64_t max_context, int threads, MlaPrefill mla_prefill)
    : model_(model), cfg_(model.config()), max_tokens_(max_tokens), max_context_(max_context), mla_prefill_(mla_prefill) {
  const ModelConfig& c = cfg_;
  const size_t T = size_t(max_tokens), d = size_t(c.hidden_size);
  x_.resize(T * d);
  token_pos_.resize(T);
  token_segment_.resize(T);
  xn_.resize(T * d);
  attn_out_.resize(T * d);
  ffn_out_.resize(T * d);
  size_t row_scratch = 0;
  if (c.is_mla) {
    const size_t H = size_t(c.num_heads), dc = size_t(c.kv_lora_rank);
    q_.resize(T * H * size_t(c.qk_nope_head_dim + c.qk_rope_head_dim));
    q_lora_.resize(T * size_t(c.q_lora_rank));
    kv_a_.resize(T * size_t(c.kv_lora_rank + c.qk_rope_head_dim));
    heads_.resize(T * H * size_t(c.v_head_dim));
    q_absorbed_.resize(T * H * dc);
    latent_out_.resize(T * H * dc);
    row_scratch = std::max(dc, size_t(c.qk_nope_head_dim));  // a W_UK / W_UV row, either layout
    // One head's token-major rows, gathered contiguous for matmul: q_nope into the W_UK product, o out of
    // the W_UV product (the latent side of both is head-major already).
    thread_head_in_.assign(size_t(std::max(1, threads)), std::vector<float>(T * size_t(c.qk_nope_head_dim)));
    thread_head_out_.assign(size_t(std::max(1, threads)), std::vector<float>(T * size_t(c.v_head_dim)));
    latent_attention_ = std::make_unique<LatentAttention>(c.num_heads, c.kv_lora_rank, c.qk_rope_head_dim, std::max(1, threads));
    if (mla_prefill != MlaPrefill::Absorbed && max_tokens > 1) {
      decompressed_ = std::make_unique<DecompressedMla>(c, model.weights(), max_context, std::max(1, threads));
    }
  } else {
    const size_t hd = size_t(c.head_dim);
    q_.resize(T * size_t(c.num_heads) * hd);
    kv_new_.resize(2 * T * size_t(c.num_kv_heads) * hd);
    heads_.resize(T * size_t(c.num_heads) * hd);
  }
  int64_t width = 0;
  for (const auto& L : model.weights().layers) {
    if (!L.is_moe) width = std::max(width, L.mlp.gate.w.rows);
  }
  if (c.n_routed_experts > 0) {
    width = std::max({width, c.moe_intermediate_size, c.n_shared_experts * c.moe_intermediate_size});
    const size_t E = size_t(c.n_routed_experts), K = size_t(c.num_experts_per_tok);
    router_logits_.resize(T * E);
    route_weights_.resize(T * K);
    route_experts_.resize(T * K);
    route_scratch_.resize(2 * E);
    expert_tokens_.resize(T * K);
    expert_offsets_.resize(E + 1);
    expert_cursor_.resize(E);
    // moe_experts keeps every selected expert's token list, hidden and output rows at once.
    size_t shared_width = 0;
    for (const auto& L : model.weights().layers) {
      if (L.is_moe && L.moe.has_shared) shared_width = std::max(shared_width, size_t(L.moe.shared.gate.w.rows));
    }
    expert_rows_.resize(T * K);
    expert_y_.resize(T * (K + 1) * d);
    batched_hidden_ = T * (K * size_t(c.moe_intermediate_size) + shared_width);
    expert_jobs_.reserve(2 * (E + 1));
    expert_down_jobs_.reserve(E + 1);
  }
  gate_.resize(std::max(T * size_t(width), batched_hidden_));
  up_.resize(std::max(T * size_t(width), batched_hidden_));
  rope_cos_.resize(T * size_t(c.rope.dim / 2));
  rope_sin_.resize(T * size_t(c.rope.dim / 2));
  const int nthreads = std::max(1, threads);
  // GQA's per-thread scores over the context for the query heads of one key/value head (MLA keeps its
  // own in LatentAttention).
  const size_t group = c.is_mla ? 0 : size_t(c.num_heads / std::max<int64_t>(1, c.num_kv_heads));
  thread_scores_.assign(size_t(nthreads), std::vector<float>(group * size_t(max_context)));
  thread_rows_.assign(size_t(nthreads), std::vector<float>(row_scratch));
  if (!c.is_mla) thread_queries_.assign(size_t(nthreads), std::vector<uint16_t>(size_t(group * c.head_dim)));
}

void Forward::run(const int32_t* tokens, int64_t T, KvCache& cache, float* logits, bool all_logits, ThreadPool& pool) {
  const ForwardSegment segment{tokens, T, &cache, all_logits ? Logits::All : Logits::Last};
  run({&segment, 1}, logits, pool);
}

void Forward::run(std::span<const ForwardSegment> segments, float* logits, ThreadPool& pool) {
  const ModelConfig& c = cfg_;
  const ModelWeights& w = model_.weights();
  const int64_t d = c.hidden_size;
  int64_t T = 0;
  stages_.start();
  for (size_t s = 0; s < segments.size(); ++s) {
    const ForwardSegment& g = segments[s];
    if (g.n <= 0 || g.cache == nullptr) fail("internal: empty forward segment");
    for (size_t r = 0; r < s; ++r) {
      if (segments[r].cache == g.cache) fail("internal: one cache in two segments of a forward call");
    }
    const int64_t pos0 = g.cache->length();
    if (pos0 + g.n > g.cache->capacity() || pos0 + g.n > max_context_) {
      fail("context is full: {} tokens would exceed the context length {}", pos0 + g.n,
           std::min(g.cache->capacity(), max_context_));
    }
    if (T + g.n > max_tokens_) fail("internal: {} tokens in one forward call, at most {}", T + g.n, max_tokens_);
    for (int64_t i = 0; i < g.n; ++i, ++T) {
      if (g.tokens[i] < 0 || g.tokens[i] >= c.vocab_size) {
        fail("token id {} is out of range (vocab size {})", g.tokens[i], c.vocab_size);
      }
      token_pos_[size_t(T)] = pos0 + i;
      token_segment_[size_t(T)] = int32_t(s);
      dequant_row(w.embed, g.tokens[i], x_.data() + T * d);
    }
  }
  if (T == 0) return;
  if (pool.size() > int(thread_scores_.size())) fail("internal: pool has more threads than scratch was made for");
  segments_ = segments;

  const int64_t half = c.rope.dim / 2;
  for (int64_t t = 0; t < T; ++t) {
    rope_cos_sin(model_.rope(), token_pos_[size_t(t)], rope_cos_.data() + t * half, rope_sin_.data() + t * half);
  }

  stages_.lap(Stage::Other);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& L = w.layers[size_t(l)];
    for (int64_t t = 0; t < T; ++t) rmsnorm(x_.data() + t * d, L.attn_norm.data(), d, c.rms_norm_eps, xn_.data() + t * d);
    if (c.is_mla) attention_mla(L, l, T, pool);
    else attention_gqa(L, l, T, pool);
    add_into(x_.data(), attn_out_.data(), T * d);

    for (int64_t t = 0; t < T; ++t) rmsnorm(x_.data() + t * d, L.ffn_norm.data(), d, c.rms_norm_eps, xn_.data() + t * d);
    if (L.is_moe) moe(L.moe, T, pool);
    else mlp(L.mlp, xn_.data(), T, ffn_out_.data(), pool);
    add_into(x_.data(), ffn_out_.data(), T * d);
    stages_.lap(Stage::Ffn);
  }
  for (const ForwardSegment& g : segments) g.cache->set_length(g.cache->length() + g.n);

  // The final norm of the tokens whose logits are wanted, packed in order, then one pass of the head.
  int64_t rows = 0, t0 = 0;
  for (const ForwardSegment& g : segments) {
    const int64_t first = g.logits == Logits::All ? t0 : g.logits == Logits::Last ? t0 + g.n - 1 : t0 + g.n;
    for (int64_t t = first; t < t0 + g.n; ++t, ++rows) {
      rmsnorm(x_.data() + t * d, w.final_norm.data(), d, c.rms_norm_eps, xn_.data() + rows * d);
    }
    t0 += g.n;
  }
  if (rows > 0) matmul(w.lm_head, xn_.data(), rows, logits, pool);
  stages_.lap(Stage::Head);
}

bool Forward::decompressed(const ForwardSegment& g) const {
  if (!decompressed_ || g.n < 2) return false;
  const int64_t pos0 = g.cache->length();  // the cache advances after the last layer
  return mla_prefill_ == MlaPrefill::Decompressed ||
         DecompressedMla::decompressed_cost(cfg_, g.n, pos0) < DecompressedMla::absorbed_cost(cfg_, g.n, pos0, g.cache->type());
}

template <class Fn>
void Forward::for_absorbed_runs(Fn&& fn) const {
  int64_t t0 = 0, start = 0;
  for (const ForwardSegment& g : segments_) {
    if (decompressed(g)) {
      if (t0 > start) fn(start, t0 - start);
      start = t0 + g.n;
    }
    t0 += g.n;
  }
  if (t0 > start) fn(start, t0 - start);
}

// Multi-head Latent Attention in the weight-absorbed form (DeepSeek-V2 paper §2.1.2, spec §4.3):
// the cache holds only the normed latent c_kv and the roped shared key k_R; W_UK is folded into the
// query and W_UV applied after attention, so keys and values are never decompressed -- except for the
// prompt chunks that MlaPrefill sends to DecompressedMla, which attend over per-head keys and values.
void Forward::attention_mla(const LayerWeights& L, int64_t layer, int64_t T, ThreadPool& pool) {
  const ModelConfig& c = cfg_;
  const MlaWeights& a = L.mla;
  const int64_t H = c.num_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dv = c.v_head_dim;
  const int64_t dc = c.kv_lora_rank, qk = dn + dr, half = dr / 2;
  const RopeTable& rope = model_.rope();

  // Queries: q = W_qb RMSNorm(W_qa x), or q = W_q x; and the new cache rows' [c_kv ; k_R] = W_kva x, from
  // the same input in the same loop.
  const bool q_lora = c.q_lora_rank > 0;
  const MatmulJob from_x[] = {{q_lora ? &a.q_a.w : &a.q.w, xn_.data(), T, q_lora ? q_lora_.data() : q_.data()},
                              {&a.kv_a.w, xn_.data(), T, kv_a_.data()}};
  matmuls(from_x, pool);
  if (q_lora) {
    for (int64_t t = 0; t < T; ++t) {
      float* r = q_lora_.data() + t * c.q_lora_rank;
      rmsnorm(r, a.q_a_norm.data(), c.q_lora_rank, c.rms_norm_eps, r);
    }
    matmul(a.q_b.w, q_lora_.data(), T, q_.data(), pool);
  }

  // New cache rows: [RMSNorm(c_kv) ; RoPE(k_R)].
  for (int64_t t = 0; t < T; ++t) {
    const float* cos = rope_cos_.data() + t * half;
    const float* sin = rope_sin_.data() + t * half;
    float* row = kv_a_.data() + t * (dc + dr);
    rmsnorm(row, a.kv_a_norm.data(), dc, c.rms_norm_eps, row);
    apply_rope(rope, row + dc, cos, sin);
    segments_[size_t(token_segment_[size_t(t)])].cache->store(layer, token_pos_[size_t(t)], 0, row, dc + dr);
    for (int64_t h = 0; h < H; ++h) apply_rope(rope, q_.data() + (t * H + h) * qk + dn, cos, sin);
  }

  // Absorb W_UK into the query: q̃_h = W_UK,hᵀ q_nope,h  ([d_c] per head and token). The split layout
  // stores W_UK,hᵀ as its own [d_c, d_h] matrix, so each head is one matmul over the tokens (the int8
  // GEMM for quantized files); the legacy kv_b layout holds W_UK,h untransposed: a weighted sum of rows.
  // q̃ and the attention's output are head-major, [H][T][d_c]: each head's rows are the contiguous
  // output of the W_UK product and the contiguous input of the W_UV product (token-major, they were
  // gathered and scattered: 40 MB per V2-Lite layer at 512 tokens). Segments attending decompressed need
  // neither product, so both run over the runs of tokens that attend absorbed.
  const HeadVectors<const float> q_nope{q_.data(), H * qk, qk}, q_rope{q_.data() + dn, H * qk, qk};
  const HeadVectors<float> q_absorbed{q_absorbed_.data(), dc, T * dc}, latent_out{latent_out_.data(), dc, T * dc};
  for_absorbed_runs([&](int64_t t0, int64_t n) {
    if (a.kv_b.empty()) {
      per_head_matmul(a.k_b_t, dc, q_nope.from(t0), dn, q_absorbed.from(t0), dc, n, pool);
      return;
    }
    pool.parallel_for(size_t(H), [&](size_t hb, size_t he, int tid) {
      float* wrow = thread_rows_[size_t(tid)].data();
      for (int64_t h = int64_t(hb); h < int64_t(he); ++h) {
        for (int64_t i = 0; i < dn; ++i) {
          dequant_row(a.kv_b, h * (dn + dv) + i, wrow);
          for (int64_t t = t0; t < t0 + n; ++t) {
            const float coef = q_nope.at(t, h)[i];
            float* qa = q_absorbed.at(t, h);
            if (i == 0) {
              for (int64_t j = 0; j < dc; ++j) qa[j] = coef * wrow[j];
            } else {
              for (int64_t j = 0; j < dc; ++j) qa[j] += coef * wrow[j];
            }
          }
        }
      }
    });
  });

  stages_.lap(Stage::AttnInput);
  // Causal attention over each sequence's latent cache: score(s) = scale·(q̃·c_kv(s) + q_R·k_R(s)), or
  // decompressed straight into the heads' outputs.
  for (int64_t t0 = 0; const ForwardSegment& g : segments_) {
    if (decompressed(g)) {
      decompressed_->run(q_.data() + t0 * H * qk, H * qk, g.n, token_pos_[size_t(t0)], *g.cache, layer,
                         float(c.softmax_scale), heads_.data() + t0 * H * dv, H * dv, pool);
    } else {
      latent_attention_->run(q_absorbed.from(t0), q_rope.from(t0), g.n, token_pos_[size_t(t0)], *g.cache, layer,
                             float(c.softmax_scale), latent_out.from(t0), pool);
    }
    t0 += g.n;
  }

  stages_.lap(Stage::Attention);
  // Values: o_h = W_UV,h õ_h (W_UV,h is [d_v, d_c] in both layouts), then the output projection.
  const HeadVectors<float> heads{heads_.data(), H * dv, dv};
  for_absorbed_runs([&](int64_t t0, int64_t n) {
    if (a.kv_b.empty()) {
      per_head_matmul(a.v_b, dv, latent_out.from(t0), dc, heads.from(t0), dv, n, pool);
    } else {
      per_head_matmul(a.kv_b, dn + dv, latent_out.from(t0), dc, heads.from(t0), dv, n, pool, dn);
    }
  });
  matmul(a.o.w, heads_.data(), T, attn_out_.data(), pool);
  stages_.lap(Stage::AttnOutput);
}

// For each head h: y(t, h) = W_h x(t, h) (x_width values in, y_width out), where W_h is rows
// [h·head_rows + skip, … + y_width) of w. Heads are spread over the pool; each head's product runs on one
// thread (serial_) over all T tokens, reading and writing a head's rows in place where they are
// contiguous (head-major), else through per-thread scratch.
void Forward::per_head_matmul(const WeightMatrix& w, int64_t head_rows, HeadVectors<const float> x, int64_t x_width,
                              HeadVectors<float> y, int64_t y_width, int64_t T, ThreadPool& pool, int64_t skip) {
  const int64_t H = cfg_.num_heads;
  const bool x_rows = x.token_stride == x_width || T == 1, y_rows = y.token_stride == y_width || T == 1;
  pool.parallel_for(size_t(H), [&](size_t hb, size_t he, int tid) {
    for (int64_t h = int64_t(hb); h < int64_t(he); ++h) {
      const float* in = x.at(0, h);
      if (!x_rows) {
        float* gathered = thread_head_in_[size_t(tid)].data();
        for (int64_t t = 0; t < T; ++t) std::memcpy(gathered + t * x_width, x.at(t, h), size_t(x_width) * sizeof(float));
        in = gathered;
      }
      float* out = y_rows ? y.at(0, h) : thread_head_out_[size_t(tid)].data();
      matmul(row_slice(w, h * head_rows + skip, y_width), in, T, out, serial_);
      if (!y_rows) {
        for (int64_t t = 0; t < T; ++t) std::memcpy(y.at(t, h), out + t * y_width, size_t(y_width) * sizeof(float));
      }
    }
  });
}

// Grouped-query attention (Qwen2, Llama, Qwen3): n_h query heads share n_kv key/value heads.
void Forward::attention_gqa(const LayerWeights& L, int64_t layer, int64_t T, ThreadPool& pool) {
  const ModelConfig& c = cfg_;
  const GqaWeights& a = L.gqa;
  const int64_t H = c.num_heads, KV = c.num_kv_heads, hd = c.head_dim, group = H / KV, half = c.rope.dim / 2;
  const RopeTable& rope = model_.rope();
  float* k_new = kv_new_.data();
  float* v_new = kv_new_.data() + T * KV * hd;
  const MatmulJob qkv[] = {{&a.q.w, xn_.data(), T, q_.data(), a.q.bias_ptr()},
                           {&a.k.w, xn_.data(), T, k_new, a.k.bias_ptr()},
                           {&a.v.w, xn_.data(), T, v_new, a.v.bias_ptr()}};
  matmuls(qkv, pool);

  for (int64_t t = 0; t < T; ++t) {
    const float* cos = rope_cos_.data() + t * half;
    const float* sin = rope_sin_.data() + t * half;
    for (int64_t h = 0; h < H; ++h) {
      float* q = q_.data() + (t * H + h) * hd;
      if (c.qk_norm) rmsnorm(q, a.q_norm.data(), hd, c.rms_norm_eps, q);
      apply_rope(rope, q, cos, sin);
    }
    for (int64_t g = 0; g < KV; ++g) {
      float* k = k_new + (t * KV + g) * hd;
      if (c.qk_norm) rmsnorm(k, a.k_norm.data(), hd, c.rms_norm_eps, k);
      apply_rope(rope, k, cos, sin);
    }
    KvCache& cache = *segments_[size_t(token_segment_[size_t(t)])].cache;
    cache.store(layer, token_pos_[size_t(t)], 0, k_new + t * KV * hd, KV * hd);
    cache.store(layer, token_pos_[size_t(t)], KV * hd, v_new + t * KV * hd, KV * hd);
  }

  // Heads that share a key/value head are processed together, so each cache row is read once for all of
  // them (from L1) rather than once per head; every score and output is still the same sequence of
  // operations per head. Work items are (token, kv head, subset of its query heads): a kv head's heads
  // are split only when there are fewer (token, kv head) pairs than threads, since every split reads the
  // kv head's cache rows again (with two kv heads and two threads, splitting them made decode at 16k
  // tokens of context 17-20 % slower).
  const float scale = float(c.softmax_scale);
  const int64_t splits = std::clamp<int64_t>((pool.size() + T * KV - 1) / (T * KV), 1, group);
  const int64_t per_item = (group + splits - 1) / splits;
  // One work item over rows of type Row (float, or the bits of BF16 values with BF16 queries).
  const auto attend = [&]<class Row>(int64_t t, int64_t g, int64_t h0, int64_t nh, const KvCache& cache, int tid) {
    float* scores = thread_scores_[size_t(tid)].data();  // [heads of the item][n]
    const int64_t n = token_pos_[size_t(t)] + 1;
    const Row* q = nullptr;
    if constexpr (std::is_same_v<Row, float>) {
      q = q_.data() + (t * H + h0) * hd;
    } else {
      uint16_t* q16 = thread_queries_[size_t(tid)].data();
      const float* qf = q_.data() + (t * H + h0) * hd;
      for (int64_t i = 0; i < nh * hd; ++i) q16[i] = f32_to_bf16(qf[i]);
      q = q16;
    }
    // Scores: the cache holds keys by columns, a block's 16 positions per vector (block_scores.h).
    const auto key_block = [&](int64_t b) { return cache.block_segment<Row>(layer, b, g); };
    column_key_scores(q, hd, nh, hd, key_block, n, scale, scores, n);
    for (int64_t i = 0; i < nh; ++i) {
      softmax(scores + i * n, n);
      if constexpr (std::is_same_v<Row, uint16_t>) round_weights_to_bf16(scores + i * n, n);  // as the value pass uses them
    }
    // Values: blocks of rows, each added to every head's output from registers (weighted_rows.h).
    float* out = heads_.data() + (t * H + h0) * hd;
    std::fill(out, out + nh * hd, 0.0f);
    constexpr int64_t kRows = 16;
    for (int64_t s0 = 0; s0 < n; s0 += kRows) {
      const int64_t nb = std::min(kRows, n - s0);
      const Row* v[kRows];
      for (int64_t i = 0; i < nb; ++i) v[i] = cache.row<Row>(layer, s0 + i, KV + g);
      // The values two blocks on towards L2 while these are summed: a block's 16 values of one KV head
      // are a 4 KB run among other heads' and layers' (measured at depth 16384: one block ahead +20 % tg,
      // two ahead 7-10 % more with the F32 cache and no change with BF16; the keys in the score pass, one
      // to four blocks ahead, gained nothing).
      if (s0 + 3 * kRows <= n) {
        const char* next = reinterpret_cast<const char*>(cache.row<Row>(layer, s0 + 2 * kRows, KV + g));
        for (int64_t off = 0; off < kRows * hd * int64_t(sizeof(Row)); off += 64) __builtin_prefetch(next + off, 0, 1);
      }
      add_weighted_rows(v, nb, scores + s0, n, nh, out, hd, hd);
    }
  };
  stages_.lap(Stage::AttnInput);
  // Tokens in folded order: a token's work grows with its position.
  pool.parallel_for(size_t(T * KV * splits), [&](size_t b, size_t e, int tid) {
    for (size_t item = b; item < e; ++item) {
      const int64_t t = int64_t(folded_index(item / size_t(KV * splits), size_t(T)));
      const int64_t g = int64_t(item) / splits % KV, part = int64_t(item) % splits;
      const int64_t h0 = g * group + part * per_item, nh = std::min(per_item, group - part * per_item);
      if (nh <= 0) continue;
      const KvCache& cache = *segments_[size_t(token_segment_[size_t(t)])].cache;
      if (cache.type() == KvType::BF16) attend.template operator()<uint16_t>(t, g, h0, nh, cache, tid);
      else attend.template operator()<float>(t, g, h0, nh, cache, tid);
    }
  });
  stages_.lap(Stage::Attention);
  matmul(a.o.w, heads_.data(), T, attn_out_.data(), pool, a.o.bias_ptr());
  stages_.lap(Stage::AttnOutput);
}

void Forward::mlp(const MlpWeights& m, const float* x, int64_t T, float* out, ThreadPool& pool) {
  const int64_t width = m.gate.w.rows;
  const MatmulJob gate_up[] = {{&m.gate.w, x, T, gate_.data()}, {&m.up.w, x, T, up_.data()}};
  matmuls(gate_up, pool);
  swiglu(gate_.data(), up_.data(), T * width);
  matmul(m.down.w, gate_.data(), T, out, pool);
}

// DeepSeekMoE: routed experts run on exactly the tokens sent to them (batched per expert), weighted by
// the router; the shared experts run on every token, unweighted.
void Forward::moe(const MoeWeights& m, int64_t T, ThreadPool& pool) {
  const ModelConfig& c = cfg_;
  const int64_t d = c.hidden_size, E = c.n_routed_experts, K = c.num_experts_per_tok;
  matmul(m.router, xn_.data(), T, router_logits_.data(), pool);
  const float* bias = m.score_bias.empty() ? nullptr : m.score_bias.data();
  for (int64_t t = 0; t < T; ++t) {
    route_token(c, router_logits_.data() + t * E, bias, route_experts_.data() + t * K, route_weights_.data() + t * K,
                route_scratch_.data());
  }

  // Bucket the (token, slot) pairs by expert, tokens ascending within each expert.
  std::fill(expert_offsets_.begin(), expert_offsets_.end(), 0);
  for (int64_t i = 0; i < T * K; ++i) expert_offsets_[size_t(route_experts_[size_t(i)]) + 1]++;
  for (int64_t e = 0; e < E; ++e) expert_offsets_[size_t(e + 1)] += expert_offsets_[size_t(e)];
  std::copy(expert_offsets_.begin(), expert_offsets_.end() - 1, expert_cursor_.begin());
  for (int64_t i = 0; i < T * K; ++i) {
    const int32_t at = expert_cursor_[size_t(route_experts_[size_t(i)])]++;
    expert_tokens_[size_t(at)] = int32_t(i);
    expert_rows_[size_t(at)] = int32_t(i / K);  // the slot's token
  }

  std::fill(ffn_out_.begin(), ffn_out_.begin() + T * d, 0.0f);
  moe_experts(m, T, pool);
}

// Every selected expert's gate and up products (and the shared experts') in one call of matmuls, the
// down products in a second: one parallel loop over all of them each time. Three calls per expert made
// waking the threads cost as much as the work in decode, and 1-2.5 % of a V2-Lite-8L prefill
// (bench/RESULTS.md).
void Forward::moe_experts(const MoeWeights& m, int64_t T, ThreadPool& pool) {
  const ModelConfig& c = cfg_;
  const int64_t d = c.hidden_size, E = c.n_routed_experts, K = c.num_experts_per_tok;
  // Expert e's tokens: its slots in expert_tokens_[offsets[e], offsets[e+1]), ascending. Its inputs are
  // the rows of xn_ itself when it has every token (always so for one token), else those tokens' rows
  // of xn_ (x_rows: matmuls quantizes each token once for all experts). Its hidden rows follow the
  // previous expert's in gate_ / up_; its outputs are its slots' rows of expert_y_, the shared experts'
  // after all slots.
  expert_jobs_.clear();
  expert_down_jobs_.clear();
  int64_t hidden = 0;
  const auto add_expert = [&](const MlpWeights& w, const int32_t* x_rows, int64_t n, float* y) {
    expert_jobs_.push_back({&w.gate.w, xn_.data(), n, gate_.data() + hidden, nullptr, x_rows});
    expert_jobs_.push_back({&w.up.w, xn_.data(), n, up_.data() + hidden, nullptr, x_rows});
    expert_down_jobs_.push_back({&w.down.w, gate_.data() + hidden, n, y});
    hidden += n * w.gate.w.rows;
  };
  for (int64_t e = 0; e < E; ++e) {
    const int64_t begin = expert_offsets_[size_t(e)], n = expert_offsets_[size_t(e + 1)] - begin;
    if (n == 0) continue;
    add_expert(m.experts[size_t(e)], n < T ? expert_rows_.data() + begin : nullptr, n, expert_y_.data() + begin * d);
  }
  if (m.has_shared) add_expert(m.shared, nullptr, T, expert_y_.data() + T * K * d);
  matmuls(expert_jobs_, pool);
  swiglu(gate_.data(), up_.data(), hidden);
  matmuls(expert_down_jobs_, pool);

  // The weighted sum, each token's experts in ascending order (their slots are contiguous).
  for (int64_t i = 0; i < T * K; ++i) {
    const int32_t slot = expert_tokens_[size_t(i)];
    float* dst = ffn_out_.data() + (slot / K) * d;
    const float wgt = route_weights_[size_t(slot)];
    const float* y = expert_y_.data() + i * d;
    for (int64_t j = 0; j < d; ++j) dst[j] += wgt * y[j];
  }
  if (m.has_shared) add_into(ffn_out_.data(), expert_y_.data() + T * K * d, T * d);
}

}  // namespace r1
