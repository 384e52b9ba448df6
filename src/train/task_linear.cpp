// linear: "Solve for x: 3x + 7 = 25" with an integer solution; the worked solution moves the constant,
// divides by the coefficient and checks the result by substitution.
#include <fmt/format.h>

#include <cstdlib>
#include <string>

#include "core/error.h"
#include "train/rng.h"
#include "train/task_common.h"

namespace r1::train {
namespace {

// "3x", "-3x", "x", "-x".
std::string term(int64_t a) {
  if (a == 1) return "x";
  if (a == -1) return "-x";
  return fmt::format("{}x", a);
}

// "3x + 7", "3x - 7".
std::string left_side(int64_t a, int64_t b) {
  return b >= 0 ? fmt::format("{} + {}", term(a), b) : fmt::format("{} - {}", term(a), -b);
}

std::string paren(int64_t v) { return v < 0 ? fmt::format("({})", v) : std::to_string(v); }

class Linear final : public Generator {
 public:
  explicit Linear(const LinearOptions& o) : o_(o) {}
  std::string_view name() const override { return "linear"; }
  uint32_t version() const override { return 1; }

  nlohmann::ordered_json options() const override {
    return {{"min_coef", o_.min_coef}, {"max_coef", o_.max_coef}, {"max_x", o_.max_x}, {"max_const", o_.max_const},
            {"allow_negative", o_.allow_negative}};
  }

  Problem generate(uint64_t seed, uint64_t index) const override {
    Rng rng = Rng::for_problem(name(), version(), seed, index);
    int64_t a = rng.range(o_.min_coef, o_.max_coef);
    if (o_.allow_negative && rng.coin()) a = -a;
    const int64_t x = rng.range(o_.allow_negative ? -o_.max_x : 0, o_.max_x);
    int64_t b = rng.range(1, o_.max_const);
    if (rng.coin()) b = -b;
    const int64_t c = a * x + b;
    const int form = static_cast<int>(rng.below(3));

    // Three ways to write the same equation, so a model cannot key on one layout.
    std::string equation;
    if (form == 0) {
      equation = fmt::format("{} = {}", left_side(a, b), c);
    } else if (form == 1) {  // constant first: "7 + 3x = 25", "-7 - 3x = 25"
      equation = a >= 0 ? fmt::format("{} + {} = {}", b, term(a), c) : fmt::format("{} - {} = {}", b, term(-a), c);
    } else {  // sides swapped: "25 = 3x + 7"
      equation = fmt::format("{} = {}", c, left_side(a, b));
    }

    Problem p;
    p.task = name();
    p.index = index;
    p.prompt = "Solve for x: " + equation;
    p.answer = std::to_string(x);
    std::string& s = p.solution;
    const std::string standard = fmt::format("{} = {}", left_side(a, b), c);
    s = form == 0 ? standard + ".\n" : fmt::format("{} is the same as {}.\n", equation, standard);
    const int64_t rhs = c - b;
    s += b > 0 ? fmt::format("Subtract {} from both sides: {} = {} - {} = {}.\n", b, term(a), c, b, rhs)
               : fmt::format("Add {} to both sides: {} = {} + {} = {}.\n", -b, term(a), c, -b, rhs);
    if (a == -1) {
      s += fmt::format("Multiply both sides by -1: x = {}.\n", x);
    } else if (a != 1) {
      s += fmt::format("Divide both sides by {}: x = {} / {} = {}.\n", a, rhs, paren(a), x);
    }
    s += fmt::format("Check: {} * {} {} {} = {} {} {} = {}. Correct.\n", paren(a), paren(x), b >= 0 ? '+' : '-',
                     std::llabs(b), paren(a * x), b >= 0 ? '+' : '-', std::llabs(b), c);
    s += fmt::format("So x = {}.", x);
    return p;
  }

 private:
  LinearOptions o_;
};

}  // namespace

LinearOptions read_linear_options(const nlohmann::json& j) {
  LinearOptions o;
  OptionReader r("linear", j);
  r.read("min_coef", o.min_coef, 1, 1000);
  r.read("max_coef", o.max_coef, 1, 1000);
  r.read("max_x", o.max_x, 0, 1000000);
  r.read("max_const", o.max_const, 1, 1000000);
  r.read("allow_negative", o.allow_negative);
  r.finish();
  if (o.min_coef > o.max_coef) fail("linear options: min_coef {} > max_coef {}", o.min_coef, o.max_coef);
  return o;
}

std::unique_ptr<Generator> make_linear(const LinearOptions& o) { return std::make_unique<Linear>(o); }

}  // namespace r1::train
