// Accuracy by generation: each held-out problem's prompt runs through the inference engine (greedy, or
// sampled k times), and the rule-based rewards score the completions. `r1 eval` and GRPO's periodic
// evaluation both use it, so the two numbers are the same measurement.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/tasks.h"

namespace r1::train {

struct EvalOptions {
  int64_t max_tokens = 256;
  float temperature = 0.0f;  // 0: greedy
  int samples = 1;           // completions per problem (accuracy is their mean)
  uint64_t seed = 1;
  int parallel = 64;
};

struct EvalCompletion {
  size_t problem = 0;
  std::string completion;
  double accuracy = 0, format = 0;
  int64_t tokens = 0;
};

struct EvalResult {
  double accuracy = 0, format_rate = 0, mean_tokens = 0;
  int64_t completions = 0;
  std::map<std::string, std::pair<double, int64_t>> by_task;  // task -> (accuracy, completions)
  std::vector<EvalCompletion> details;
  nlohmann::ordered_json summary() const;  // everything but the details
};

EvalResult evaluate_accuracy(const Model& model, const tok::Tokenizer& tok, ThreadPool& pool,
                             const std::vector<Problem>& problems, const EvalOptions& options);

}  // namespace r1::train
