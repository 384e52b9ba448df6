#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"

namespace r1 {
namespace {

std::vector<int32_t> draw(const SamplingParams& p, std::vector<float> logits, int n) {
  Sampler s(p, int64_t(logits.size()));
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = logits;
    out.push_back(s.sample(l.data()));
  }
  return out;
}

TEST(Sampler, GreedyPicksTheFirstMaximum) {
  SamplingParams p;
  p.temperature = 0.0f;
  EXPECT_EQ(draw(p, {0.1f, 2.0f, -1.0f, 2.0f}, 1)[0], 1);
}

TEST(Sampler, SameSeedSameTokensOtherSeedOtherTokens) {
  SamplingParams p;
  p.seed = 42;
  const std::vector<float> logits(50, 0.0f);  // uniform: every draw is up to the generator
  const auto a = draw(p, logits, 64), b = draw(p, logits, 64);
  EXPECT_EQ(a, b);
  p.seed = 43;
  EXPECT_NE(a, draw(p, logits, 64));
}

TEST(Sampler, FollowsTheDistribution) {
  // Logits (0, ln 3) at temperature 1: probabilities 1/4 and 3/4.
  SamplingParams p;
  p.seed = 7;
  const auto t = draw(p, {0.0f, float(std::log(3.0))}, 20000);
  int ones = 0;
  for (int32_t v : t) ones += v == 1;
  EXPECT_NEAR(ones / 20000.0, 0.75, 0.015);
}

TEST(Sampler, TopKTopPMinPRestrictTheCandidates) {
  const std::vector<float> logits = {3.0f, 2.9f, 0.0f, -1.0f, 2.8f};
  SamplingParams k;
  k.top_k = 2;
  for (int32_t v : draw(k, logits, 500)) EXPECT_TRUE(v == 0 || v == 1);
  SamplingParams tp;
  tp.top_p = 0.01f;  // the first token alone already covers 1 %
  for (int32_t v : draw(tp, logits, 200)) EXPECT_EQ(v, 0);
  SamplingParams mp;
  mp.min_p = 0.5f;  // p(2) = e^-3 p(0) and p(3) = e^-4 p(0) fall below half of the top
  for (int32_t v : draw(mp, logits, 500)) EXPECT_TRUE(v == 0 || v == 1 || v == 4);
}

TEST(Sampler, PenaltiesDemoteSeenTokens) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = 1.1f;  // 2.0 / 1.1 = 1.82 < 1.9
  Sampler s(p, 2);
  s.accept(0);
  std::vector<float> l = {2.0f, 1.9f};
  EXPECT_EQ(s.sample(l.data()), 1);

  SamplingParams q;
  q.temperature = 0.0f;
  q.presence_penalty = 0.05f;
  q.frequency_penalty = 0.03f;  // 2.0 - 0.05 - 2 * 0.03 = 1.89 < 1.9
  Sampler s2(q, 2);
  s2.accept(0);
  s2.accept(0);
  std::vector<float> l2 = {2.0f, 1.9f};
  EXPECT_EQ(s2.sample(l2.data()), 1);
}

TEST(Sampler, RejectsBadParameters) {
  SamplingParams p;
  p.temperature = -1.0f;
  EXPECT_THROW(validate(p), Error);
  p = {};
  p.top_p = 0.0f;
  EXPECT_THROW(validate(p), Error);
  p = {};
  p.top_p = 1.5f;
  EXPECT_THROW(validate(p), Error);
  p = {};
  p.repetition_penalty = 0.0f;
  EXPECT_THROW(validate(p), Error);
}

}  // namespace
}  // namespace r1
