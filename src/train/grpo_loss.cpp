#include "train/grpo_loss.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace r1::train {

LengthNorm parse_length_norm(const std::string& name) {
  if (name == "sequence") return LengthNorm::Sequence;
  if (name == "token") return LengthNorm::Token;
  if (name == "constant") return LengthNorm::Constant;
  fail("training config: grpo.length_norm '{}' (expected sequence, token or constant)", name);
}

std::vector<double> group_advantages(std::span<const double> rewards, bool scale_by_std) {
  const size_t n = rewards.size();
  std::vector<double> a(n, 0.0);
  if (n == 0) return a;
  double mean = 0;
  for (double r : rewards) mean += r;
  mean /= double(n);
  double var = 0;
  for (double r : rewards) var += (r - mean) * (r - mean);
  const double sd = n > 1 ? std::sqrt(var / double(n - 1)) : 0.0;
  for (size_t i = 0; i < n; ++i) a[i] = scale_by_std ? (rewards[i] - mean) / (sd + 1e-4) : rewards[i] - mean;
  return a;
}

double sequence_weight(const GrpoLossOptions& o, int64_t length, int64_t n, int64_t all_tokens) {
  switch (o.length_norm) {
    case LengthNorm::Sequence: return length > 0 ? 1.0 / (double(n) * double(length)) : 0.0;
    case LengthNorm::Token: return all_tokens > 0 ? 1.0 / double(all_tokens) : 0.0;
    case LengthNorm::Constant: return 1.0 / (double(n) * double(std::max<int64_t>(1, o.max_tokens)));
  }
  return 0.0;
}

void grpo_sequence_loss(const SequenceLogprobs& s, const GrpoLossOptions& o, double w, GrpoLossStats& st,
                        std::vector<double>& dlogp) {
  const size_t T = s.logp.size();
  if (s.old_logp.size() != T || (o.kl_beta > 0 && s.ref_logp.size() != T)) {
    fail("grpo_loss: a sequence has {} log-probabilities but {} old and {} reference ones", T, s.old_logp.size(),
         s.ref_logp.size());
  }
  const double A = s.advantage;
  dlogp.assign(T, 0.0);
  for (size_t t = 0; t < T; ++t) {
    const double rho = std::exp(s.logp[t] - s.old_logp[t]);
    const double unclipped = rho * A;
    const double clipped = std::clamp(rho, 1.0 - o.clip_low, 1.0 + o.clip_high) * A;
    double surrogate = unclipped, dsurrogate = rho * A;  // ∂(ρA)/∂log π = ρA
    if (clipped < unclipped) {  // the clipped term is the smaller: no gradient through it
      surrogate = clipped;
      dsurrogate = 0;
      (A > 0 ? st.clip_high_frac : st.clip_low_frac) += 1;
    }
    double kl = 0, dkl = 0;
    if (o.kl_beta > 0) {
      const double diff = s.ref_logp[t] - s.logp[t];
      kl = std::exp(diff) - diff - 1.0;
      dkl = 1.0 - std::exp(diff);  // ∂kl/∂log π
    }
    st.loss += w * -(surrogate - o.kl_beta * kl);
    dlogp[t] = w * -(dsurrogate - o.kl_beta * dkl);
    st.kl += kl;
  }
  st.tokens += int64_t(T);
}

void finish_stats(GrpoLossStats& st) {
  if (st.tokens == 0) return;
  st.kl /= double(st.tokens);
  st.clip_low_frac /= double(st.tokens);
  st.clip_high_frac /= double(st.tokens);
}

GrpoLossStats grpo_loss(const std::vector<SequenceLogprobs>& seqs, const GrpoLossOptions& o,
                        std::vector<std::vector<double>>& dlogp) {
  GrpoLossStats st;
  dlogp.assign(seqs.size(), {});
  int64_t all_tokens = 0;
  for (const auto& s : seqs) all_tokens += int64_t(s.logp.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const double w = sequence_weight(o, int64_t(seqs[i].logp.size()), int64_t(seqs.size()), all_tokens);
    grpo_sequence_loss(seqs[i], o, w, st, dlogp[i]);
  }
  finish_stats(st);
  return st;
}

}  // namespace r1::train
