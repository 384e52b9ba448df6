#include "model/model.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu/row_groups.h"

namespace r1 {

std::unique_ptr<Model> Model::load(const std::string& dir) {
  auto m = std::unique_ptr<Model>(new Model());
  m->dir_ = std::make_unique<ModelDir>(dir);
  const bool gguf = m->dir_->gguf() != nullptr;
  m->cfg_ = parse_model_config(m->dir_->config(), gguf ? dir : (std::filesystem::path(dir) / "config.json").string());
  if (gguf) {
    const GgufQuirks& q = m->dir_->quirks();
    if (q.rope_pairs_interleaved) m->cfg_.rope.interleaved = true;
    if (!q.rope_freq_factors.empty()) {
      if (int64_t(q.rope_freq_factors.size()) != m->cfg_.rope.dim / 2) {
        fail("{}: tensor 'rope_freqs.weight' has {} factors, expected {} (half the rotary dimension)", dir,
             q.rope_freq_factors.size(), m->cfg_.rope.dim / 2);
      }
      m->cfg_.rope.freq_factors = q.rope_freq_factors;
    }
  }
  m->w_ = load_weights(*m->dir_, m->cfg_);
  m->rope_ = make_rope_table(m->cfg_.rope);
  return m;
}

int64_t Model::active_params() const {
  const ModelConfig& c = cfg_;
  int64_t inactive = 0;
  if (c.n_routed_experts > 0) {
    const int64_t per_expert = 3 * c.hidden_size * c.moe_intermediate_size;
    for (const auto& L : w_.layers) {
      if (L.is_moe) inactive += (c.n_routed_experts - c.num_experts_per_tok) * per_expert;
    }
  }
  // An untied embedding contributes one row per token; the head is always used in full.
  if (w_.lm_head.data != w_.embed.data) inactive += (c.vocab_size - 1) * c.hidden_size;
  return w_.param_count - w_.mtp_param_count - inactive;
}

}  // namespace r1

namespace r1 {

double Model::weight_bytes_per_token() const {
  const ModelConfig& c = cfg_;
  auto mlp_bytes = [](const MlpWeights& m) { return double(m.gate.w.bytes() + m.up.w.bytes() + m.down.w.bytes()); };
  auto linear_bytes = [](const Linear& l) { return double(l.w.bytes()); };
  double total = double(w_.embed.bytes()) / double(c.vocab_size) + double(w_.lm_head.bytes());
  for (const auto& L : w_.layers) {
    const MlaWeights& a = L.mla;
    const GqaWeights& g = L.gqa;
    total += linear_bytes(a.q_a) + linear_bytes(a.q_b) + linear_bytes(a.q) + linear_bytes(a.kv_a) +
             double(a.kv_b.bytes() + a.k_b_t.bytes() + a.v_b.bytes()) + linear_bytes(a.o);
    total += linear_bytes(g.q) + linear_bytes(g.k) + linear_bytes(g.v) + linear_bytes(g.o);
    if (!L.is_moe) {
      total += mlp_bytes(L.mlp);
      continue;
    }
    total += double(L.moe.router.bytes());
    double experts = 0;
    for (const auto& e : L.moe.experts) experts += mlp_bytes(e);
    total += experts * double(c.num_experts_per_tok) / double(c.n_routed_experts);
    if (L.moe.has_shared) total += mlp_bytes(L.moe.shared);
  }
  return total;
}

}  // namespace r1

namespace r1 {

size_t Model::regroup_rows(size_t max_bytes) {
  const quant::Isa isa = quant::best_isa();
  std::vector<WeightMatrix*> todo;
  const auto add = [&](WeightMatrix& w) {
    if (!w.empty() && !w.row_groups && quant::mat_vec_groups(w.dtype, isa)) {  // null without a layout
      todo.push_back(&w);
    }
  };
  const auto add_mlp = [&](MlpWeights& m) {
    add(m.gate.w);
    add(m.up.w);
    add(m.down.w);
  };
  add(w_.embed);
  add(w_.lm_head);
  for (LayerWeights& L : w_.layers) {
    for (Linear* l : {&L.mla.q_a, &L.mla.q_b, &L.mla.q, &L.mla.kv_a, &L.mla.o, &L.gqa.q, &L.gqa.k, &L.gqa.v, &L.gqa.o}) {
      add(l->w);
    }
    add_mlp(L.mlp);
    for (MlpWeights& e : L.moe.experts) add_mlp(e);
    add_mlp(L.moe.shared);
  }
  // One copy per distinct matrix (a tied head is the embedding), 64-byte aligned.
  std::map<const uint8_t*, std::pair<size_t, const WeightMatrix*>> copies;  // by the file bytes
  size_t total = 0;
  const auto plan = [&] {
    copies.clear();
    total = 0;
    for (const WeightMatrix* w : todo) {
      if (copies.emplace(w->data, std::pair(total, w)).second) {
        total += (quant::row_groups_bytes(w->dtype, w->rows, w->cols) + 63) / 64 * 64;
      }
    }
  };
  plan();
  if (total > max_bytes) {  // without the layouts larger than the file's (the codebook types'), if that fits
    std::erase_if(todo, [](const WeightMatrix* w) { return quant::row_groups_bytes(w->dtype, w->rows, w->cols) > w->bytes(); });
    plan();
  }
  if (total == 0 || total > max_bytes) return 0;
  regrouped_ = ZeroedBuffer(total);
  auto* base = reinterpret_cast<uint8_t*>(regrouped_.data());
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  ThreadPool pool(0);  // the copy's page faults and shuffles on every core: load time is its cost
  // A matrix's file pages are released as its copy advances, ~16 MiB at a time, so that the weights are
  // in memory about once throughout (a 190 MB head copied whole raised the peak by that much).
  const auto release = [page](const uint8_t* from, const uint8_t* to) {
    const uintptr_t first = (reinterpret_cast<uintptr_t>(from) + page - 1) / page * page;
    const uintptr_t last = reinterpret_cast<uintptr_t>(to) / page * page;
    if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  };
  for (const auto& [data, copy] : copies) {
    const WeightMatrix& w = *copy.second;
    const int64_t groups = (w.rows + quant::kRowGroup - 1) / quant::kRowGroup;
    const size_t group_bytes = size_t(quant::kRowGroup) * dtype_row_bytes(w.dtype, w.cols);
    const int64_t step = std::max<int64_t>(1, int64_t((size_t(16) << 20) / group_bytes));
    for (int64_t g0 = 0; g0 < groups; g0 += step) {
      const int64_t g1 = std::min(groups, g0 + step);
      pool.parallel_for(size_t(g1 - g0), [&, src = data, dst = base + copy.first](size_t a, size_t b, int) {
        quant::to_row_groups(w.dtype, src, w.rows, w.cols, dst, g0 + int64_t(a), g0 + int64_t(b));
      });
      // Pages shared with the next chunk stay (a page released early would only be read back).
      release(data + size_t(g0) * group_bytes, g1 == groups ? data + w.bytes() : data + size_t(g1) * group_bytes);
    }
  }
  for (WeightMatrix* w : todo) {
    w->data = base + copies.at(w->data).first;
    w->row_groups = true;
  }
  return total;
}

}  // namespace r1
