// `r1 train grpo`: reinforcement learning with verifiable rewards (DeepSeek-R1 §2.2), on a model that
// pre-training or SFT made (train.init_from). Each step:
//   1. the policy is written as a model directory and loaded by the inference engine;
//   2. P prompts (the data order of trainer.h) are each sampled G times at grpo.temperature through the
//      continuous-batching Scheduler; with dynamic sampling (DAPO), groups whose rewards are all equal
//      are dropped and more prompts drawn, up to max_sample_rounds;
//   3. rule-based rewards (train/rewards.h) -- or, in the control mode reward "random", a coin flip per
//      completion -- become group-normalised advantages (train/grpo_loss.h);
//   4. for grpo.epochs optimizer steps, the trainer recomputes each completion's log-probabilities and
//      backpropagates GRPO's clipped, KL-regularised, token-level objective; the reference policy for
//      the KL is the initial one, reset to the current policy every ref_reset_every steps.
// The run directory is trainer.h's, plus rollouts/step-N.jsonl (prompt, completion, rewards, advantage)
// and RL metrics: reward mean/std and components, accuracy, zero-advantage group fraction, response
// length, entropy, KL, clip fractions, and the engine-vs-trainer log-probability gap.
#pragma once

#include <string>

#include "train/trainer.h"

namespace r1::train {

std::string run_grpo(const TrainRequest& request);

}  // namespace r1::train
