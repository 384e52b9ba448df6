// Routing on hand-built scores whose correct answer is worked out in the comments.
#include "model/router.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace r1 {
namespace {

float logit(double s) { return float(std::log(s / (1.0 - s))); }  // sigmoid^-1

ModelConfig moe_config(int64_t experts, int64_t topk, Router router, Scoring scoring, int64_t groups, int64_t topk_group) {
  ModelConfig c;
  c.n_routed_experts = experts;
  c.num_experts_per_tok = topk;
  c.router = router;
  c.scoring = scoring;
  c.n_group = groups;
  c.topk_group = topk_group;
  return c;
}

struct Routed {
  std::vector<int32_t> experts;
  std::vector<float> weights;
};

Routed route(const ModelConfig& c, const std::vector<float>& logits, const std::vector<float>& bias = {}) {
  Routed r{std::vector<int32_t>(size_t(c.num_experts_per_tok)), std::vector<float>(size_t(c.num_experts_per_tok))};
  std::vector<float> scratch(size_t(2 * c.n_routed_experts));
  route_token(c, logits.data(), bias.empty() ? nullptr : bias.data(), r.experts.data(), r.weights.data(), scratch.data());
  return r;
}

TEST(Router, NoauxTcMasksGroupsByTop2Sum) {
  // Groups {0,1} {2,3} {4,5} {6,7}. Expert 0 has the best single score (0.95) but its group sums to
  // 0.95+0.05 = 1.0; groups 1 (0.6+0.6 = 1.2) and 2 (0.55+0.55 = 1.1) win with topk_group = 2, so the
  // top-2 are experts 2 and 3 -- plain top-2 would have picked 0 and 2.
  ModelConfig c = moe_config(8, 2, Router::NoauxTC, Scoring::Sigmoid, 4, 2);
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  const std::vector<float> logits = {logit(0.95), logit(0.05), logit(0.6), logit(0.6),
                                     logit(0.55), logit(0.55), logit(0.1), logit(0.1)};
  const Routed r = route(c, logits, std::vector<float>(8, 0.0f));
  EXPECT_EQ(r.experts, (std::vector<int32_t>{2, 3}));
  // Renormalised: 0.6 / 1.2 = 0.5 each, times 2.5.
  EXPECT_NEAR(r.weights[0], 1.25, 1e-6);
  EXPECT_NEAR(r.weights[1], 1.25, 1e-6);
}

TEST(Router, NoauxTcBiasSelectsButDoesNotWeigh) {
  // Scores 0.7, 0.6, 0.1, 0.2 with bias +0.2 on expert 1: selection sees 0.8 for expert 1 and picks it,
  // the weight is its unbiased score 0.6 (x 3.0, no renormalisation).
  ModelConfig c = moe_config(4, 1, Router::NoauxTC, Scoring::Sigmoid, 1, 1);
  c.routed_scaling_factor = 3.0;
  const Routed r = route(c, {logit(0.7), logit(0.6), logit(0.1), logit(0.2)}, {0.0f, 0.2f, 0.0f, 0.0f});
  EXPECT_EQ(r.experts[0], 1);
  EXPECT_NEAR(r.weights[0], 0.6 * 3.0, 1e-6);
}

TEST(Router, GreedySoftmaxWeightsAreProbabilities) {
  // softmax([1, 2, 3, 0]); top-2 = experts 2, 1 with weights e^3/Z and e^2/Z, Z = e + e^2 + e^3 + 1.
  ModelConfig c = moe_config(4, 2, Router::Greedy, Scoring::Softmax, 1, 1);
  const Routed r = route(c, {1.0f, 2.0f, 3.0f, 0.0f});
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + 1.0;
  EXPECT_EQ(r.experts, (std::vector<int32_t>{2, 1}));
  EXPECT_NEAR(r.weights[0], std::exp(3.0) / z, 1e-6);
  EXPECT_NEAR(r.weights[1], std::exp(2.0) / z, 1e-6);
}

TEST(Router, GroupLimitedGreedyKeepsGroupWithBestMax) {
  // Groups {0,1} {2,3}; group maxima are s0 (logit 3) and s2 (logit 2.9): only group 0 survives with
  // topk_group = 1, so expert 1 (logit -5) is chosen over experts 2 and 3. Weights x16, not renormalised.
  ModelConfig c = moe_config(4, 2, Router::GroupLimitedGreedy, Scoring::Softmax, 2, 1);
  c.routed_scaling_factor = 16.0;
  const Routed r = route(c, {3.0f, -5.0f, 2.9f, 2.8f});
  const double z = std::exp(3.0) + std::exp(-5.0) + std::exp(2.9) + std::exp(2.8);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{0, 1}));
  EXPECT_NEAR(r.weights[0], 16.0 * std::exp(3.0) / z, 1e-5);
  EXPECT_NEAR(r.weights[1], 16.0 * std::exp(-5.0) / z, 1e-7);
}

}  // namespace
}  // namespace r1
