// countdown: reach a target from given numbers with + - * / (each number at most once), as in TinyZero.
//
// A problem is made backwards, so it always has a solution: draw the numbers, combine random pairs with
// random operators (exact rationals, every intermediate value positive) until one value is left, and keep
// it as the target if it is an integer in [1, max_target]. The worked solution is a search as a person
// writes it: a few first moves that lead nowhere (each proved a dead end by exhaustive search, so the
// text never lies), then the path that works.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/rational.h"
#include "train/rng.h"
#include "train/task_common.h"

namespace r1::train {
namespace {

struct Node {
  char op = 0;  // 0: a given number
  int left = -1, right = -1;
  Rational value;
};

struct Item {  // a value in the pool and the expression node that makes it
  Rational value;
  int node;
};

int precedence(char op) { return op == '+' || op == '-' ? 1 : op == '*' || op == '/' ? 2 : 3; }

// Fewest parentheses: a child is wrapped when it binds looser than its parent, or equally loose on the
// right of - or / (a - (b + c), a / (b * c)). Exact arithmetic makes a * (b / c) = a * b / c, so no more.
std::string print(const std::vector<Node>& nodes, int i) {
  const Node& n = nodes[i];
  if (n.op == 0) return std::to_string(n.value.num);
  std::string l = print(nodes, n.left), r = print(nodes, n.right);
  const int p = precedence(n.op);
  if (precedence(nodes[n.left].op) < p) l = "(" + l + ")";
  const int pr = precedence(nodes[n.right].op);
  if (pr < p || (pr == p && (n.op == '-' || n.op == '/'))) r = "(" + r + ")";
  return fmt::format("{} {} {}", l, n.op, r);
}

std::string show(Rational v) {
  return v.is_integer() ? std::to_string(v.num) : fmt::format("({}/{})", v.num, v.den);
}

std::string show_pool(std::vector<Rational> pool) {
  std::sort(pool.begin(), pool.end(), [](Rational a, Rational b) { return __int128(a.num) * b.den < __int128(b.num) * a.den; });
  std::string out;
  for (const Rational& v : pool) out += (out.empty() ? "" : ", ") + show(v);
  return out;
}

// Whether any expression over the pool (each value at most once, any sign, exact) equals target: the
// same freedom the accuracy check gives a completion, so "dead end" claims hold.
bool reachable(const std::vector<Rational>& pool, Rational target) {
  for (const Rational& v : pool) {
    if (v == target) return true;
  }
  if (pool.size() < 2) return false;
  std::vector<Rational> next(pool.size() - 1);
  for (size_t i = 0; i < pool.size(); ++i) {
    for (size_t j = 0; j < pool.size(); ++j) {
      if (i == j) continue;
      size_t k = 0;
      for (size_t m = 0; m < pool.size(); ++m) {
        if (m != i && m != j) next[k++] = pool[m];
      }
      for (const char op : {'+', '-', '*', '/'}) {
        if ((op == '+' || op == '*') && j < i) continue;  // commutative: one order is enough
        const std::optional<Rational> v = apply(op, pool[i], pool[j]);
        if (!v) continue;
        next[k] = *v;
        if (reachable(next, target)) return true;
      }
    }
  }
  return false;
}

class Countdown final : public Generator {
 public:
  explicit Countdown(const CountdownOptions& o) : o_(o) {}
  std::string_view name() const override { return "countdown"; }
  uint32_t version() const override { return 1; }

  nlohmann::ordered_json options() const override {
    return {{"min_count", o_.min_count}, {"max_count", o_.max_count}, {"min_number", o_.min_number},
            {"max_number", o_.max_number}, {"max_target", o_.max_target}, {"dead_ends", o_.dead_ends}};
  }

  Problem generate(uint64_t seed, uint64_t index) const override {
    Rng rng = Rng::for_problem(name(), version(), seed, index);
    // Each round draws fresh numbers and one random combination; almost every round succeeds within a few
    // tries (the bound only stops options that make a target impossible, e.g. max_target 1 with big numbers).
    for (int round = 0; round < 10000; ++round) {
      const int count = static_cast<int>(rng.range(o_.min_count, o_.max_count));
      std::vector<Node> nodes;
      std::vector<Item> pool;
      for (int i = 0; i < count; ++i) {
        nodes.push_back(Node{0, -1, -1, Rational::integer(rng.range(o_.min_number, o_.max_number))});
        pool.push_back(Item{nodes.back().value, i});
      }
      std::vector<int> steps;  // the nodes made, in order
      while (pool.size() > 1) {
        const size_t i = rng.below(pool.size());
        size_t j = rng.below(pool.size() - 1);
        if (j >= i) ++j;
        const char op = "+-*/"[rng.below(4)];
        const std::optional<Rational> v = apply(op, pool[i].value, pool[j].value);
        if (!v || v->num <= 0) break;  // only positive intermediate values: a fresh round
        nodes.push_back(Node{op, pool[i].node, pool[j].node, *v});
        steps.push_back(static_cast<int>(nodes.size()) - 1);
        pool[std::min(i, j)] = Item{*v, steps.back()};
        pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(std::max(i, j)));
      }
      if (pool.size() != 1) continue;
      const Rational target = pool[0].value;
      if (!target.is_integer() || target.num > o_.max_target) continue;
      return make_problem(rng, index, nodes, count, steps, target.num);
    }
    fail("countdown: no problem found for index {} in 10000 rounds; the options ({}) leave almost no reachable target",
         index, options().dump());
  }

 private:
  Problem make_problem(Rng& rng, uint64_t index, const std::vector<Node>& nodes, int count,
                       const std::vector<int>& steps, int64_t target) const {
    Problem p;
    p.task = name();
    p.index = index;
    for (int i = 0; i < count; ++i) p.numbers.push_back(nodes[i].value.num);
    std::sort(p.numbers.begin(), p.numbers.end());  // canonical: the same numbers give the same prompt
    p.target = target;
    std::string listed;
    for (const int64_t n : p.numbers) listed += (listed.empty() ? "" : ", ") + std::to_string(n);
    p.prompt = fmt::format("Using the numbers {}, make {}. You may use + - * / and parentheses, and each number at "
                           "most once.",
                           listed, target);
    p.answer = print(nodes, steps.back());

    std::vector<Rational> start;
    for (const int64_t n : p.numbers) start.push_back(Rational::integer(n));
    std::string& s = p.solution;
    s = fmt::format("Numbers: {}. Target: {}.\n", listed, target);
    s += dead_ends(rng, start, Rational::integer(target));
    std::vector<Rational> pool = start;
    for (const int step : steps) {
      const Node& n = nodes[step];
      const Rational a = nodes[n.left].value, b = nodes[n.right].value;
      pool.erase(std::find(pool.begin(), pool.end(), a));
      pool.erase(std::find(pool.begin(), pool.end(), b));
      pool.push_back(n.value);
      s += fmt::format("{} {} {} {} = {}.", step == steps.front() ? "Try" : "Then", show(a), n.op, show(b), show(n.value));
      s += pool.size() > 1 ? fmt::format(" Left: {}.\n", show_pool(pool)) : " That is the target.\n";
    }
    s += fmt::format("Expression: {} = {}.", p.answer, target);
    return p;
  }

  // Up to dead_ends first moves after which the target cannot be reached at all (so never the move the
  // solution makes).
  std::string dead_ends(Rng& rng, const std::vector<Rational>& start, Rational target) const {
    const uint64_t wanted = rng.below(static_cast<uint64_t>(o_.dead_ends) + 1);
    std::string out;
    std::vector<std::pair<size_t, size_t>> tried;  // (pair code, op) already shown
    for (uint64_t attempt = 0, shown = 0; attempt < 4 * wanted && shown < wanted; ++attempt) {
      const size_t i = rng.below(start.size());
      size_t j = rng.below(start.size() - 1);
      if (j >= i) ++j;
      const size_t op_index = rng.below(4);
      const char op = "+-*/"[op_index];
      const std::optional<Rational> v = apply(op, start[i], start[j]);
      if (!v || v->num <= 0) continue;
      const auto key = std::make_pair(i * start.size() + j, op_index);
      if (std::find(tried.begin(), tried.end(), key) != tried.end()) continue;
      std::vector<Rational> rest;
      for (size_t m = 0; m < start.size(); ++m) {
        if (m != i && m != j) rest.push_back(start[m]);
      }
      rest.push_back(*v);
      if (reachable(rest, target)) continue;
      tried.push_back(key);
      ++shown;
      out += fmt::format("Try {} {} {} = {}. Left: {}. No combination of these makes {}, so back up.\n", show(start[i]),
                         op, show(start[j]), show(*v), show_pool(rest), target.num);
    }
    return out;
  }

  CountdownOptions o_;
};

}  // namespace

CountdownOptions read_countdown_options(const nlohmann::json& j) {
  CountdownOptions o;
  OptionReader r("countdown", j);
  r.read("min_count", o.min_count, 2, 6);  // 6 numbers: the exhaustive dead-end search stays cheap
  r.read("max_count", o.max_count, 2, 6);
  r.read("min_number", o.min_number, 1, 1000);
  r.read("max_number", o.max_number, 1, 1000);
  r.read("max_target", o.max_target, 1, 1000000000);
  r.read("dead_ends", o.dead_ends, 0, 5);
  r.finish();
  if (o.min_count > o.max_count) fail("countdown options: min_count {} > max_count {}", o.min_count, o.max_count);
  if (o.min_number > o.max_number) fail("countdown options: min_number {} > max_number {}", o.min_number, o.max_number);
  return o;
}

std::unique_ptr<Generator> make_countdown(const CountdownOptions& o) { return std::make_unique<Countdown>(o); }

}  // namespace r1::train
