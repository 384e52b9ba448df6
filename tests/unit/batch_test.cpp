// Continuous batching is exact: a sequence's logits and tokens are bit-identical whether it runs alone
// (Session, contiguous cache) or inside a batch with other sequences (one Forward pass over several
// segments, paged caches from a shared pool, prompt prefixes reused from the prefix cache).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <thread>

#include "core/error.h"
#include "model/model.h"
#include "model/synth.h"
#include "runtime/generate.h"
#include "runtime/kv_blocks.h"
#include "runtime/scheduler.h"
#include "runtime/session.h"

namespace r1 {
namespace {

// A directory per test: ctest runs the tests of this file in parallel processes.
std::unique_ptr<Model> tiny(const std::string& preset) {
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::string name = "r1-batch-" + preset + "-" + test;
  std::replace(name.begin(), name.end(), '/', '-');
  const std::string dir = (std::filesystem::temp_directory_path() / name).string();
  SynthOptions so;
  so.preset = preset;
  so.out_dir = dir;
  so.seed = 11;
  so.dtype = "bf16";
  so.threads = 2;
  synthesize(so);
  return Model::load(dir);
}

std::vector<int32_t> random_tokens(std::mt19937& rng, size_t n, int64_t vocab) {
  std::uniform_int_distribution<int32_t> d(0, int32_t(vocab - 1));
  std::vector<int32_t> t(n);
  for (auto& x : t) x = d(rng);
  return t;
}

// Each sequence's per-token logits, computed alone through a Session.
std::vector<std::vector<float>> alone(const Model& m, ThreadPool& pool, const std::vector<std::vector<int32_t>>& seqs,
                                      KvType cache_type) {
  std::vector<std::vector<float>> out;
  for (const auto& s : seqs) {
    Session session(m, pool, {.context = 256, .batch = 64, .cache_type = cache_type});
    std::vector<float> logits;
    session.feed_all_logits(s, logits);
    out.push_back(std::move(logits));
  }
  return out;
}

// The sequences fed through `fwd` in uneven chunks, several sequences per forward call (at most 48 tokens),
// caches[i] for sequence i: each sequence's per-token logits and the sizes of the chunks it went in.
struct Batched {
  std::vector<std::vector<float>> logits;
  std::vector<std::vector<int64_t>> chunks;
};
Batched run_batched(Forward& fwd, const std::vector<std::vector<int32_t>>& seqs, std::vector<KvCache>& caches, size_t V,
                    ThreadPool& pool) {
  Batched out{std::vector<std::vector<float>>(seqs.size()), std::vector<std::vector<int64_t>>(seqs.size())};
  std::vector<size_t> done(seqs.size(), 0);
  std::vector<float> logits(48 * V);
  std::mt19937 chunk_rng(3);
  for (;;) {
    std::vector<ForwardSegment> segs;
    std::vector<size_t> who;
    int64_t budget = 48;
    for (size_t i = 0; i < seqs.size() && budget > 0; ++i) {
      if (done[i] == seqs[i].size()) continue;
      const int64_t n = std::min<int64_t>({int64_t(seqs[i].size() - done[i]), budget, 1 + int64_t(chunk_rng() % 13)});
      segs.push_back({seqs[i].data() + done[i], n, &caches[i], Logits::All});
      who.push_back(i);
      budget -= n;
    }
    if (segs.empty()) return out;
    fwd.run(segs, logits.data(), pool);
    size_t row = 0;
    for (size_t k = 0; k < segs.size(); ++k) {
      const size_t i = who[k], n = size_t(segs[k].n);
      out.logits[i].insert(out.logits[i].end(), logits.begin() + long(row * V), logits.begin() + long((row + n) * V));
      out.chunks[i].push_back(segs[k].n);
      done[i] += n;
      row += n;
    }
  }
}

// Both attention kinds (MLA, GQA), over F32 and BF16 caches.
class BatchedForward : public ::testing::TestWithParam<std::tuple<std::string, KvType>> {};

TEST_P(BatchedForward, SegmentsMatchSeparateSessions) {
  const auto [preset, cache_type] = GetParam();
  auto model = tiny(preset);
  const ModelConfig& cfg = model->config();
  const size_t V = size_t(cfg.vocab_size);
  ThreadPool pool(2);
  std::mt19937 rng(7);
  // Lengths cross block (16) and attention-chunk boundaries.
  const std::vector<size_t> lengths = {1, 5, 17, 40, 33};
  std::vector<std::vector<int32_t>> seqs;
  for (size_t n : lengths) seqs.push_back(random_tokens(rng, n, cfg.vocab_size));
  const auto want = alone(*model, pool, seqs, cache_type);

  // Paged caches whose blocks come from one pool in scrambled order.
  KvBlockManager blocks(cfg, 64, cache_type);
  std::vector<KvCache> caches;
  std::vector<KvBlockManager::Holding> held(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) caches.push_back(KvCache::paged(cfg, 256, cache_type));
  for (size_t i = seqs.size(); i-- > 0;) ASSERT_TRUE(blocks.reserve(caches[i], held[i], 64));

  // Feed the sequences in uneven chunks, several sequences per forward call, every token's logits.
  Forward fwd(*model, 48, 256, pool.size());
  const Batched got = run_batched(fwd, seqs, caches, V, pool);
  for (size_t i = 0; i < seqs.size(); ++i) {
    ASSERT_EQ(want[i].size(), got.logits[i].size());
    for (size_t t = 0; t < seqs[i].size(); ++t) {
      ASSERT_EQ(0, std::memcmp(got.logits[i].data() + t * V, want[i].data() + t * V, V * sizeof(float)))
          << "sequence " << i << " token " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, BatchedForward,
                         ::testing::Combine(::testing::Values("tiny-v3", "tiny-qwen2"),
                                            ::testing::Values(KvType::F32, KvType::BF16)),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param) + "_" + std::string(kv_type_name(std::get<1>(info.param)));
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The Q8 latent cache (MLA only).
INSTANTIATE_TEST_SUITE_P(ArchsQ8, BatchedForward, ::testing::Combine(::testing::Values("tiny-v3"), ::testing::Values(KvType::Q8)),
                         [](const auto&) { return std::string("tiny_v3_q8"); });

// Decompressed MLA prefill (MlaPrefill::Decompressed): a chunk of 2+ tokens attends in the naive form, so a
// sequence's bits depend on how its prompt was chunked -- but not on what else is in the batch. Batched with
// other sequences (one-token segments attending absorbed between decompressed ones), each sequence gives the
// bits of the same chunks run alone.
TEST(BatchedForwardDecompressed, SegmentsMatchTheSameChunksAlone) {
  auto model = tiny("tiny-v3");
  const ModelConfig& cfg = model->config();
  const size_t V = size_t(cfg.vocab_size);
  ThreadPool pool(2);
  std::mt19937 rng(5);
  std::vector<std::vector<int32_t>> seqs;
  for (size_t n : {1, 6, 19, 40, 33}) seqs.push_back(random_tokens(rng, n, cfg.vocab_size));
  for (const KvType cache_type : {KvType::F32, KvType::Q8}) {
    std::vector<KvCache> caches;
    for (size_t i = 0; i < seqs.size(); ++i) caches.push_back(KvCache(cfg, 64, cache_type));
    Forward fwd(*model, 48, 64, pool.size(), MlaPrefill::Decompressed);
    const Batched got = run_batched(fwd, seqs, caches, V, pool);
    for (size_t i = 0; i < seqs.size(); ++i) {
      KvCache cache(cfg, 64, cache_type);
      Forward single(*model, 48, 64, pool.size(), MlaPrefill::Decompressed);
      std::vector<float> want;
      size_t t0 = 0;
      for (const int64_t n : got.chunks[i]) {
        std::vector<float> out(size_t(n) * V);
        single.run(seqs[i].data() + t0, n, cache, out.data(), true, pool);
        want.insert(want.end(), out.begin(), out.end());
        t0 += size_t(n);
      }
      ASSERT_EQ(want.size(), got.logits[i].size());
      EXPECT_EQ(0, std::memcmp(want.data(), got.logits[i].data(), want.size() * sizeof(float)))
          << "sequence " << i << ", cache " << kv_type_name(cache_type);
    }
  }
}

// Auto picks the cheaper form: over an F32 cache decompressed for long chunks, fresh or deep in the context;
// absorbed for decode and for short chunks deep in the context; over a Q8 cache (int8 products, a quarter
// of the cost) absorbed deep in the context (V2-Lite's attention shape).
TEST(DecompressedMla, AutoPicksTheCheaperForm) {
  ModelConfig c;
  c.num_heads = 16, c.kv_lora_rank = 512, c.qk_rope_head_dim = 64, c.qk_nope_head_dim = 128, c.v_head_dim = 128;
  const auto decompressed = [&](int64_t n, int64_t pos0, KvType cache) {
    return DecompressedMla::decompressed_cost(c, n, pos0) < DecompressedMla::absorbed_cost(c, n, pos0, cache);
  };
  EXPECT_TRUE(decompressed(512, 0, KvType::F32));
  EXPECT_TRUE(decompressed(512, 16384, KvType::F32));
  EXPECT_TRUE(decompressed(16, 0, KvType::F32));
  EXPECT_FALSE(decompressed(1, 4096, KvType::F32));
  EXPECT_FALSE(decompressed(16, 16384, KvType::F32));
  EXPECT_TRUE(decompressed(512, 0, KvType::BF16));
  EXPECT_FALSE(decompressed(512, 16384, KvType::Q8));
  // At 512 fresh tokens: 512·16·512·256 products either way; 131,328 (= 512·513 / 2) rows attended,
  // 16·320 multiply-adds each decompressed, 16·1,088 absorbed, a quarter of that over int8 rows.
  EXPECT_DOUBLE_EQ(DecompressedMla::decompressed_cost(c, 512, 0), 512.0 * 16 * 512 * 256 + 131328.0 * 16 * 320);
  EXPECT_DOUBLE_EQ(DecompressedMla::absorbed_cost(c, 512, 0, KvType::F32), 512.0 * 16 * 512 * 256 + 131328.0 * 16 * 1088);
  EXPECT_DOUBLE_EQ(DecompressedMla::absorbed_cost(c, 512, 0, KvType::Q8), 512.0 * 16 * 512 * 256 + 131328.0 * 16 * 1088 / 4);
}

TEST(KvBlocks, PrefixReuseRefcountsAndEviction) {
  ModelConfig cfg;
  cfg.num_layers = 1;
  cfg.is_mla = true;
  cfg.kv_lora_rank = 4;
  cfg.qk_rope_head_dim = 2;
  KvBlockManager m(cfg, 4);
  std::vector<int32_t> prompt(40);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t(i);

  KvCache a = KvCache::paged(cfg, 64);
  KvBlockManager::Holding ha;
  EXPECT_EQ(0, m.attach_prefix(prompt, a, ha));
  ASSERT_TRUE(m.reserve(a, ha, 40));
  EXPECT_EQ(3, m.used_blocks());
  m.publish(prompt, 40, ha);  // blocks 0 and 1 are full

  // Same first 32 tokens: both full blocks are shared.
  KvCache b = KvCache::paged(cfg, 64);
  KvBlockManager::Holding hb;
  std::vector<int32_t> other = prompt;
  other[35] = 999;
  EXPECT_EQ(32, m.attach_prefix(other, b, hb));
  EXPECT_EQ(a.block(0), b.block(0));
  EXPECT_EQ(a.block(1), b.block(1));
  EXPECT_EQ(3, m.used_blocks());
  EXPECT_FALSE(m.reserve(b, hb, 64));  // needs 2 more, only 1 left
  ASSERT_TRUE(m.reserve(b, hb, 48));
  EXPECT_EQ(0, m.available_blocks());

  // A prompt of exactly 32 matching tokens reuses one block only: its last token must be computed.
  KvCache c = KvCache::paged(cfg, 64);
  KvBlockManager::Holding hc;
  EXPECT_EQ(16, m.attach_prefix(std::span(prompt).first(32), c, hc));
  m.release(hc);

  m.release(ha);
  m.release(hb);
  EXPECT_EQ(0, m.used_blocks());
  EXPECT_EQ(2, m.cached_blocks());
  // All four blocks can be taken again: the cached ones are evicted when needed.
  KvCache d = KvCache::paged(cfg, 64);
  KvBlockManager::Holding hd;
  std::vector<int32_t> fresh(64, 5);
  EXPECT_EQ(0, m.attach_prefix(fresh, d, hd));
  ASSERT_TRUE(m.reserve(d, hd, 64));
  EXPECT_EQ(0, m.cached_blocks());
  m.release(hd);
  // The evicted prefix is gone.
  KvCache e = KvCache::paged(cfg, 64);
  KvBlockManager::Holding he;
  EXPECT_EQ(0, m.attach_prefix(prompt, e, he));
  EXPECT_EQ(m.lookup_tokens(), 40 + 40 + 32 + 64 + 40);
  EXPECT_EQ(m.hit_tokens(), 32 + 16);
}

// Greedy tokens of 16 requests submitted together equal each request generated alone; a second wave
// with the same prompts is served partly from the prefix cache and still gives the same tokens.
TEST(Scheduler, BatchOf16EqualsAloneAndPrefixCacheIsExact) {
  auto model = tiny("tiny-v3");
  const ModelConfig& cfg = model->config();
  ThreadPool pool(2);
  std::mt19937 rng(5);
  const auto system = random_tokens(rng, 37, cfg.vocab_size);  // a shared "system prompt"
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 16; ++i) {
    auto p = system;
    const auto tail = random_tokens(rng, size_t(1 + i * 3), cfg.vocab_size);
    p.insert(p.end(), tail.begin(), tail.end());
    prompts.push_back(p);
  }
  std::vector<std::vector<int32_t>> want;
  for (const auto& p : prompts) {
    Session session(*model, pool, {.context = 160, .batch = 32});
    GenerateOptions go;
    go.max_tokens = 12 + int64_t(p.size() % 7);
    go.sampling.temperature = 0;
    want.push_back(generate(session, p, go).tokens);
  }

  Scheduler sched(*model, pool, {.parallel = 16, .context = 160, .batch_tokens = 64, .queue = 64});
  for (int wave = 0; wave < 2; ++wave) {
    std::vector<std::shared_ptr<SequenceStream>> streams;
    for (const auto& p : prompts) {
      SequenceRequest r;
      r.prompt = p;
      r.max_tokens = 12 + int64_t(p.size() % 7);
      r.sampling.temperature = 0;
      streams.push_back(sched.submit(std::move(r)));
      ASSERT_NE(nullptr, streams.back());
    }
    for (size_t i = 0; i < streams.size(); ++i) {
      std::vector<int32_t> got;
      TokenEvent e;
      while (!streams[i]->finished()) {
        if (streams[i]->next(e, std::chrono::milliseconds(100))) got.push_back(e.token);
      }
      EXPECT_EQ(want[i], got) << "wave " << wave << " request " << i;
      EXPECT_EQ(FinishReason::Length, streams[i]->reason());
      if (wave == 1) {
        EXPECT_GE(streams[i]->cached_tokens(), 32) << "request " << i;
      }
    }
  }
  // The statistics are refreshed after each step: wait for the one after the last sequence ended.
  SchedulerStats st = sched.stats();
  for (int i = 0; i < 200 && (st.running != 0 || st.kv_blocks_used != 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    st = sched.stats();
  }
  EXPECT_GT(st.max_batch, 8);  // the requests really ran together
  EXPECT_GT(st.prefix_hit_tokens, 16 * 32);
  EXPECT_EQ(0, st.kv_blocks_used);  // every block came back
  EXPECT_EQ(0, st.running);
}

TEST(Scheduler, CancelFreesTheSlotAndQueueIsBounded) {
  auto model = tiny("tiny-v3");
  ThreadPool pool(2);
  Scheduler sched(*model, pool, {.parallel = 1, .context = 64, .batch_tokens = 16, .queue = 1});
  SequenceRequest r;
  r.prompt = {1, 2, 3};
  r.max_tokens = 1000000;
  auto first = sched.submit(std::move(r));
  ASSERT_NE(nullptr, first);
  TokenEvent e;
  while (!first->next(e, std::chrono::milliseconds(100))) {}
  // The slot is busy: one request may wait, the next is refused.
  SequenceRequest r2;
  r2.prompt = {4, 5};
  r2.max_tokens = 3;
  auto second = sched.submit(std::move(r2));
  ASSERT_NE(nullptr, second);
  SequenceRequest r3;
  r3.prompt = {6};
  EXPECT_EQ(nullptr, sched.submit(std::move(r3)));
  first->cancel();
  while (!second->finished()) second->next(e, std::chrono::milliseconds(100));
  EXPECT_EQ(FinishReason::Cancelled, first->reason());
  EXPECT_EQ(FinishReason::Length, second->reason());
  // Context full ends a sequence with "length" semantics rather than an error.
  SequenceRequest r4;
  r4.prompt = std::vector<int32_t>(60, 7);
  r4.max_tokens = 100;
  auto fourth = sched.submit(std::move(r4));
  int n = 0;
  while (!fourth->finished()) n += fourth->next(e, std::chrono::milliseconds(100)) ? 1 : 0;
  EXPECT_EQ(FinishReason::ContextFull, fourth->reason());
  EXPECT_EQ(5, n);  // positions 60..63 fed, the 5th token sampled from the last position
  EXPECT_THROW(sched.submit(SequenceRequest{}), Error);
}

}  // namespace
}  // namespace r1
