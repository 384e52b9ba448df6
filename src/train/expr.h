// The countdown answer language: integers, + - * / (also the Unicode signs × ÷ −) and parentheses,
// evaluated exactly over rationals.
//
// The input is model output: the parser is a small recursive descent with a length and a nesting bound,
// and answers every input -- garbage, huge numbers, 10,000 parentheses -- with nullopt, never a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "train/rational.h"

namespace r1::train {

constexpr size_t kMaxExprBytes = 1024;  // longer answers are rejected outright
constexpr int kMaxExprDepth = 32;       // parenthesis nesting
constexpr int kMaxNumberDigits = 12;    // a literal with more digits is rejected (no given number is that long)

struct EvaluatedExpr {
  Rational value;
  std::vector<int64_t> numbers;  // the literals, in the order written
};

// nullopt when the text is not an expression of the grammar, is too long or too deep, or is undefined
// (division by zero, 64-bit overflow of a numerator or denominator). No unary signs, no '='.
std::optional<EvaluatedExpr> evaluate_expr(std::string_view text);

}  // namespace r1::train
