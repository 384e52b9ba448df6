// Rule-based rewards, as R1-Zero used them (DeepSeek-R1 paper §2.2.2; docs in shared r1-training.md §2.1, §7):
// no learned reward model, only checks a program can do exactly.
//
//   format    1 when the completion is  <think> reasoning </think> <answer> answer </answer>  and nothing
//             else (details at format_ok), 0 otherwise.
//   accuracy  1 when the text inside the one <answer>...</answer> pair is a correct answer, 0 otherwise.
//             It does not require format == 1: the two are separate signals, logged separately.
//   total     = accuracy_weight * accuracy + format_weight * format.
//
// Weights: R1-Zero summed the two with equal weight (RewardWeights::r1_zero()). Our default is accuracy 1
// plus format 0.1, the small format bonus TinyZero used on countdown and r1-training.md §7 recommends for
// tiny models: a model that only learns the tags cannot earn more than a tenth of a correct answer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "train/tasks.h"

namespace r1::train {

// <think>T</think> then <answer>A</answer>, with: optional whitespace before <think>, between </think> and
// <answer>, and after </answer> (a trailing newline or end-of-turn space is not "text after"); each of the
// four tags exactly once (so none nested or repeated); T and A not blank.
bool format_ok(std::string_view completion);

// The trimmed text between the completion's <answer> and </answer>; nullopt unless each tag occurs
// exactly once, the opening one first -- two answers are no answer.
std::optional<std::string> extract_answer(std::string_view completion);

// Whether `answer` (the extracted text, not a whole completion) is correct for the problem:
//   arithmetic, linear: an integer equal to problem.answer: optional surrounding whitespace, an optional
//     leading '+' or '-', digits (leading zeros allowed), nothing else;
//   countdown: an expression (train/expr.h) that uses each given number at most once (as a multiset),
//     no other number, and evaluates exactly to the target; division by zero or garbage is wrong.
bool answer_correct(const Problem& problem, std::string_view answer);

// accuracy(problem, completion): answer_correct on extract_answer(completion); 0 when there is none.
double accuracy(const Problem& problem, std::string_view completion);

struct RewardWeights {
  double accuracy = 1.0;
  double format = 0.1;
  static RewardWeights r1_zero() { return RewardWeights{1.0, 1.0}; }
};

struct Reward {
  double format = 0;    // 0 or 1
  double accuracy = 0;  // 0 or 1
  double total = 0;     // weighted sum
};

Reward score(const Problem& problem, std::string_view completion, const RewardWeights& weights = {});

}  // namespace r1::train
