// The decode loop allocates nothing: every operator new during token-by-token decoding is counted. Also
// the model-level contract of row groups (Model::regroup_rows): a cap it respects (leaving the codebook
// types, whose layout is larger than the file, out first), logits unchanged, and a decode loop over them
// that allocates nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "allocation_counter.h"
#include "core/aligned_vector.h"
#include "core/mapped_file.h"
#include "formats/gguf.h"
#include "kernels/cpu/quant_blocks_iq.h"
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

// A Q4_K_M file of the tiny V3 shape with widths of 256 (K-quant matrices of 256-512 rows), in `tmp`.
std::string tiny_q4_k_m(const std::filesystem::path& tmp, ThreadPool& pool) {
  SynthOptions so;
  so.preset = "tiny-v3-k";
  so.out_dir = (tmp / "hf").string();
  so.seed = 5;
  so.threads = 2;
  synthesize(so);
  const std::string gguf = (tmp / "q4_k_m.gguf").string();
  GgufExportOptions opt;
  opt.mix = quant_mix("q4_k_m");
  export_gguf(*Model::load(so.out_dir), opt, gguf, pool);
  return gguf;
}

TEST(RowGroups, RegroupedModelKeepsItsLogitsAndDecodesWithoutAllocating) {
  const auto tmp = std::filesystem::temp_directory_path() / "r1-row-groups";
  ThreadPool pool(2);
  const std::string gguf = tiny_q4_k_m(tmp, pool);
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

// The codebook types' row groups take more bytes than the file (row_groups.h). Where everything would
// not fit under the cap, regroup_rows leaves those matrices in the file's layout and regroups the rest;
// the model then runs both layouts side by side with unchanged logits.
TEST(RowGroups, ACapTooSmallForTheCodebookLayoutsRegroupsTheOtherMatrices) {
  const auto tmp = std::filesystem::temp_directory_path() / "r1-row-groups-iq";
  ThreadPool pool(2);
  const std::string q4 = tiny_q4_k_m(tmp, pool), iq = (tmp / "iq2_xxs_gate.gguf").string();
  {  // the same file with layer 0's gate as IQ2_XXS (r1 quantizes to no codebook type): random codes, d = 2^-8
    const MappedFile file(q4);
    const GgufHeader h = parse_gguf_header(file.data(), file.size(), q4);
    GgufWriter w;
    for (const std::string& key : h.key_order) w.set(key, h.metadata.at(key));
    std::mt19937 rng(21);
    for (const GgufTensorInfo& t : h.tensors) {
      if (t.name != "blk.0.ffn_gate.weight") {
        const uint8_t* src = file.data() + h.data_offset + t.offset;
        w.add_tensor(t.name, t.dtype, t.ne, [src](uint8_t* dst, size_t n) { std::memcpy(dst, src, n); });
        continue;
      }
      w.add_tensor(t.name, DType::IQ2_XXS, t.ne, [&rng](uint8_t* dst, size_t n) {
        for (size_t b = 0; b < n / sizeof(quant::BlockIQ2_XXS); ++b) {
          quant::BlockIQ2_XXS block;
          block.d = 0x1c00;  // fp16 2^-8
          for (uint16_t& q : block.qs) q = uint16_t(rng());
          std::memcpy(dst + b * sizeof block, &block, sizeof block);
        }
      });
    }
    w.write(iq);
  }
  const quant::Isa isa = quant::best_isa();
  if (!quant::mat_vec_groups(DType::Q4_K, isa) || !quant::mat_vec_groups(DType::IQ2_XXS, isa)) {
    GTEST_SKIP() << "no row-group kernels on this CPU";
  }
  auto mapped = Model::load(iq);
  const size_t everything = Model::load(iq)->regroup_rows();
  const WeightMatrix& g = mapped->weights().layers[0].mlp.gate.w;
  ASSERT_EQ(g.dtype, DType::IQ2_XXS);
  const size_t codebook = (quant::row_groups_bytes(g.dtype, g.rows, g.cols) + 63) / 64 * 64;
  ASSERT_GT(quant::row_groups_bytes(g.dtype, g.rows, g.cols), g.bytes());
  ASSERT_GT(everything, codebook);

  auto grouped = Model::load(iq);
  EXPECT_EQ(grouped->regroup_rows(everything - 1), everything - codebook);
  const LayerWeights& L = grouped->weights().layers[0];
  EXPECT_FALSE(L.mlp.gate.w.row_groups);
  EXPECT_TRUE(L.mlp.up.w.row_groups);
  EXPECT_TRUE(L.mlp.down.w.row_groups);
  const Decoded want = decode(*mapped, pool), got = decode(*grouped, pool);
  EXPECT_EQ(got.logits, want.logits);
  EXPECT_EQ(got.allocations, 0);
  // With room for everything, the codebook matrix is regrouped too.
  auto all = Model::load(iq);
  EXPECT_EQ(all->regroup_rows(everything), everything);
  EXPECT_TRUE(all->weights().layers[0].mlp.gate.w.row_groups);
  EXPECT_EQ(decode(*all, pool).logits, want.logits);
  std::filesystem::remove_all(tmp);
}

// The counter sees every kind of allocation the engine makes, the cache-line aligned ones included (the
// attention's scratch is an AlignedVector): else the tests below could not fail for them.
TEST(DecodeLoop, TheCounterSeesPlainAndAlignedAllocations) {
  const long before = test::allocations();
  { std::vector<float> plain(100); }
  EXPECT_EQ(test::allocations(), before + 1);
  { AlignedVector<float> aligned(100); }
  EXPECT_EQ(test::allocations(), before + 2);
}

TEST(DecodeLoop, AllocatesNothingMla) { expect_decode_allocates_nothing("tiny-v3"); }
TEST(DecodeLoop, AllocatesNothingGqa) { expect_decode_allocates_nothing("tiny-qwen2"); }

}  // namespace
}  // namespace r1
