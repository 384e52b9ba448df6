// The score and value passes of MLA attention over a Q8 latent cache (model/kv_cache.h), as int8 dot
// products, per block of 16 cache rows.
//
// A block holds, per layer, the 16 rows' int8 values by columns in groups of four dimensions ([group][16
// rows][4] bytes: the latent part's groups, then the rope part's, each zero-padded to whole groups) and
// each row's two scales (x ≈ scale · q, scale = max|x| / 127 per part).
//
// Scores: each head's query is quantized like a row (its latent and rope parts to int8, one scale
// each), so q·c is an exact integer sum per part; score = scale · (dq_r·dc_r·S_rope + dq_l·dc_l·S_lat),
// the products of the scales formed first. One 64-byte load holds the same four dimensions of every row,
// so the vector kernels add four products into each row's own lane against the head's four query bytes
// (broadcast): no reductions across lanes.
//
// Values: o_h += Σ_i w_i · c_i, with w_i = p_i (the softmax weight before normalizing) times row i's
// latent scale, which are quantized per head and step of kQ8StepRows rows (16 blocks) to unsigned
// bytes: w_i ≈ ws · pw_i, pw_i in [0, 255], ws = max_i w_i / 255. The integer sums Σ_i pw_i·q_i[j] are
// exact; o_h[j] = fma(sum, ws, o_h[j]) -- once per 256 rows: with one block per step, reading and writing
// the outputs (32 KB for 16 heads) was a third of the time; steps of 128 rows rather than 64 made the
// VNNI value pass 20 % faster (its converts and fmas per integer sum halve), 256 rather than 128 the whole
// attention at 16k 6 % faster, 512 7 % slower (the step's transposed rows and scores no longer fit L1).
// Against an F32 cache at 16k, 256-row steps move the relative RMS error of the outputs from 0.91 to
// 0.94 % (queries of scale 0.05; the cache's own rounding is the rest). The rounding of the weights is the one
// approximation beyond the cache's own: at most half a step of 255 of the step's largest w per row
// (tests/unit/latent_attention_test.cpp bounds its effect on every output).
//
// Kernels per instruction set (latent_q8_avx512vnni.cpp: vpdpbusd; latent_q8_avx2.cpp: vpmaddubsw /
// vpmaddwd, and 256-bit vpdpbusd in its AVX-VNNI build; latent_q8_neondot.cpp: sdot; latent_q8.cpp:
// scalar), picked at run time like the quantized matmuls (quant_dot.h). Every result is the same float
// operations on the same exact integer sums, so all of them agree bit for bit (tests/unit/latent_q8_test.cpp).
#pragma once

#include <cstdint>

#include "kernels/cpu/quant_dot.h"

namespace r1 {

constexpr int64_t kQ8BlockRows = 16;  // rows per cache block (kKvBlockTokens)
// Rows per step of the value pass: the weights of kQ8StepRows rows (kQ8StepBlocks blocks) share a scale.
constexpr int64_t kQ8StepBlocks = 16;
constexpr int64_t kQ8StepRows = kQ8StepBlocks * kQ8BlockRows;

// Groups of four dimensions in `dims`.
inline int64_t q8_groups(int64_t dims) { return (dims + 3) / 4; }

// Where byte k of row i's dims [4g, 4g + 4) is in a block's values.
inline int64_t q8_byte(int64_t g, int64_t i, int k) { return (g * kQ8BlockRows + i) * 4 + k; }

// One layer's 16 rows in a Q8 cache block.
struct LatentBlockQ8 {
  const int8_t* q;            // [latent groups + rope groups][16][4]
  const float* latent_scale;  // [16]
  const float* rope_scale;    // [16]
};

// One token's queries, quantized: per head [latent groups + rope groups][4] int8 values (zero past each
// part's dims), the two scales, and the two sums of the int8 values.
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

// q = the quantized q_latent and q_rope of one token (head h at q_latent + h · latent_stride, q_rope + h · rope_stride).
void quantize_query_q8(const LatentQ8Shape& s, const float* q_latent, int64_t latent_stride, const float* q_rope, int64_t rope_stride,
                       const QueryQ8& q);

// The weights of one head and step: w_i = p[i] · latent_scale[i] for i < n (0 past n; i < kQ8StepRows) as
// bytes pw and their step ws (0 when every w is 0).
void quantize_weights_q8(const float* p, const float* latent_scale, int64_t n, uint8_t* pw, float* ws);

struct LatentQ8Kernels {
  // scores[h · ld + 16k + i] for every head and row i of blocks[k], k < count ≤ kQ8StepBlocks. `next`
  // (next_count of them, may be 0) are the blocks the caller reads after these: a kernel may prefetch them.
  void (*step_scores)(const LatentQ8Shape& s, const QueryQ8& q, const LatentBlockQ8* blocks, int64_t count,
                      const LatentBlockQ8* next, int64_t next_count, float scale, float* scores, int64_t ld);
  // o[h · ld + j] += ws[h] · Σ_i pw[h · kQ8StepRows + i] · q_i[j] for j < dc, over the rows of the blocks.
  // `scratch` holds scratch_bytes(s) bytes. `next` (next_count ≤ kQ8StepBlocks of them, may be 0) are the
  // blocks of the step after this one: a kernel may prefetch them towards L2 for the score pass to come.
  void (*step_values)(const LatentQ8Shape& s, const LatentBlockQ8* blocks, int64_t count, const uint8_t* pw,
                      const float* ws, float* o, int64_t ld, uint8_t* scratch, const LatentBlockQ8* next, int64_t next_count);
  int64_t (*scratch_bytes)(const LatentQ8Shape& s);
};

// The kernels of `isa`: its own where this build has them and the CPU runs them, else the scalar ones.
LatentQ8Kernels latent_q8_kernels(quant::Isa isa);
LatentQ8Kernels latent_q8_kernels_scalar();
LatentQ8Kernels latent_q8_kernels_avx2();
LatentQ8Kernels latent_q8_kernels_avxvnni();
LatentQ8Kernels latent_q8_kernels_avx512vnni();
LatentQ8Kernels latent_q8_kernels_neondot();

}  // namespace r1
