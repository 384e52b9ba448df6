#include "model/router.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace r1 {

namespace {

// Index of the largest value among those not excluded; ties go to the lower index.
int64_t argmax(const float* v, int64_t n, const bool* excluded) {
  int64_t best = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (excluded && excluded[i]) continue;
    if (best < 0 || v[i] > v[best]) best = i;
  }
  return best;
}

}  // namespace

void route_token(const ModelConfig& cfg, const float* logits, const float* bias, int32_t* experts, float* weights,
                 float* scratch) {
  const int64_t E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  float* scores = scratch;      // s: the weights come from these
  float* select = scratch + E;  // what top-k ranks: s, or s + bias for noaux_tc
  if (cfg.scoring == Scoring::Softmax) {
    double mx = -INFINITY, sum = 0;
    for (int64_t e = 0; e < E; ++e) mx = std::max(mx, double(logits[e]));
    for (int64_t e = 0; e < E; ++e) sum += std::exp(double(logits[e]) - mx);
    for (int64_t e = 0; e < E; ++e) scores[e] = float(std::exp(double(logits[e]) - mx) / sum);
  } else {
    for (int64_t e = 0; e < E; ++e) scores[e] = float(1.0 / (1.0 + std::exp(-double(logits[e]))));
  }
  for (int64_t e = 0; e < E; ++e) select[e] = scores[e] + (bias ? bias[e] : 0.0f);

  bool excluded[kMaxExperts] = {};  // experts outside the kept groups, then experts already picked

  if (cfg.router != Router::Greedy && cfg.n_group > 1) {
    const int64_t G = cfg.n_group, per = E / G;
    float group_score[kMaxExpertGroups];
    for (int64_t g = 0; g < G; ++g) {
      const float* s = select + g * per;
      if (cfg.router == Router::GroupLimitedGreedy) {
        group_score[g] = *std::max_element(s, s + per);
      } else {  // noaux_tc: sum of the two largest
        float a = -INFINITY, b = -INFINITY;
        for (int64_t i = 0; i < per; ++i) {
          if (s[i] > a) { b = a; a = s[i]; } else if (s[i] > b) { b = s[i]; }
        }
        group_score[g] = a + b;
      }
    }
    bool group_kept[kMaxExpertGroups] = {};
    for (int64_t k = 0; k < cfg.topk_group; ++k) {
      int64_t best = -1;
      for (int64_t g = 0; g < G; ++g) {
        if (!group_kept[g] && (best < 0 || group_score[g] > group_score[best])) best = g;
      }
      group_kept[best] = true;
    }
    for (int64_t e = 0; e < E; ++e) excluded[e] = !group_kept[e / per];
  }

  double sum = 0;
  for (int64_t k = 0; k < K; ++k) {
    const int64_t e = argmax(select, E, excluded);
    excluded[e] = true;
    experts[k] = int32_t(e);
    weights[k] = scores[e];
    sum += scores[e];
  }
  const double norm = cfg.norm_topk_prob ? 1.0 / (sum + 1e-20) : 1.0;
  for (int64_t k = 0; k < K; ++k) weights[k] = float(double(weights[k]) * norm * cfg.routed_scaling_factor);
}

}  // namespace r1
