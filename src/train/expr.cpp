#include "train/expr.h"

namespace r1::train {
namespace {

// expr := term (('+' | '-') term)* ; term := factor (('*' | '/') factor)* ; factor := INT | '(' expr ')'
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  std::optional<EvaluatedExpr> run() {
    std::optional<Rational> v = expr(0);
    skip_space();
    if (!v || pos_ != s_.size()) return std::nullopt;
    return EvaluatedExpr{*v, std::move(numbers_)};
  }

 private:
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  // The next operator as its ASCII sign (consumed), or 0 when the next token is not one of `wanted`.
  char take_op(std::string_view wanted) {
    skip_space();
    const std::string_view rest = s_.substr(pos_);
    struct Sign {
      std::string_view text;
      char op;
    };
    static constexpr Sign signs[] = {{"+", '+'}, {"-", '-'}, {"*", '*'}, {"/", '/'},
                                     {"\xC3\x97", '*'}, {"\xC3\xB7", '/'}, {"\xE2\x88\x92", '-'}};
    for (const Sign& sign : signs) {
      if (rest.starts_with(sign.text) && wanted.find(sign.op) != std::string_view::npos) {
        pos_ += sign.text.size();
        return sign.op;
      }
    }
    return 0;
  }

  std::optional<Rational> expr(int depth) {
    std::optional<Rational> acc = term(depth);
    while (acc) {
      const char op = take_op("+-");
      if (op == 0) break;
      const std::optional<Rational> rhs = term(depth);
      if (!rhs) return std::nullopt;
      acc = apply(op, *acc, *rhs);
    }
    return acc;
  }

  std::optional<Rational> term(int depth) {
    std::optional<Rational> acc = factor(depth);
    while (acc) {
      const char op = take_op("*/");
      if (op == 0) break;
      const std::optional<Rational> rhs = factor(depth);
      if (!rhs) return std::nullopt;
      acc = apply(op, *acc, *rhs);
    }
    return acc;
  }

  std::optional<Rational> factor(int depth) {
    skip_space();
    if (pos_ >= s_.size()) return std::nullopt;
    if (s_[pos_] == '(') {
      if (depth >= kMaxExprDepth) return std::nullopt;
      ++pos_;
      std::optional<Rational> v = expr(depth + 1);
      skip_space();
      if (!v || pos_ >= s_.size() || s_[pos_] != ')') return std::nullopt;
      ++pos_;
      return v;
    }
    int64_t value = 0;
    int digits = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      if (++digits > kMaxNumberDigits) return std::nullopt;
      value = value * 10 + (s_[pos_++] - '0');
    }
    if (digits == 0) return std::nullopt;
    numbers_.push_back(value);
    return Rational::integer(value);
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::vector<int64_t> numbers_;
};

}  // namespace

std::optional<EvaluatedExpr> evaluate_expr(std::string_view text) {
  if (text.size() > kMaxExprBytes) return std::nullopt;
  return Parser(text).run();
}

}  // namespace r1::train
