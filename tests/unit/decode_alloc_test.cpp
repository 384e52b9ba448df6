// The decode loop allocates nothing: every operator new during token-by-token decoding is counted.
#include <gtest/gtest.h>

#include <filesystem>

#include "allocation_counter.h"
#include "model/model.h"
#include "model/synth.h"
#include "runtime/sampler.h"
#include "runtime/session.h"

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

TEST(DecodeLoop, AllocatesNothingMla) { expect_decode_allocates_nothing("tiny-v3"); }
TEST(DecodeLoop, AllocatesNothingGqa) { expect_decode_allocates_nothing("tiny-qwen2"); }

}  // namespace
}  // namespace r1
