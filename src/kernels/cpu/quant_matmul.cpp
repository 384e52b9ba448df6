#include "kernels/cpu/quant_matmul.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/quant_gemm.h"
#include "kernels/cpu/row_groups.h"

namespace r1 {

namespace {

// From this many tokens on, the tiled kernel beats decoding each weight block for four tokens at a time
// (r1_bench_quant --tokens; bench/RESULTS.md).
constexpr int64_t kGemmMinTokens = 12;

// Whether a job's T tokens go to the tiled GEMM (its last `tail` of them then by the row-group kernel
// inside it) or all to the row kernels. Each token's result is the same bits on either path. The GEMM
// computes whole groups of 16 tokens (AVX512-VNNI), so a group with few real tokens costs as much as a
// full one, while the row-group kernels cost per token: a remainder of up to 8 tokens goes to them, and
// fewer than 16 tokens never reach the GEMM. An MoE expert's ~48 prefill tokens leave 8 on average in a
// last group. Measured (r1_bench_quant, 1408 × 2048 in row groups, one thread): the GEMM 263 / 397 / 560
// / 730 us for 1 / 2 / 3 / 4 groups of Q4_K, the row kernels 12.5 us per token (Q5_0 16, Q8_0 16, Q6_K 22).
// Elsewhere (AVX2, the standard layout, whose row kernels cost 2-5x more per token) a job takes one path,
// by kGemmMinTokens.
struct GemmSplit {
  bool tiled = false;
  int64_t tail = 0;
};
GemmSplit gemm_split(const WeightMatrix& w, int64_t T, quant::Isa isa) {
  if (!quant::gemm_supported(w.dtype, isa)) return {};
  if (!w.row_groups || isa != quant::Isa::Avx512Vnni || w.rows % quant::kRowGroup != 0 || !quant::mat_vec_groups(w.dtype, isa)) {
    return {T >= kGemmMinTokens, 0};
  }
  constexpr int64_t kMaxTail = 8;
  const int64_t group = quant::gemm_group_tokens(isa), whole = T / group * group;
  if (whole == 0) return {};
  return {true, T - whole <= kMaxTail ? T - whole : 0};
}

// Below this many activation values in all, quantizing them costs less than waking the pool.
constexpr int64_t kParallelQuantizeValues = 1 << 16;

// One job on the mat-vec path, its activations quantized; its row tiles are numbered from first_tile
// in the loop all such jobs share.
struct VecJob {
  quant::MatVec mat_vec;
  quant::VecDotRows dot_rows;
  quant::MatVecGroups mat_vec_groups;  // for weights in row groups; null where the ISA has none
  DType type;
  bool row_groups;
  const uint8_t* w;
  size_t row_bytes;
  int64_t rows, cols;
  const uint8_t* acts;
  size_t act_bytes;
  int64_t T;
  float* y;
  const float* bias;
  int64_t tile_rows, first_tile, tiles;
};

// y[t][r] += bias[r] for tokens [t0, t1) and rows [r0, r1) of one job, where it has a bias.
void add_bias(const VecJob& j, int64_t t0, int64_t t1, int64_t r0, int64_t r1) {
  if (!j.bias) return;
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t r = r0; r < r1; ++r) j.y[t * j.rows + r] += j.bias[r];
  }
}

// Rows [r0, r1) of one job for all its tokens, in the standard layout at w (row r0 first). The rows of
// a tile are read from memory once and stay in cache for every token.
void run_standard_rows(const VecJob& j, const uint8_t* w, int64_t r0, int64_t r1) {
  if (j.T == 1) {
    j.mat_vec(j.cols, w, j.row_bytes, int(r1 - r0), j.acts, j.y + r0);
    add_bias(j, 0, 1, r0, r1);
    return;
  }
  // Several tokens: each weight block is decoded once for up to kMaxTokens of them.
  for (int64_t t0 = 0; t0 < j.T; t0 += quant::kMaxTokens) {
    const int tokens = int(std::min<int64_t>(quant::kMaxTokens, j.T - t0));
    for (int64_t r = r0; r < r1; ++r) {
      float out[quant::kMaxTokens];
      j.dot_rows(j.cols, w + size_t(r - r0) * j.row_bytes, j.acts + size_t(t0) * j.act_bytes, j.act_bytes, tokens, out);
      for (int k = 0; k < tokens; ++k) j.y[(t0 + k) * j.rows + r] = j.bias ? out[k] + j.bias[r] : out[k];
    }
  }
}

// Rows [r0, r1) of one job: a tile is one row group, or rows of the standard layout (row_groups.h).
void run_rows(const VecJob& j, int64_t r0, int64_t r1) {
  const int64_t grouped = j.row_groups ? j.rows / quant::kRowGroup * quant::kRowGroup : 0;
  const size_t at = j.row_groups ? quant::row_groups_offset(j.type, j.rows, j.cols, r0) : size_t(r0) * j.row_bytes;
  if (r0 >= grouped) return run_standard_rows(j, j.w + at, r0, r1);
  if (j.mat_vec_groups) {  // up to kMaxTokens tokens per pass over the group's weights
    for (int64_t t0 = 0; t0 < j.T; t0 += quant::kMaxTokens) {
      const int tokens = int(std::min<int64_t>(quant::kMaxTokens, j.T - t0));
      j.mat_vec_groups(j.cols, j.w + at, 1, j.acts + size_t(t0) * j.act_bytes, j.act_bytes, tokens,
                       j.y + t0 * j.rows + r0, size_t(j.rows));
      add_bias(j, t0, t0 + tokens, r0, r1);
    }
    return;
  }
  // No kernel for the groups on this ISA: the group's rows restored, then the standard kernels.
  thread_local std::vector<uint8_t> restored;
  restored.resize(size_t(r1 - r0) * j.row_bytes);
  quant::rows_from_groups(j.type, j.w, j.rows, j.cols, r0, r1 - r0, restored.data());
  run_standard_rows(j, restored.data(), r0, r1);
}

// A distinct activation input. Quantized: x's first T rows, shared by the jobs that read x in the same
// format. Gathered (rows set): a job's T rows picked from a quantized input (`source`), copied.
struct Input {
  const float* x;
  quant::ActFormat format;
  int64_t cols, T;
  const int32_t* rows = nullptr;
  size_t source = 0;
  size_t offset = 0;   // in the scratch buffer
  int64_t row_at = 0;  // its first row's number in the loop over all quantized (gathered) inputs' rows
};

}  // namespace

bool quant_matmul_supported(DType t) { return quant::vec_dot(t, quant::Isa::Scalar) != nullptr; }

void quant_matmul(const WeightMatrix& w, const float* x, int64_t T, float* y, ThreadPool& pool, const float* bias) {
  const MatmulJob job{&w, x, T, y, bias};
  quant_matmuls(std::span(&job, 1), pool);
}

void quant_matmul(const WeightMatrix& w, const float* x, int64_t T, float* y, ThreadPool& pool, const float* bias,
                  quant::Isa isa) {
  const MatmulJob job{&w, x, T, y, bias};
  quant_matmuls(std::span(&job, 1), pool, isa);
}

void quant_matmuls(std::span<const MatmulJob> jobs, ThreadPool& pool) {
  static const quant::Isa isa = quant::best_isa();
  quant_matmuls(jobs, pool, isa);
}

void quant_matmuls(std::span<const MatmulJob> jobs, ThreadPool& pool, quant::Isa isa) {
  // Per calling thread, grown to the largest call once and then reused: the decode loop allocates nothing.
  // Used through references: inside the parallel loops a thread_local name would be the worker's own.
  thread_local std::vector<uint8_t> scratch_buffer;
  thread_local std::vector<Input> input_list;
  thread_local std::vector<size_t> job_input_list;
  thread_local std::vector<VecJob> vec_job_list;
  thread_local std::vector<quant::GemmArgs> gemm_job_list;
  std::vector<uint8_t>& scratch = scratch_buffer;
  std::vector<Input>& inputs = input_list;
  std::vector<size_t>& job_input = job_input_list;
  std::vector<VecJob>& vec_jobs = vec_job_list;
  std::vector<quant::GemmArgs>& gemm_jobs = gemm_job_list;

  // Each distinct input quantized once (per token row, so a token's result does not depend on the batch):
  // as many of x's rows as any job reads. A job with x_rows then gets its rows copied from those -- a
  // quantized row is a quarter of the floats, and the routed experts together read each token 6-8 times.
  inputs.clear();
  job_input.clear();
  const auto quantized = [&](const float* x, quant::ActFormat format, int64_t cols, int64_t T) {
    size_t k = 0;
    while (k < inputs.size() && !(!inputs[k].rows && inputs[k].x == x && inputs[k].format == format && inputs[k].cols == cols)) ++k;
    if (k == inputs.size()) inputs.push_back({x, format, cols, 0});
    inputs[k].T = std::max(inputs[k].T, T);
    return k;
  };
  for (const MatmulJob& j : jobs) {
    const quant::ActFormat format = quant::act_format(j.w->dtype);
    if (!j.x_rows) {
      job_input.push_back(quantized(j.x, format, j.w->cols, j.T));
      continue;
    }
    int64_t needed = 0;
    for (int64_t t = 0; t < j.T; ++t) needed = std::max<int64_t>(needed, j.x_rows[t] + 1);
    const size_t source = quantized(j.x, format, j.w->cols, needed);
    size_t k = 0;
    while (k < inputs.size() && !(inputs[k].rows == j.x_rows && inputs[k].source == source && inputs[k].T == j.T)) ++k;
    if (k == inputs.size()) inputs.push_back({j.x, format, j.w->cols, j.T, j.x_rows, source});
    job_input.push_back(k);
  }
  size_t bytes = 0;
  int64_t values = 0, rows = 0, gathered = 0;
  for (Input& in : inputs) {  // the quantized inputs' rows first in the loops, then the gathered
    if (in.rows) continue;
    in.offset = bytes, in.row_at = rows;
    bytes += size_t(in.T) * quant::act_row_bytes(in.format, in.cols);
    values += in.T * in.cols;
    rows += in.T;
  }
  for (Input& in : inputs) {
    if (!in.rows) continue;
    in.offset = bytes, in.row_at = gathered;
    bytes += size_t(in.T) * quant::act_row_bytes(in.format, in.cols);
    gathered += in.T;
  }
  if (scratch.size() < bytes) scratch.resize(bytes);
  // All inputs' rows in one loop (the shared expert's, the routed experts' and the attention's inputs
  // differ), then the gathered rows in another.
  const auto quantize = [&](size_t r0, size_t r1, int) {
    size_t k = 0;
    for (int64_t r = int64_t(r0); r < int64_t(r1); ++r) {
      while (inputs[k].rows || r >= inputs[k].row_at + inputs[k].T) ++k;
      const Input& in = inputs[k];
      const int64_t t = r - in.row_at;
      quant::quantize_activations(in.format, in.x + t * in.cols,
                                  scratch.data() + in.offset + size_t(t) * quant::act_row_bytes(in.format, in.cols), in.cols);
    }
  };
  const auto gather = [&](size_t r0, size_t r1, int) {
    size_t k = 0;
    for (int64_t r = int64_t(r0); r < int64_t(r1); ++r) {
      while (!inputs[k].rows || r >= inputs[k].row_at + inputs[k].T) ++k;
      const Input& in = inputs[k];
      const size_t row_bytes = quant::act_row_bytes(in.format, in.cols);
      const int64_t t = r - in.row_at;
      std::memcpy(scratch.data() + in.offset + size_t(t) * row_bytes,
                  scratch.data() + inputs[in.source].offset + size_t(in.rows[t]) * row_bytes, row_bytes);
    }
  };
  if (values < kParallelQuantizeValues) {
    quantize(0, size_t(rows), 0);
    gather(0, size_t(gathered), 0);
  } else {
    pool.parallel_for(size_t(rows), quantize);
    if (gathered > 0) pool.parallel_for(size_t(gathered), gather);
  }

  // Many tokens: the tiled GEMM (quant_gemm.h), all such jobs together; it gives the same bits as run_rows.
  vec_jobs.clear();
  gemm_jobs.clear();
  int64_t tiles = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const MatmulJob& j = jobs[i];
    const WeightMatrix& w = *j.w;
    const Input& in = inputs[job_input[i]];
    const size_t act_bytes = quant::act_row_bytes(in.format, w.cols), row_bytes = dtype_row_bytes(w.dtype, w.cols);
    const uint8_t* acts = scratch.data() + in.offset;
    if (j.T == 0 || w.rows == 0) continue;
    const GemmSplit split = gemm_split(w, j.T, isa);
    if (split.tiled) {
      gemm_jobs.push_back({w.dtype, w.data, row_bytes, w.rows, w.cols, acts, act_bytes, j.T, j.y, j.bias, w.row_groups,
                           split.tail, split.tail > 0 ? quant::mat_vec_groups(w.dtype, isa) : nullptr});
      continue;
    }
    // Tiles of whole row groups, or of up to 32 KiB of standard rows.
    const int64_t tile_rows = w.row_groups ? quant::kRowGroup
                                           : std::clamp<int64_t>(int64_t(32768 / std::max<size_t>(row_bytes, 1)), 1, 16);
    const int64_t job_tiles = (w.rows + tile_rows - 1) / tile_rows;
    vec_jobs.push_back({quant::mat_vec(w.dtype, isa), quant::vec_dot_rows(w.dtype, isa),
                        w.row_groups ? quant::mat_vec_groups(w.dtype, isa) : nullptr, w.dtype, w.row_groups, w.data,
                        row_bytes, w.rows, w.cols, acts, act_bytes, j.T, j.y, j.bias, tile_rows, tiles, job_tiles});
    tiles += job_tiles;
  }
  quant::gemm(gemm_jobs, pool, isa);
  if (vec_jobs.empty()) return;

  // The rest: all their row tiles in one loop, halves rebalanced by stealing: the threads' vCPUs run at
  // different speeds from moment to moment, and with fixed halves one waited for the other 10-15 % of
  // the loop's time (instrumented, both standard files). A row's result does not depend on its thread.
  pool.parallel_steal(size_t(tiles), [&](size_t tile, size_t, int) {
    // The job whose tiles hold this one: the last to start at or before it.
    const VecJob& j = *(std::upper_bound(vec_jobs.begin(), vec_jobs.end(), int64_t(tile),
                                         [](int64_t t, const VecJob& v) { return t < v.first_tile; }) - 1);
    const int64_t r0 = (int64_t(tile) - j.first_tile) * j.tile_rows;
    run_rows(j, r0, std::min(j.rows, r0 + j.tile_rows));
  });
}

}  // namespace r1
