// arithmetic: "What is a OP b?" with multi-digit operands; the worked solution is the schoolbook method
// (columns with carries and borrows, multiplication by partial products), one step per line.
#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "core/error.h"
#include "train/rng.h"
#include "train/task_common.h"

namespace r1::train {
namespace {

constexpr const char* kColumn[] = {"ones",         "tens",         "hundreds",      "thousands",
                                   "ten thousands", "hundred thousands", "millions", "ten millions",
                                   "hundred millions", "billions", "ten billions"};

// Digits of v >= 0, least significant first.
std::string digits_of(int64_t v) {
  std::string d = std::to_string(v);
  std::reverse(d.begin(), d.end());
  return d;
}

int digit_at(const std::string& rev, size_t i) { return i < rev.size() ? rev[i] - '0' : -1; }

std::string explain_addition(int64_t a, int64_t b) {
  std::string out = fmt::format("Add {} + {} column by column, from the right.\n", a, b);
  const std::string da = digits_of(a), db = digits_of(b);
  int carry = 0;
  for (size_t i = 0; i < std::max(da.size(), db.size()); ++i) {
    const int x = digit_at(da, i), y = digit_at(db, i);
    std::string terms;
    int sum = 0;
    for (const int d : {x, y}) {
      if (d < 0) continue;
      terms += (terms.empty() ? "" : " + ") + std::to_string(d);
      sum += d;
    }
    if (carry) terms += fmt::format(" + carry {}", carry), sum += carry;
    const bool single = (x < 0 || y < 0) && carry == 0;
    out += single ? fmt::format("{}: {}.", kColumn[i], sum) : fmt::format("{}: {} = {}.", kColumn[i], terms, sum);
    carry = sum / 10;
    out += carry ? fmt::format(" Write {}, carry {}.\n", sum % 10, carry) : fmt::format(" Write {}.\n", sum % 10);
  }
  if (carry) out += fmt::format("The last carry {} is the leading digit.\n", carry);
  return out;
}

// a >= b >= 0.
std::string explain_subtraction(int64_t a, int64_t b) {
  std::string out = fmt::format("Subtract {} - {} column by column, from the right.\n", a, b);
  const std::string da = digits_of(a), db = digits_of(b);
  int borrow = 0;
  for (size_t i = 0; i < da.size(); ++i) {
    const int x = digit_at(da, i), y = digit_at(db, i);
    const int value = x - std::max(y, 0) - borrow;
    std::string terms = std::to_string(x);
    if (y >= 0) terms += fmt::format(" - {}", y);
    if (borrow) terms += " - borrow 1";
    if (y < 0 && borrow == 0) {
      out += fmt::format("{}: {}. Write {}.\n", kColumn[i], x, x);
    } else if (value < 0) {
      out += fmt::format("{}: {} is negative, so borrow 10: {} + 10 = {}. Write {}, borrow 1.\n", kColumn[i], terms,
                         value, value + 10, value + 10);
    } else {
      out += fmt::format("{}: {} = {}. Write {}.\n", kColumn[i], terms, value, value);
    }
    borrow = value < 0 ? 1 : 0;
  }
  return out;
}

// top * d for one digit d >= 2, digit by digit with carries.
std::string explain_times_digit(int64_t top, int d) {
  const std::string dt = digits_of(top);
  std::string out = fmt::format("{} * {}:", top, d);
  int carry = 0;
  for (size_t i = 0; i < dt.size(); ++i) {
    const int x = dt[i] - '0', p = x * d + carry;
    const std::string expr = carry ? fmt::format("{}*{} + {}", x, d, carry) : fmt::format("{}*{}", x, d);
    const bool last = i + 1 == dt.size();
    if (last) {
      out += fmt::format(" {} = {}, write {}.", expr, p, p);
    } else {
      out += p >= 10 ? fmt::format(" {} = {}, write {}, carry {};", expr, p, p % 10, p / 10)
                     : fmt::format(" {} = {}, write {};", expr, p, p);
    }
    carry = p / 10;
  }
  return out;
}

std::string explain_multiplication(int64_t a, int64_t b) {
  // The operand with more digits goes on top, as on paper; each digit of the other gives a partial product.
  const int64_t top = std::to_string(a).size() >= std::to_string(b).size() ? a : b;
  const int64_t bottom = top == a ? b : a;
  if (top < 10) return "";  // a times-table fact: the closing line says it all
  std::string out = fmt::format("Multiply {} * {}: take {} one digit of {} at a time, then add the partial products.\n",
                                a, b, top, bottom);
  const std::string db = digits_of(bottom);
  std::vector<int64_t> partials;
  int64_t place = 1;
  for (size_t i = 0; i < db.size(); ++i, place *= 10) {
    const int d = db[i] - '0';
    const std::string head = fmt::format("{} digit {}: ", kColumn[i], d);
    const int64_t p = top * d;
    const std::string shifted = i == 0 ? "" :
        fmt::format(" Shifted {} place{}: {}.", i, i == 1 ? "" : "s", p * place);
    if (d == 0) {
      out += head + "contributes nothing.\n";
      continue;
    }
    out += head + (d == 1 ? fmt::format("{} * 1 = {}.", top, top) : explain_times_digit(top, d) +
                                                                      fmt::format(" So {} * {} = {}.", top, d, p));
    out += shifted + "\n";
    partials.push_back(p * place);
  }
  if (partials.size() > 1) {
    out += "Add the partial products:";
    int64_t sum = partials[0];
    for (size_t i = 1; i < partials.size(); ++i) {
      out += fmt::format(" {} + {} = {}{}", sum, partials[i], sum + partials[i], i + 1 == partials.size() ? "." : ";");
      sum += partials[i];
    }
    out += "\n";
  }
  return out;
}

// The first letter of a column name is lower case in the running text; capitalise each line's start.
std::string capitalise_lines(std::string s) {
  bool start = true;
  for (char& c : s) {
    if (start && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    start = c == '\n';
  }
  return s;
}

class Arithmetic final : public Generator {
 public:
  explicit Arithmetic(const ArithmeticOptions& o) : o_(o) {}
  std::string_view name() const override { return "arithmetic"; }
  uint32_t version() const override { return 1; }

  nlohmann::ordered_json options() const override {
    return {{"min_digits", o_.min_digits}, {"max_digits", o_.max_digits}, {"ops", o_.ops},
            {"max_mul_digits", o_.max_mul_digits}, {"allow_negative", o_.allow_negative}};
  }

  Problem generate(uint64_t seed, uint64_t index) const override {
    Rng rng = Rng::for_problem(name(), version(), seed, index);
    const char op = o_.ops[rng.below(o_.ops.size())];
    const int hi = op == '*' ? std::min(o_.max_digits, o_.max_mul_digits) : o_.max_digits;
    const int lo = std::min(o_.min_digits, hi);
    auto draw = [&] {
      const int digits = static_cast<int>(rng.range(lo, hi));
      int64_t low = 1;
      for (int i = 1; i < digits; ++i) low *= 10;
      return rng.range(digits == 1 ? 0 : low, low * 10 - 1);
    };
    int64_t a = draw(), b = draw();
    if (op == '-' && !o_.allow_negative && a < b) std::swap(a, b);

    Problem p;
    p.task = name();
    p.index = index;
    p.prompt = fmt::format("What is {} {} {}?", a, op, b);
    int64_t result = 0;
    if (op == '+') {
      result = a + b;
      p.solution = explain_addition(a, b);
    } else if (op == '-') {
      result = a - b;
      if (a >= b) {
        p.solution = explain_subtraction(a, b);
      } else {
        p.solution = fmt::format("{} is larger than {}, so compute {} - {} and make it negative.\n", b, a, b, a) +
                     explain_subtraction(b, a);
      }
    } else {
      result = a * b;
      p.solution = explain_multiplication(a, b);
    }
    p.solution = capitalise_lines(p.solution) + fmt::format("So {} {} {} = {}.", a, op, b, result);
    p.answer = std::to_string(result);
    return p;
  }

 private:
  ArithmeticOptions o_;
};

}  // namespace

ArithmeticOptions read_arithmetic_options(const nlohmann::json& j) {
  ArithmeticOptions o;
  OptionReader r("arithmetic", j);
  r.read("min_digits", o.min_digits, 1, 9);  // 9 digits: every sum and product fits in 63 bits
  r.read("max_digits", o.max_digits, 1, 9);
  r.read("ops", o.ops);
  r.read("max_mul_digits", o.max_mul_digits, 1, 9);
  r.read("allow_negative", o.allow_negative);
  r.finish();
  if (o.min_digits > o.max_digits) fail("arithmetic options: min_digits {} > max_digits {}", o.min_digits, o.max_digits);
  if (o.ops.empty() || o.ops.find_first_not_of("+-*") != std::string::npos) {
    fail("arithmetic option 'ops': expected some of \"+-*\", got \"{}\"", o.ops);
  }
  return o;
}

std::unique_ptr<Generator> make_arithmetic(const ArithmeticOptions& o) { return std::make_unique<Arithmetic>(o); }

}  // namespace r1::train
