// The score and value passes of MLA attention over a Q8 latent cache (model/kv_cache.h), 16 cache rows
// (one block) at a time, as int8 dot products.
//
// Scores: each head's query is quantized like a row (its latent and rope parts to int8, one scale
// each), so q·c is an exact integer sum per part; score = scale · (dq_r·dc_r·S_rope + dq_l·dc_l·S_lat),
// the products of the scales formed first. The cache stores four dimensions of each of the 16 rows
// together, so one 64-byte load holds the same four dimensions of every row and one vpdpbusd adds four
// products into each row's own lane against the head's four query bytes (broadcast): no reductions
// across lanes. vpdpbusd multiplies unsigned by signed bytes: the cache bytes go in as c + 128 (their top
// bit flipped) and 128·Σq comes off afterwards.
//
// Values: o_h += Σ_i w_i · c_i, with w_i = p_i (the softmax weight before normalizing) times row i's
// latent scale, which are quantized per head and step of kQ8StepRows rows (four blocks) to unsigned
// bytes: w_i ≈ ws · pw_i, pw_i in [0, 255], ws = max_i w_i / 255. The integer sums Σ_i pw_i·q_i[j] are
// exact; o_h[j] = fma(sum, ws, o_h[j]) -- once per 64 rows: with one block per step, reading and writing
// the outputs (32 KB for 16 heads) was a third of the time. For the sums each block is first transposed
// (once, for all heads) so that a 64-byte vector holds 16 dimensions of four rows. The rounding of the
// weights is the one approximation beyond the cache's own: at most half a step of 255 of the step's
// largest w per row (tests/unit/latent_attention_test.cpp bounds its effect on every output).
//
// Every result is the same float operations on the same exact integer sums, in the vector kernels (AVX-512
// VNNI, where the build targets it) and in the scalar ones, so they agree bit for bit (the tests check).
#pragma once

#include <cstdint>

#include "model/kv_cache.h"

namespace r1 {

// One token's queries, quantized: per head [latent groups + rope groups][4] int8 values (zero past each
// part's dims), the two scales, and the two sums of the int8 values (the +128 correction).
struct QueryQ8 {
  int8_t* q;               // [heads][4 · groups]
  float* latent_scale;     // [heads]
  float* rope_scale;       // [heads]
  int32_t* latent_sum;     // [heads]
  int32_t* rope_sum;       // [heads]
};

// The shape of the passes: heads, latent and rope dims, and their groups of four.
struct LatentQ8Shape {
  int64_t heads, dc, dr;
  int64_t latent_groups() const { return q8_groups(dc); }
  int64_t rope_groups() const { return q8_groups(dr); }
  int64_t groups() const { return latent_groups() + rope_groups(); }
};

// Whether this build has the vector kernels (AVX-512 VNNI). Without them the scalar ones run: the same
// results, but far slower than a BF16 cache's attention (bench/RESULTS.md), so Q8 then only saves memory.
bool latent_q8_vector_kernels();

// q = the quantized q_latent [heads][dc] and q_rope (head h at h · rope_head_stride).
void quantize_query_q8(const LatentQ8Shape& s, const float* q_latent, const float* q_rope, int64_t rope_head_stride,
                       const QueryQ8& q);

// Rows per step of the value pass: the weights of kQ8StepRows rows (kQ8StepBlocks blocks) share a scale.
constexpr int64_t kQ8StepBlocks = 4;
constexpr int64_t kQ8StepRows = kQ8StepBlocks * kKvBlockTokens;

// scores[h · ld + 16k + i] for every head and row i of blocks[k], k < count.
void q8_step_scores(const LatentQ8Shape& s, const QueryQ8& q, const LatentBlockQ8* blocks, int64_t count, float scale,
                    float* scores, int64_t ld, bool simd);

// The weights of one head and step: w_i = p[i] · latent_scale[i] for i < n (0 past n; i < kQ8StepRows) as
// bytes pw and their step ws (0 when every w is 0).
void quantize_weights_q8(const float* p, const float* latent_scale, int64_t n, uint8_t* pw, float* ws);

// o[h · ld + j] += ws[h] · Σ_i pw[h · kQ8StepRows + i] · q_i[j] for j < dc, over the rows of `count` ≤
// kQ8StepBlocks blocks. `transposed` is scratch of q8_transposed_bytes(s) bytes.
int64_t q8_transposed_bytes(const LatentQ8Shape& s);
void q8_step_values(const LatentQ8Shape& s, const LatentBlockQ8* blocks, int64_t count, const uint8_t* pw,
                    const float* ws, float* o, int64_t ld, uint8_t* transposed, bool simd);

}  // namespace r1
