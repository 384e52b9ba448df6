// GRPO's objective, as pure functions of log-probabilities (DeepSeekMath §4.1.2; R1 §2.2.1), with the
// later fixes as switches. For completion i of a group of G with reward r_i, token t:
//
//   A_i   = r_i − mean(r)                    (Dr. GRPO: advantage_std off)
//         = (r_i − mean(r)) / (std(r) + 1e-4)  (GRPO: std is the group's sample standard deviation)
//   ρ     = exp(log π(t) − log π_old(t))
//   s     = min(ρ·A_i, clip(ρ, 1 − clip_low, 1 + clip_high)·A_i)    (DAPO: clip_high > clip_low)
//   kl    = exp(log π_ref − log π) − (log π_ref − log π) − 1       (the k3 estimator, ≥ 0, unbiased)
//   ℓ     = −(s − β·kl)
//   loss  = Σ_i Σ_t w_i · ℓ_i,t   with w_i = 1/(n·|o_i|)   "sequence" (GRPO: mean of per-sequence means)
//                                      w_i = 1/Σ_j |o_j|   "token"    (DAPO: every token counts the same)
//                                      w_i = 1/(n·L_max)   "constant" (Dr. GRPO: no length bias)
// over the n sequences of the step. grpo_loss returns the loss and ∂loss/∂log π(t) per token, which the
// model's backward turns into parameter gradients (train/model.h, target weights).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace r1::train {

enum class LengthNorm { Sequence, Token, Constant };
LengthNorm parse_length_norm(const std::string& name);  // "sequence", "token", "constant"; throws r1::Error

struct GrpoLossOptions {
  double clip_low = 0.2, clip_high = 0.2;
  double kl_beta = 0.04;  // 0: no KL term (ref_logp is not read)
  LengthNorm length_norm = LengthNorm::Sequence;
  int64_t max_tokens = 256;  // L_max of "constant"
};

// The advantages of one group's rewards.
std::vector<double> group_advantages(std::span<const double> rewards, bool scale_by_std);

struct SequenceLogprobs {
  std::span<const double> logp, old_logp, ref_logp;  // per completion token; ref_logp empty when β = 0
  double advantage = 0;
};

struct GrpoLossStats {
  double loss = 0;
  double kl = 0;                           // mean k3 over tokens
  double clip_low_frac = 0, clip_high_frac = 0;  // tokens whose gradient the clip removed, by side
  int64_t tokens = 0;
};

// w_i of a sequence of `length` tokens among n sequences holding all_tokens tokens.
double sequence_weight(const GrpoLossOptions& o, int64_t length, int64_t n, int64_t all_tokens);

// One sequence's share: adds w·Σ_t ℓ_t to stats.loss and the per-token sums of kl and clipping (counts,
// not fractions), and writes dlogp[t] = ∂loss/∂log π(t). The trainer calls it sequence by sequence, as
// each forward pass gives the log-probabilities, so no activations are kept across sequences.
void grpo_sequence_loss(const SequenceLogprobs& seq, const GrpoLossOptions& o, double weight, GrpoLossStats& stats,
                        std::vector<double>& dlogp);
// Turns the sums grpo_sequence_loss gathered into means over stats.tokens.
void finish_stats(GrpoLossStats& stats);

// The whole batch: dlogp[i][t] = ∂loss/∂log π of sequence i's token t (resized here).
GrpoLossStats grpo_loss(const std::vector<SequenceLogprobs>& seqs, const GrpoLossOptions& o,
                        std::vector<std::vector<double>>& dlogp);

}  // namespace r1::train
