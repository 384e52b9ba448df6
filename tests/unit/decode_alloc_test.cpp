// The decode loop allocates nothing: every operator new during token-by-token decoding is counted. Also
// the model-level contract of row groups (Model::regroup_rows): a cap it respects, logits unchanged, and a
// decode loop over them that allocates nothing.
#include <gtest/gtest.h>

#include <filesystem>

#include "allocation_counter.h"
#include "model/gguf_export.h"
#include "model/model.h"
#include "model/synth.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "kernels/cpu/row_groups.h"

namespace r1 {
namespace {

void expect_decode_allocates_nothing(const std::string& preset) {
  const std::string dir = (std::filesystem::temp_directory_path() / ("r1-alloc-" + preset)).string();
  SynthOptions so;
  so.preset = preset;
  so.out_dir = dir;
  so.seed = 3;
  so.dtype = "fp8";
  so.threads = 2;
  synthesize(so);
  auto model = Model::load(dir);
  ThreadPool pool(2);
  Session session(*model, pool, {.context = 64, .batch = 16});
  SamplingParams sp;
  sp.temperature = 0.8f;
  sp.top_k = 40;
  sp.top_p = 0.9f;
  sp.repetition_penalty = 1.1f;
  Sampler sampler(sp, model->config().vocab_size);
  std::vector<float> work(size_t(model->config().vocab_size));
  const std::vector<int32_t> prompt = {1, 5, 9, 200, 17};
  const float* logits = session.feed(prompt);  // prefill: scratch and per-thread buffers settle here

  const long before = test::allocations();
  for (int step = 0; step < 24; ++step) {
    std::copy(logits, logits + work.size(), work.begin());
    const int32_t next = sampler.sample(work.data());
    sampler.accept(next);
    logits = session.feed({&next, 1});
  }
  EXPECT_EQ(test::allocations() - before, 0) << preset << ": allocations during 24 decode steps";
  std::filesystem::remove_all(dir);
}

// Token-by-token logits of a session over `model`, and the allocations its decode steps made.
struct Decoded {
  std::vector<float> logits;
  long allocations = 0;
};
Decoded decode(const Model& model, ThreadPool& pool) {
  Session session(model, pool, {.context = 64, .batch = 16});
  const size_t V = size_t(model.config().vocab_size);
  Decoded out;
  out.logits.reserve(33 * V);  // the test's own buffer: grown before allocations are counted
  const float* logits = session.feed(std::vector<int32_t>{1, 5, 9, 200, 17});
  out.logits.assign(logits, logits + V);
  long before = 0;
  for (int step = 0; step < 32; ++step) {
    if (step == 8) before = test::allocations();  // the first steps grow the per-thread scratch to its size
    const int32_t next = int32_t((step * 7919 + 3) % model.config().vocab_size);
    logits = session.feed({&next, 1});
    out.logits.insert(out.logits.end(), logits, logits + V);
  }
  out.allocations = test::allocations() - before;
  return out;
}

TEST(RowGroups, RegroupedModelKeepsItsLogitsAndDecodesWithoutAllocating) {
  const auto tmp = std::filesystem::temp_directory_path() / "r1-row-groups";
  SynthOptions so;
  so.preset = "tiny-v3-k";  // widths of 256: K-quant matrices of 256-512 rows
  so.out_dir = (tmp / "hf").string();
  so.seed = 5;
  so.threads = 2;
  synthesize(so);
  ThreadPool pool(2);
  const std::string gguf = (tmp / "q4_k_m.gguf").string();
  {
    GgufExportOptions opt;
    opt.mix = quant_mix("q4_k_m");
    export_gguf(*Model::load(so.out_dir), opt, gguf, pool);
  }
  auto mapped = Model::load(gguf);
  auto grouped = Model::load(gguf);
  const WeightMatrix& gate = grouped->weights().layers[0].mlp.gate.w;
  ASSERT_EQ(gate.dtype, DType::Q4_K);
  EXPECT_EQ(grouped->regroup_rows(gate.bytes() - 1), 0u) << "a cap below one matrix copies nothing";
  EXPECT_FALSE(gate.row_groups);
  if (!quant::mat_vec_groups(DType::Q4_K, quant::best_isa())) GTEST_SKIP() << "no row-group kernels on this CPU";
  EXPECT_GT(grouped->regroup_rows(), gate.bytes());
  EXPECT_TRUE(gate.row_groups);
  const Decoded want = decode(*mapped, pool), got = decode(*grouped, pool);
  EXPECT_EQ(got.logits, want.logits);
  EXPECT_EQ(want.allocations, 0);
  EXPECT_EQ(got.allocations, 0);
  std::filesystem::remove_all(tmp);
}

TEST(DecodeLoop, AllocatesNothingMla) { expect_decode_allocates_nothing("tiny-v3"); }
TEST(DecodeLoop, AllocatesNothingGqa) { expect_decode_allocates_nothing("tiny-qwen2"); }

}  // namespace
}  // namespace r1
