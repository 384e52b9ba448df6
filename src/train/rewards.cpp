#include "train/rewards.h"

#include <algorithm>
#include <map>

#include "train/expr.h"

namespace r1::train {
namespace {

constexpr std::string_view kThinkOpen = "<think>", kThinkClose = "</think>";
constexpr std::string_view kAnswerOpen = "<answer>", kAnswerClose = "</answer>";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool blank(std::string_view s) { return trim(s).empty(); }

// Where `tag` occurs, if exactly once; npos otherwise.
size_t find_once(std::string_view s, std::string_view tag) {
  const size_t at = s.find(tag);
  if (at == std::string_view::npos || s.find(tag, at + 1) != std::string_view::npos) return std::string_view::npos;
  return at;
}

// "+007" -> "7", "-0" -> "0", "-12" -> "-12"; nullopt for anything but [+-]?[0-9]+ after trimming.
std::optional<std::string> canonical_integer(std::string_view s) {
  s = trim(s);
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  while (s.size() > 1 && s.front() == '0') s.remove_prefix(1);
  if (s == "0") negative = false;
  std::string out = negative ? "-" : "";
  out.append(s);
  return out;
}

bool countdown_correct(const Problem& problem, std::string_view answer) {
  const std::optional<EvaluatedExpr> e = evaluate_expr(trim(answer));
  if (!e || !(e->value == Rational::integer(problem.target))) return false;
  std::map<int64_t, int> available;
  for (const int64_t n : problem.numbers) ++available[n];
  for (const int64_t n : e->numbers) {
    if (--available[n] < 0) return false;  // not given, or used more often than given
  }
  return true;
}

}  // namespace

bool format_ok(std::string_view c) {
  const size_t think_open = find_once(c, kThinkOpen), think_close = find_once(c, kThinkClose);
  const size_t answer_open = find_once(c, kAnswerOpen), answer_close = find_once(c, kAnswerClose);
  if (think_open == std::string_view::npos || think_close == std::string_view::npos ||
      answer_open == std::string_view::npos || answer_close == std::string_view::npos) {
    return false;
  }
  if (!(think_open < think_close && think_close < answer_open && answer_open < answer_close)) return false;
  const size_t think_body = think_open + kThinkOpen.size(), answer_body = answer_open + kAnswerOpen.size();
  const size_t after_think = think_close + kThinkClose.size(), after_answer = answer_close + kAnswerClose.size();
  return blank(c.substr(0, think_open)) && blank(c.substr(after_think, answer_open - after_think)) &&
         blank(c.substr(after_answer)) && !blank(c.substr(think_body, think_close - think_body)) &&
         !blank(c.substr(answer_body, answer_close - answer_body));
}

std::optional<std::string> extract_answer(std::string_view c) {
  const size_t open = find_once(c, kAnswerOpen), close = find_once(c, kAnswerClose);
  if (open == std::string_view::npos || close == std::string_view::npos || close < open + kAnswerOpen.size()) {
    return std::nullopt;
  }
  const size_t body = open + kAnswerOpen.size();
  return std::string(trim(c.substr(body, close - body)));
}

bool answer_correct(const Problem& problem, std::string_view answer) {
  if (problem.task == "countdown") return countdown_correct(problem, answer);
  const std::optional<std::string> given = canonical_integer(answer);
  const std::optional<std::string> expected = canonical_integer(problem.answer);
  return given && expected && *given == *expected;
}

double accuracy(const Problem& problem, std::string_view completion) {
  const std::optional<std::string> answer = extract_answer(completion);
  return answer && answer_correct(problem, *answer) ? 1.0 : 0.0;
}

Reward score(const Problem& problem, std::string_view completion, const RewardWeights& weights) {
  Reward r;
  r.format = format_ok(completion) ? 1.0 : 0.0;
  r.accuracy = accuracy(problem, completion);
  r.total = weights.accuracy * r.accuracy + weights.format * r.format;
  return r;
}

}  // namespace r1::train
