// sum: "What is 7 + 3 + 9 + 4 + 6?" -- a chain of small terms. Its worked solution rewrites the expression
// one addition at a time ("= 10 + 9 + 4 + 6", "= 19 + 4 + 6", ...), so each line is one addition fact
// plus a copy of the rest. Answering such a chain in one step is hard for a small model, working through it
// is not: the task on which thinking should pay, which is what an R1-Zero-style run needs to show.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "train/rng.h"
#include "train/task_common.h"

namespace r1::train {
namespace {

// "7 + 3 + 9".
std::string chain(const std::vector<int64_t>& terms, size_t from) {
  std::string s = std::to_string(terms[from]);
  for (size_t i = from + 1; i < terms.size(); ++i) s += fmt::format(" + {}", terms[i]);
  return s;
}

class Sum final : public Generator {
 public:
  explicit Sum(const SumOptions& o) : o_(o) {}
  std::string_view name() const override { return "sum"; }
  uint32_t version() const override { return 1; }

  nlohmann::ordered_json options() const override {
    return {{"min_terms", o_.min_terms}, {"max_terms", o_.max_terms}, {"min_term", o_.min_term}, {"max_term", o_.max_term}};
  }

  Problem generate(uint64_t seed, uint64_t index) const override {
    Rng rng = Rng::for_problem(name(), version(), seed, index);
    std::vector<int64_t> terms(static_cast<size_t>(rng.range(o_.min_terms, o_.max_terms)));
    for (int64_t& t : terms) t = rng.range(o_.min_term, o_.max_term);

    Problem p;
    p.task = name();
    p.index = index;
    p.prompt = fmt::format("What is {}?", chain(terms, 0));
    std::string& s = p.solution;
    s = chain(terms, 0);
    // Fold the first two terms into one until a single number is left.
    for (size_t i = 1; i < terms.size(); ++i) {
      terms[i] += terms[i - 1];
      s += "\n= " + chain(terms, i);
    }
    p.answer = std::to_string(terms.back());
    s += fmt::format("\nSo the sum is {}.", p.answer);
    return p;
  }

 private:
  SumOptions o_;
};

}  // namespace

SumOptions read_sum_options(const nlohmann::json& j) {
  SumOptions o;
  OptionReader r("sum", j);
  r.read("min_terms", o.min_terms, 2, 64);
  r.read("max_terms", o.max_terms, 2, 64);
  r.read("min_term", o.min_term, 0, 1000000);
  r.read("max_term", o.max_term, 0, 1000000);
  r.finish();
  if (o.min_terms > o.max_terms) fail("sum options: min_terms {} > max_terms {}", o.min_terms, o.max_terms);
  if (o.min_term > o.max_term) fail("sum options: min_term {} > max_term {}", o.min_term, o.max_term);
  return o;
}

std::unique_ptr<Generator> make_sum(const SumOptions& o) { return std::make_unique<Sum>(o); }

}  // namespace r1::train
