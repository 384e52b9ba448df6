// Synthetic tasks with verifiable answers: the pre-training / SFT text and the GRPO prompts of issue 6.
//
// A generator is a pure function of (name, version, seed, index) -> Problem: it draws from its own
// bit-specified PRNG (train/rng.h), never from std:: distributions, so a published dataset is
// "generator + version + seed + count + options" and rebuilds bit-for-bit on any machine. The version is
// bumped whenever a generator's output for the same inputs changes.
//
//   arithmetic v1  "What is 4821 + 379?"                          -> "5200"
//   countdown  v1  "Using the numbers 3, 25, 47, make 216. ..."    -> "(47 + 25) * 3"
//   linear     v1  "Solve for x: 3x + 7 = 25"                      -> "6"
//   sum        v1  "What is 7 + 3 + 9 + 4?"                        -> "23"
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace r1::train {

struct Problem {
  std::string task;
  uint64_t index = 0;
  std::string prompt;    // the question alone; r1_zero_prompt() wraps it for R1-Zero-style RL
  std::string answer;    // the reference answer, in the form accuracy() accepts
  std::string solution;  // a worked, step-by-step solution (pre-training / SFT text)
  // countdown only: the given numbers (ascending, as in the prompt) and the target. They are what the
  // accuracy check needs, so they travel with the problem instead of being parsed back from the prompt.
  std::vector<int64_t> numbers;
  int64_t target = 0;
};

// The knobs of every task. Each generator reads only its own block; all of them are written, defaults
// filled in, into the manifest. Ranges are inclusive.
struct ArithmeticOptions {
  int min_digits = 2;
  int max_digits = 5;
  std::string ops = "+-*";   // which of + - * to draw from, uniformly
  int max_mul_digits = 3;    // operand digits are capped at this for *: 5x5-digit products are not 'tiny'
  bool allow_negative = false;  // a - b with b > a; when false the larger operand comes first
};
struct CountdownOptions {
  int min_count = 3;  // how many numbers are given
  int max_count = 4;
  int min_number = 1;
  int max_number = 100;
  int64_t max_target = 1000;  // the target is an integer in [1, max_target]
  int dead_ends = 2;          // at most this many failed first moves shown in the worked solution
};
struct LinearOptions {
  int min_coef = 2;  // |a| in a*x + b = c
  int max_coef = 12;
  int max_x = 20;      // |x|
  int max_const = 50;  // |b|, b != 0
  bool allow_negative = true;  // negative a and x
};
struct SumOptions {
  int min_terms = 4;  // how many terms
  int max_terms = 8;
  int min_term = 1;   // each term is drawn uniformly from [min_term, max_term]
  int max_term = 9;
};
struct TaskOptions {
  ArithmeticOptions arithmetic;
  CountdownOptions countdown;
  LinearOptions linear;
  SumOptions sum;
};

class Generator {
 public:
  virtual ~Generator() = default;
  virtual std::string_view name() const = 0;
  virtual uint32_t version() const = 0;
  virtual nlohmann::ordered_json options() const = 0;  // this task's knobs, every one, as used
  virtual Problem generate(uint64_t seed, uint64_t index) const = 0;
};

// `options`: a JSON object of this task's knobs (missing ones take the defaults above). An unknown task,
// an unknown key or a value out of range throws r1::Error.
std::unique_ptr<Generator> make_generator(std::string_view name, const nlohmann::json& options = nlohmann::json::object());

// The same from the struct (its block for `name`), validated exactly as the JSON form is.
std::unique_ptr<Generator> make_generator(std::string_view name, const TaskOptions& options);

// The task names make_generator accepts.
std::vector<std::string> task_names();

// The R1-Zero template (DeepSeek-R1 paper, Table 1) around a question; the completion starts after it.
std::string r1_zero_prompt(std::string_view question);

}  // namespace r1::train
