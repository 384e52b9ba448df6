// Micro-benchmark of the decode hot path: one token through a quantized weight matrix (matmul with
// T = 1), per weight type, kernel instruction set and thread count. Reports GB/s of weight bytes read
// and the percentage of the machine's read bandwidth, measured in the same process just before each
// measurement (bench/RESULTS.md).
//
//   r1_bench_quant [--types Q4_K,Q6_K] [--shapes 8960x1536,1536x8960] [--threads 1,2]
//                  [--isa all|best|scalar,avx2,neon,...] [--footprint-mb 1024] [--seconds 1.5] [--tokens 1]
//                  [--layouts standard,groups]
//
// Shapes are rows x cols (out x in features). Each matrix is replicated until the copies fill
// --footprint-mb, and the timed loop walks through the copies, so the weights come from DRAM, not from
// the (large, shared) last-level cache, as they do in a real decode step. `groups` runs the types that
// have a row-group layout (kernels/cpu/row_groups.h) in it too, as r1 loads them for decoding.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quant_matmul.h"
#include "kernels/cpu/quants.h"
#include "kernels/cpu/row_groups.h"
#include "kernels/cpu/stream.h"

namespace {

using namespace r1;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::optional<DType> type_named(const std::string& name) {
  if (name == "BF16") return DType::BF16;
  if (name == "F32") return DType::F32;
  for (uint32_t id = 0; id < 64; ++id) {
    if (ggml_type_name(id) == name) return dtype_from_ggml(id);
  }
  return std::nullopt;
}

// One matrix of Gaussian weights in `t`, replicated to fill `footprint` bytes.
struct Replicas {
  std::vector<uint8_t> bytes;
  std::vector<WeightMatrix> copies;
  size_t matrix_bytes;  // of one copy, in its layout (row groups of IQ1_S take more than the file)
};

Replicas make_replicas(DType t, int64_t rows, int64_t cols, size_t footprint, bool row_groups) {
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 0.02f);
  const size_t row_bytes = dtype_is_block(t) ? dtype_row_bytes(t, cols) : size_t(cols) * dtype_size(t);
  size_t matrix_bytes = row_bytes * size_t(rows);
  std::vector<uint8_t> one(matrix_bytes);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = g(rng);
    uint8_t* dst = one.data() + size_t(r) * row_bytes;
    if (dtype_is_block(t) && !can_quantize(t)) {
      // The codebook types r1 reads but does not write: random blocks with a small fp16 scale in the
      // first two bytes (where all but IQ1_M keep it); their speed does not depend on the values.
      for (size_t i = 0; i < row_bytes; ++i) dst[i] = uint8_t(rng());
      const uint16_t d = f32_to_f16(0.01f);
      for (size_t b = 0; b < row_bytes; b += size_t(dtype_block_bytes(t))) std::memcpy(dst + b, &d, 2);
    } else if (dtype_is_block(t)) {
      quantize_row(t, row.data(), dst, cols);
    } else if (t == DType::BF16) {
      for (int64_t c = 0; c < cols; ++c) {
        const uint16_t h = f32_to_bf16(row[size_t(c)]);
        std::memcpy(dst + 2 * c, &h, 2);
      }
    } else {
      std::memcpy(dst, row.data(), size_t(cols) * 4);
    }
  }
  if (row_groups) {  // IQ1_S's layout is larger than its file's (row_groups.h)
    std::vector<uint8_t> grouped(quant::row_groups_bytes(t, rows, cols));
    quant::to_row_groups(t, one.data(), rows, cols, grouped.data());
    one.swap(grouped);
    matrix_bytes = one.size();
  }
  Replicas rep;
  rep.matrix_bytes = matrix_bytes;
  const size_t n = std::max<size_t>(1, footprint / matrix_bytes);
  rep.bytes.resize(n * matrix_bytes);
  for (size_t i = 0; i < n; ++i) std::memcpy(rep.bytes.data() + i * matrix_bytes, one.data(), matrix_bytes);
  for (size_t i = 0; i < n; ++i) {
    WeightMatrix w;
    w.name = "bench";
    w.dtype = t;
    w.rows = rows;
    w.cols = cols;
    w.data = rep.bytes.data() + i * matrix_bytes;
    w.row_groups = row_groups;
    rep.copies.push_back(w);
  }
  return rep;
}

struct Run {
  double gbps, us_per_call;
};

// Best of several passes over all copies; each pass reads every copy once.
template <class Call>
Run time_passes(const Replicas& rep, double seconds, Call&& call) {
  using clock = std::chrono::steady_clock;
  for (const auto& w : rep.copies) call(w);  // warm-up: page faults, scratch
  const double bytes = double(rep.matrix_bytes) * double(rep.copies.size());
  double best = 1e30;
  const auto start = clock::now();
  int passes = 0;
  do {
    const auto t0 = clock::now();
    for (const auto& w : rep.copies) call(w);
    best = std::min(best, std::chrono::duration<double>(clock::now() - t0).count());
    ++passes;
  } while (passes < 3 || std::chrono::duration<double>(clock::now() - start).count() < seconds);
  return {bytes / best / 1e9, best / double(rep.copies.size()) * 1e6};
}

}  // namespace

int main(int argc, char** argv) {
  std::string types = "Q8_0,Q4_K,Q6_K,Q5_K,Q4_0,IQ4_XS,IQ4_NL,Q4_1,Q5_0,Q5_1,Q3_K,Q2_K,BF16";
  std::string shapes = "8960x1536,1536x8960,10944x2048,2048x10944";
  std::string threads = "1,2", isas = "best", layouts = "standard";
  double seconds = 1.5, footprint_mb = 1024;
  int64_t tokens = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--types") types = v;
    else if (k == "--shapes") shapes = v;
    else if (k == "--threads") threads = v;
    else if (k == "--isa") isas = v;
    else if (k == "--seconds") seconds = std::atof(v.c_str());
    else if (k == "--footprint-mb") footprint_mb = std::atof(v.c_str());
    else if (k == "--tokens") tokens = std::atol(v.c_str());
    else if (k == "--layouts") layouts = v;
    else {
      std::fprintf(stderr, "unknown option %s (see the header of bench/quant_matvec.cpp)\n", k.c_str());
      return 2;
    }
  }
  std::vector<quant::Isa> isa_list;
  for (const auto& name : split(isas, ',')) {
    for (quant::Isa isa : quant::kAllIsas) {
      const bool wanted = name == "all" || name == quant::isa_name(isa) || (name == "best" && isa == quant::best_isa());
      if (wanted && quant::isa_supported(isa) &&
          std::find(isa_list.begin(), isa_list.end(), isa) == isa_list.end()) {
        isa_list.push_back(isa);
      }
    }
  }

  std::vector<std::unique_ptr<ThreadPool>> pools;
  for (const auto& thread_count : split(threads, ',')) {
    pools.push_back(std::make_unique<ThreadPool>(std::atoi(thread_count.c_str())));
  }
  std::printf("| shape (rows x cols) | type | kernels | threads | MB per matrix | us per call | GB/s | read bw GB/s | %% of read bw |\n");
  std::printf("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& shape : split(shapes, ',')) {
    const auto dims = split(shape, 'x');
    const int64_t rows = std::atol(dims.at(0).c_str()), cols = std::atol(dims.at(1).c_str());
    std::vector<float> x(size_t(tokens * cols)), y(size_t(tokens * rows));
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i * 7919 % 255) - 127) / 64.0f;
    for (const auto& type_name : split(types, ',')) {
      const auto t = type_named(type_name);
      if (!t) {
        std::fprintf(stderr, "unknown type %s\n", type_name.c_str());
        return 2;
      }
      for (const auto& layout : split(layouts, ',')) {
      const bool grouped = layout == "groups";
      if (grouped && !quant::row_groups_layout(*t)) continue;
      const Replicas rep = make_replicas(*t, rows, cols, size_t(footprint_mb * 1e6), grouped);
      const double mb = double(rep.matrix_bytes) / 1e6;
      for (const auto& pool_ptr : pools) {
        ThreadPool& pool = *pool_ptr;
        // The roofline, measured right before (this host's bandwidth changes by the minute): best of 3
        // passes over 512 MiB with the same threads.
        const double bw = measure_read_bandwidth(pool, size_t(1) << 29, 3);
        auto print = [&](const std::string& kernels, Run r) {
          std::printf("| %lldx%lld | %s | %s | %d | %.2f | %.0f | %.1f | %.1f | %.0f %% |\n", (long long)rows,
                      (long long)cols, type_name.c_str(), kernels.c_str(), pool.size(), mb, r.us_per_call, r.gbps, bw,
                      100 * r.gbps / bw);
          std::fflush(stdout);
        };
        if (quant_matmul_supported(*t)) {
          for (quant::Isa isa : isa_list) {
            print(std::string(quant::isa_name(isa)) + (grouped ? " (row groups)" : ""),
                  time_passes(rep, seconds, [&](const WeightMatrix& w) {
                    quant_matmul(w, x.data(), tokens, y.data(), pool, nullptr, isa);
                  }));
          }
        } else {
          print("float", time_passes(rep, seconds, [&](const WeightMatrix& w) { matmul(w, x.data(), tokens, y.data(), pool); }));
        }
      }
      }
    }
  }
  return 0;
}
