// The training data layer: the PRNG, generator determinism and options, the rule-based rewards on
// hand-written completions, the countdown parser on garbage, datasets and decontamination.
// Every expected value here is written by hand or comes from a published reference, never from the code
// under test; tests/reference/check_tasks.py verifies the generated answers independently in Python.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "train/dataset.h"
#include "train/expr.h"
#include "train/rewards.h"
#include "train/rng.h"
#include "train/stage.h"
#include "train/tasks.h"

namespace r1::train {
namespace {

// ---- PRNG ----------------------------------------------------------------------------------------

TEST(Rng, SplitMix64SeedZeroGivesThePublishedSequence) {
  // splitmix64 from state 0: the first outputs of Vigna's reference splitmix64.c.
  uint64_t state = 0;
  const uint64_t expected[] = {0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL, 0x06c45d188009454fULL,
                               0xf88bb8a8724c81ecULL};
  for (const uint64_t e : expected) {
    state += 0x9e3779b97f4a7c15ULL;
    EXPECT_EQ(mix64(state), e);
  }
}

TEST(Rng, Xoshiro256StarStarFromSplitMixSeedZero) {
  // xoshiro256** seeded with the four words above, worked out with a separate Python transcription of
  // xoshiro256starstar.c (Blackman & Vigna).
  Rng rng(0);
  EXPECT_EQ(rng.next(), 0x99ec5f36cb75f2b4ULL);
  EXPECT_EQ(rng.next(), 0xbf6e1f784956452aULL);
  EXPECT_EQ(rng.next(), 0x1a5f849d4933e6e0ULL);
  EXPECT_EQ(rng.next(), 0x6aa594f1262d2d2cULL);
}

TEST(Rng, RangesStayInBoundsAndCoverThem) {
  Rng rng(7);
  std::set<int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const int64_t v = rng.range(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    seen.insert(v);
    ASSERT_EQ(rng.below(1), 0u);
  }
  EXPECT_EQ(seen.size(), 7u);
}

TEST(Rng, ProblemStreamsDependOnEveryInput) {
  const uint64_t base = Rng::for_problem("arithmetic", 1, 5, 9).next();
  EXPECT_EQ(Rng::for_problem("arithmetic", 1, 5, 9).next(), base);
  EXPECT_NE(Rng::for_problem("countdown", 1, 5, 9).next(), base);
  EXPECT_NE(Rng::for_problem("arithmetic", 2, 5, 9).next(), base);
  EXPECT_NE(Rng::for_problem("arithmetic", 1, 6, 9).next(), base);
  EXPECT_NE(Rng::for_problem("arithmetic", 1, 5, 10).next(), base);
}

// ---- generators ----------------------------------------------------------------------------------

TEST(Generators, SameSeedSameBytesOtherSeedOtherBytes) {
  for (const std::string& task : task_names()) {
    SCOPED_TRACE(task);
    const auto g = make_generator(task);
    const std::string a = to_jsonl(generate_split(*g, 11, 200));
    EXPECT_EQ(a, to_jsonl(generate_split(*make_generator(task), 11, 200)));
    EXPECT_NE(a, to_jsonl(generate_split(*g, 12, 200)));
  }
}

TEST(Generators, AProblemDoesNotDependOnTheOthersGenerated) {
  for (const std::string& task : task_names()) {
    const auto g = make_generator(task);
    const std::vector<Problem> split = generate_split(*g, 3, 50);
    EXPECT_EQ(problem_to_json(g->generate(3, 37)), problem_to_json(split[37])) << task;
  }
}

TEST(Generators, ReferenceAnswersEarnTheFullReward) {
  for (const std::string& task : task_names()) {
    const auto g = make_generator(task);
    for (uint64_t i = 0; i < 300; ++i) {
      const Problem p = g->generate(21, i);
      const std::string completion = "<think>" + p.solution + "</think>\n<answer>" + p.answer + "</answer>";
      const Reward r = score(p, completion);
      ASSERT_EQ(r.accuracy, 1.0) << task << " " << p.prompt << " -> " << p.answer;
      ASSERT_EQ(r.format, 1.0) << task << " " << p.prompt;
    }
  }
}

TEST(Generators, OptionsAreRecordedWithDefaultsFilledIn) {
  const auto g = make_generator("arithmetic", {{"max_digits", 3}});
  EXPECT_EQ(g->options()["max_digits"], 3);
  EXPECT_EQ(g->options()["min_digits"], 2);  // the documented default
  EXPECT_EQ(g->options()["ops"], "+-*");
  EXPECT_EQ(make_generator("countdown")->options()["max_number"], 100);
  EXPECT_EQ(make_generator("linear")->options()["max_x"], 20);
  EXPECT_EQ(make_generator("sum")->options()["max_terms"], 8);
}

TEST(Generators, OptionsShapeTheProblems) {
  const auto g = make_generator("arithmetic", {{"min_digits", 3}, {"max_digits", 3}, {"ops", "+"}});
  for (uint64_t i = 0; i < 100; ++i) {
    const std::string prompt = g->generate(1, i).prompt;  // "What is ddd + ddd?"
    ASSERT_EQ(prompt.size(), std::string("What is 123 + 456?").size()) << prompt;
    ASSERT_NE(prompt.find(" + "), std::string::npos) << prompt;
  }
  const auto c = make_generator("countdown", {{"min_count", 5}, {"max_count", 5}, {"max_number", 9}});
  for (uint64_t i = 0; i < 50; ++i) {
    const Problem p = c->generate(1, i);
    ASSERT_EQ(p.numbers.size(), 5u);
    for (const int64_t n : p.numbers) ASSERT_TRUE(n >= 1 && n <= 9) << p.prompt;
  }
  // Six terms of 7: the prompt, the six-line working and the answer follow from the options alone.
  const Problem s = make_generator("sum", {{"min_terms", 6}, {"max_terms", 6}, {"min_term", 7}, {"max_term", 7}})->generate(1, 0);
  EXPECT_EQ(s.prompt, "What is 7 + 7 + 7 + 7 + 7 + 7?");
  EXPECT_EQ(s.answer, "42");
  EXPECT_EQ(s.solution, "7 + 7 + 7 + 7 + 7 + 7\n= 14 + 7 + 7 + 7 + 7\n= 21 + 7 + 7 + 7\n= 28 + 7 + 7\n= 35 + 7\n= 42\nSo the sum is 42.");
}

TEST(Generators, BadOptionsAndTasksAreErrors) {
  EXPECT_THROW(make_generator("sudoku"), Error);
  EXPECT_THROW(make_generator("arithmetic", {{"max_digitz", 3}}), Error);   // typo: not silently ignored
  EXPECT_THROW(make_generator("arithmetic", {{"max_digits", 10}}), Error);  // would overflow 64 bits
  EXPECT_THROW(make_generator("arithmetic", {{"max_digits", "3"}}), Error);
  EXPECT_THROW(make_generator("arithmetic", {{"ops", "+/"}}), Error);
  EXPECT_THROW(make_generator("arithmetic", {{"min_digits", 4}, {"max_digits", 3}}), Error);
  EXPECT_THROW(make_generator("countdown", {{"max_count", 7}}), Error);
  EXPECT_THROW(make_generator("linear", nlohmann::json::array()), Error);
  EXPECT_THROW(make_generator("countdown", {{"min_number", 0}}), Error);
  EXPECT_THROW(make_generator("sum", {{"min_terms", 1}}), Error);  // a sum needs two terms
  EXPECT_THROW(make_generator("sum", {{"min_term", 5}, {"max_term", 4}}), Error);
  EXPECT_THROW(make_generator("sum", {{"terms", 4}}), Error);
}

TEST(Generators, StructOptionsAreValidatedLikeJson) {
  TaskOptions o;
  o.linear.max_x = 3;
  EXPECT_EQ(make_generator("linear", o)->options()["max_x"], 3);
  o.arithmetic.max_digits = 12;
  EXPECT_THROW(make_generator("arithmetic", o), Error);
  EXPECT_THROW(make_generator("sudoku", o), Error);
}

TEST(Generators, R1ZeroTemplateWrapsTheQuestion) {
  const std::string t = r1_zero_prompt("What is 1 + 2?");
  EXPECT_TRUE(t.starts_with("A conversation between User and Assistant."));
  EXPECT_NE(t.find("<think> reasoning process here </think> <answer> answer here </answer>"), std::string::npos);
  EXPECT_TRUE(t.ends_with("User: What is 1 + 2? Assistant:"));
}

// ---- format reward -------------------------------------------------------------------------------

TEST(Format, AcceptsThinkThenAnswer) {
  EXPECT_TRUE(format_ok("<think>a</think><answer>5</answer>"));
  EXPECT_TRUE(format_ok("  <think>\nstep 1\n</think>\n\n<answer> 5 </answer>\n"));
}

TEST(Format, RejectsMissingTags) {
  EXPECT_FALSE(format_ok(""));
  EXPECT_FALSE(format_ok("5"));
  EXPECT_FALSE(format_ok("<think>a</think>"));
  EXPECT_FALSE(format_ok("<answer>5</answer>"));
  EXPECT_FALSE(format_ok("<think>a<answer>5</answer>"));
  EXPECT_FALSE(format_ok("<think>a</think><answer>5"));
}

TEST(Format, RejectsTextOutsideTheTags) {
  EXPECT_FALSE(format_ok("<think>a</think><answer>5</answer> and more"));
  EXPECT_FALSE(format_ok("Sure! <think>a</think><answer>5</answer>"));
  EXPECT_FALSE(format_ok("<think>a</think> so <answer>5</answer>"));
}

TEST(Format, RejectsNestedRepeatedAndReorderedTags) {
  EXPECT_FALSE(format_ok("<think>a<think>b</think></think><answer>5</answer>"));
  EXPECT_FALSE(format_ok("<think>a</think><answer>5</answer><answer>6</answer>"));
  EXPECT_FALSE(format_ok("<think>a</think><think>b</think><answer>5</answer>"));
  EXPECT_FALSE(format_ok("<think>a<answer>5</answer></think>"));
  EXPECT_FALSE(format_ok("<answer>5</answer><think>a</think>"));
  EXPECT_FALSE(format_ok("<think>a</think><answer>5</answer><think>"));
  EXPECT_FALSE(format_ok("</think><think>a<answer>5</answer>"));
}

TEST(Format, RejectsBlankThinkingOrAnswer) {
  EXPECT_FALSE(format_ok("<think> \n</think><answer>5</answer>"));
  EXPECT_FALSE(format_ok("<think>a</think><answer>  </answer>"));
}

TEST(ExtractAnswer, TheTrimmedTextOfTheOnlyAnswer) {
  EXPECT_EQ(extract_answer("<think>x</think><answer>  42 \n</answer>"), "42");
  EXPECT_EQ(extract_answer("junk <answer>(1 + 2) * 3</answer> junk"), "(1 + 2) * 3");
  EXPECT_EQ(extract_answer("<answer></answer>"), "");
  EXPECT_EQ(extract_answer("no tags"), std::nullopt);
  EXPECT_EQ(extract_answer("<answer>1</answer><answer>2</answer>"), std::nullopt);
  EXPECT_EQ(extract_answer("</answer>5<answer>"), std::nullopt);
  EXPECT_EQ(extract_answer("<answer>5"), std::nullopt);
}

// ---- accuracy reward -----------------------------------------------------------------------------

Problem integer_problem(const std::string& task, const std::string& answer) {
  Problem p;
  p.task = task;
  p.answer = answer;
  return p;
}

TEST(Accuracy, IntegerAnswers) {
  const Problem p = integer_problem("arithmetic", "5200");
  EXPECT_TRUE(answer_correct(p, "5200"));
  EXPECT_TRUE(answer_correct(p, " +5200\n"));
  EXPECT_TRUE(answer_correct(p, "05200"));
  EXPECT_FALSE(answer_correct(p, "5,200"));
  EXPECT_FALSE(answer_correct(p, "5200."));
  EXPECT_FALSE(answer_correct(p, "5200 apples"));
  EXPECT_FALSE(answer_correct(p, "5 200"));
  EXPECT_FALSE(answer_correct(p, "-5200"));
  EXPECT_FALSE(answer_correct(p, "5201"));
  EXPECT_FALSE(answer_correct(p, ""));
  EXPECT_FALSE(answer_correct(p, "+"));
  EXPECT_FALSE(answer_correct(p, "99999999999999999999999999999999999999"));

  const Problem x = integer_problem("linear", "-6");
  EXPECT_TRUE(answer_correct(x, "-6"));
  EXPECT_TRUE(answer_correct(x, " -06 "));
  EXPECT_FALSE(answer_correct(x, "6"));
  EXPECT_FALSE(answer_correct(x, "x = -6"));
  EXPECT_FALSE(answer_correct(x, "- 6"));
  EXPECT_FALSE(answer_correct(x, "--6"));

  const Problem zero = integer_problem("linear", "0");
  EXPECT_TRUE(answer_correct(zero, "-0"));
  EXPECT_TRUE(answer_correct(zero, "+0"));
}

TEST(Accuracy, NeedsTheAnswerTagsNotTheFormat) {
  const Problem p = integer_problem("arithmetic", "12");
  EXPECT_EQ(accuracy(p, "<think>7 + 5 = 12</think><answer>12</answer>"), 1.0);
  EXPECT_EQ(accuracy(p, "<answer>12</answer>"), 1.0);  // no thinking: format 0, accuracy still 1
  EXPECT_EQ(accuracy(p, "12"), 0.0);                    // no answer tags: nothing to check
  EXPECT_EQ(accuracy(p, "<answer>12</answer><answer>13</answer>"), 0.0);
}

Problem countdown(std::vector<int64_t> numbers, int64_t target) {
  Problem p;
  p.task = "countdown";
  p.numbers = std::move(numbers);
  p.target = target;
  return p;
}

TEST(Accuracy, CountdownValidExpressions) {
  const Problem p = countdown({3, 25, 47}, 216);
  EXPECT_TRUE(answer_correct(p, "(47 + 25) * 3"));
  EXPECT_TRUE(answer_correct(p, " 3*(25+47) "));
  EXPECT_TRUE(answer_correct(p, "3 \xC3\x97 (25 + 47)"));               // ×
  EXPECT_TRUE(answer_correct(p, "((((47 + 25)))) * 3"));
  const Problem q = countdown({1, 2, 4, 8}, 6);
  EXPECT_TRUE(answer_correct(q, "(1 + 2) / 4 * 8"));                    // 3/4 on the way
  EXPECT_TRUE(answer_correct(q, "(1 + 2) \xC3\xB7 4 * 8"));             // ÷
  EXPECT_TRUE(answer_correct(q, "8 \xE2\x88\x92 2"));                   // − (U+2212), and 1, 4 unused
  const Problem r = countdown({4, 4, 8}, 2);
  EXPECT_TRUE(answer_correct(r, "8 / 4"));
  EXPECT_TRUE(answer_correct(r, "4 / (8 / 4)"));  // 4 twice: given twice
}

TEST(Accuracy, CountdownWrongExpressions) {
  const Problem p = countdown({3, 25, 47}, 216);
  EXPECT_FALSE(answer_correct(p, "(47 + 25 + 25) * 3 - 75"));  // reuses 25, and 75 not given
  EXPECT_FALSE(answer_correct(p, "72 * 3"));                   // 72 not given
  EXPECT_FALSE(answer_correct(p, "(47 + 25) * 3 * 1"));        // 1 not given
  EXPECT_FALSE(answer_correct(p, "47 + 25 + 3"));              // 75
  EXPECT_FALSE(answer_correct(p, "(47 + 25) * 3 = 216"));      // an equation, not an expression
  EXPECT_FALSE(answer_correct(p, "216"));
  EXPECT_FALSE(answer_correct(p, "-3 + 219"));                 // no unary signs
  EXPECT_FALSE(answer_correct(p, "(47 + 25) * 3.0"));
  EXPECT_FALSE(answer_correct(p, "(47 + 25) ** 3"));
  EXPECT_FALSE(answer_correct(p, "(47 + 25)(3)"));
  EXPECT_FALSE(answer_correct(p, "(47 + 25) * 3)"));
  EXPECT_FALSE(answer_correct(p, "((47 + 25) * 3"));
  EXPECT_FALSE(answer_correct(p, ""));
  const Problem r = countdown({4, 4, 8}, 2);
  EXPECT_FALSE(answer_correct(r, "8 / (4 - 4)"));              // division by zero
  EXPECT_FALSE(answer_correct(r, "(4 + 4) / 4"));              // a third 4
  EXPECT_FALSE(answer_correct(r, "8 / 4 + 0 * (4 / (4 - 4))"));
}

TEST(Accuracy, CountdownBoundsDepthLengthAndNumberSize) {
  const Problem p = countdown({3, 25, 47}, 216);
  const std::string ok = std::string(20, '(') + "47 + 25" + std::string(20, ')') + " * 3";
  EXPECT_TRUE(answer_correct(p, ok));
  const std::string deep = std::string(40, '(') + "47 + 25" + std::string(40, ')') + " * 3";
  EXPECT_FALSE(answer_correct(p, deep));
  EXPECT_FALSE(answer_correct(p, std::string(100000, '(')));
  EXPECT_FALSE(answer_correct(p, "(47 + 25)" + std::string(2000, ' ') + "* 3"));  // over the length bound
  EXPECT_FALSE(answer_correct(p, "0000000000000047 + 25"));                   // 16 digits
}

TEST(Expr, EvaluatesExactlyAndListsTheNumbers) {
  const auto e = evaluate_expr("(1 + 2) / 4");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value.num, 3);
  EXPECT_EQ(e->value.den, 4);
  EXPECT_EQ(e->numbers, (std::vector<int64_t>{1, 2, 4}));
  const auto f = evaluate_expr("10 - 2 - 3");  // left-associative: 5, not 11
  ASSERT_TRUE(f);
  EXPECT_EQ(f->value.num, 5);
  const auto g = evaluate_expr("2 + 3 * 4");  // precedence: 14
  ASSERT_TRUE(g);
  EXPECT_EQ(g->value.num, 14);
  const auto h = evaluate_expr("12 / 8 / 3");  // (12/8)/3 = 1/2
  ASSERT_TRUE(h);
  EXPECT_EQ(h->value.num, 1);
  EXPECT_EQ(h->value.den, 2);
  EXPECT_FALSE(evaluate_expr("1 / 0"));
  EXPECT_FALSE(evaluate_expr("999999999999 * 999999999999 * 999999999999"));  // past 64 bits
  std::string sum = "1";
  for (int i = 0; i < 200; ++i) sum += " + 1";  // 801 bytes: within kMaxExprBytes
  ASSERT_TRUE(evaluate_expr(sum));
  EXPECT_EQ(evaluate_expr(sum)->value.num, 201);
  for (int i = 0; i < 100; ++i) sum += " + 1";  // 1201 bytes: over
  EXPECT_FALSE(evaluate_expr(sum));
}

TEST(Expr, NeverCrashesOnRandomBytes) {
  // Completions are model output: random byte strings, biased towards the expression alphabet so the
  // parser gets deep, must give an answer (mostly nullopt) and no crash under the sanitizers.
  Rng rng(99);
  const std::string alphabet = "0123456789+-*/() \t\n.=x<>/answerthink\xC3\x97\xE2";
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng.below(i % 10 == 0 ? 1500 : 40), '\0');
    for (char& c : s) {
      c = rng.below(4) == 0 ? static_cast<char>(rng.below(256)) : alphabet[rng.below(alphabet.size())];
    }
    parsed += evaluate_expr(s).has_value();
    const Problem p = countdown({1, 2, 3}, 6);
    (void)answer_correct(p, s);
    (void)format_ok(s);
    (void)extract_answer(s);
    (void)score(p, "<think>" + s + "</think><answer>" + s + "</answer>");
  }
  EXPECT_GE(parsed, 0);  // what matters is reaching here
}

// ---- total reward --------------------------------------------------------------------------------

TEST(Reward, WeightsCombineTheComponents) {
  const Problem p = integer_problem("arithmetic", "12");
  const Reward both = score(p, "<think>7 + 5</think><answer>12</answer>");
  EXPECT_EQ(both.format, 1.0);
  EXPECT_EQ(both.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(both.total, 1.1);
  const Reward format_only = score(p, "<think>7 + 5</think><answer>13</answer>");
  EXPECT_EQ(format_only.accuracy, 0.0);
  EXPECT_DOUBLE_EQ(format_only.total, 0.1);
  const Reward accuracy_only = score(p, "<answer>12</answer>");
  EXPECT_EQ(accuracy_only.format, 0.0);
  EXPECT_DOUBLE_EQ(accuracy_only.total, 1.0);
  EXPECT_DOUBLE_EQ(score(p, "<think>7 + 5</think><answer>12</answer>", RewardWeights::r1_zero()).total, 2.0);
  EXPECT_DOUBLE_EQ(score(p, "twelve").total, 0.0);
}

// ---- datasets ------------------------------------------------------------------------------------

TEST(Dataset, JsonLinesHaveAStableKeyOrder) {
  Problem p;
  p.task = "arithmetic";
  p.index = 7;
  p.prompt = "What is 1 + 2?";
  p.answer = "3";
  p.solution = "Ones: 1 + 2 = 3.\nSo 1 + 2 = 3.";
  EXPECT_EQ(to_jsonl({p}),
            "{\"task\":\"arithmetic\",\"index\":7,\"prompt\":\"What is 1 + 2?\",\"answer\":\"3\","
            "\"solution\":\"Ones: 1 + 2 = 3.\\nSo 1 + 2 = 3.\"}\n");
  const Problem back = problem_from_json(nlohmann::json::parse(problem_to_json(p).dump()));
  EXPECT_EQ(problem_to_json(back), problem_to_json(p));

  Problem c = countdown({3, 25, 47}, 216);
  c.index = 1;
  c.prompt = "P";
  c.answer = "(47 + 25) * 3";
  c.solution = "S";
  EXPECT_EQ(problem_to_json(c).dump(),
            "{\"task\":\"countdown\",\"index\":1,\"prompt\":\"P\",\"answer\":\"(47 + 25) * 3\",\"solution\":\"S\","
            "\"numbers\":[3,25,47],\"target\":216}");
  EXPECT_THROW(problem_from_json(nlohmann::json::parse("{\"task\":\"countdown\"}")), Error);
}

TEST(Dataset, Sha256OfKnownStrings) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Dataset, NgramOverlapCountsDistinctEvalNgramsFoundInTrain) {
  Problem train, eval;
  train.prompt = "a b c d";
  train.solution = "e";
  eval.prompt = "a b c";
  eval.solution = "x\na b c";  // tokens a b c x a b c: 3-grams abc, bcx, cxa, xab, abc -> 4 distinct
  const NgramOverlap o = ngram_overlap({train}, {eval}, 3);
  EXPECT_EQ(o.eval_ngrams, 4u);
  EXPECT_EQ(o.in_train, 1u);  // only "a b c"
  EXPECT_DOUBLE_EQ(o.fraction, 0.25);
}

TEST(Dataset, EvalSetsShareNoPromptWithTrain) {
  // One-digit sums: 100 possible prompts, so a 60-problem training set collides with many eval draws.
  const auto g = make_generator("arithmetic", {{"min_digits", 1}, {"max_digits", 1}, {"ops", "+"}});
  const std::vector<Problem> train = generate_split(*g, 1, 60);
  const EvalSet eval = draw_eval_set(*g, train, 2, 20);
  ASSERT_EQ(eval.problems.size(), 20u);
  std::set<std::string> train_prompts, eval_prompts;
  for (const Problem& p : train) train_prompts.insert(p.prompt);
  for (const Problem& p : eval.problems) {
    EXPECT_FALSE(train_prompts.contains(p.prompt)) << p.prompt;
    EXPECT_TRUE(eval_prompts.insert(p.prompt).second) << "duplicate " << p.prompt;
  }
  EXPECT_FALSE(eval.removed.empty());
  for (const auto& r : eval.removed) {
    EXPECT_TRUE(train_prompts.contains(r.prompt) || r.reason == "duplicate in eval") << r.prompt;
  }
  // Kept and removed together are exactly the indices drawn, in order.
  std::vector<uint64_t> all;
  for (const Problem& p : eval.problems) all.push_back(p.index);
  for (const auto& r : eval.removed) all.push_back(r.index);
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], i);
  // More eval problems than the space holds: an error, not an endless loop.
  EXPECT_THROW(draw_eval_set(*g, train, 2, 100), Error);
}

// worked_fraction: a documented share of the training texts keeps its working, the rest answer directly;
// the held-out set and the other problems' fields do not change.
// The rule as the manifest publishes it ("direct_rule"), restated here from the tested PRNG.
bool published_direct(uint64_t seed, uint64_t index, double fraction) {
  return Rng::for_problem("worked_fraction", 1, seed, index).below(uint64_t(1) << 20) >=
         uint64_t(fraction * double(uint64_t(1) << 20));
}

TEST(Dataset, WorkedFractionEmptiesTheRuledSolutionsOnly) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("r1-worked-fraction-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto write = [&](const std::string& name, double fraction) {
    DataRequest r;
    r.task = "arithmetic";
    r.options = {{"min_digits", 1}, {"max_digits", 2}};
    r.count = 2000;
    r.seed = 5;
    r.eval_count = 50;
    r.eval_seed = 6;
    r.out = (dir / (name + ".jsonl")).string();
    r.worked_fraction = fraction;
    return write_dataset(r);
  };
  write("full", 1.0);
  write("quarter", 0.25);
  const nlohmann::json manifest = write("half", 0.5);
  const auto full = read_jsonl((dir / "full.jsonl").string());
  const auto quarter = read_jsonl((dir / "quarter.jsonl").string());
  const auto half = read_jsonl((dir / "half.jsonl").string());
  ASSERT_EQ(full.size(), 2000u);
  ASSERT_EQ(quarter.size(), 2000u);
  size_t worked_quarter = 0, worked_half = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    ASSERT_FALSE(full[i].solution.empty());
    EXPECT_EQ(quarter[i].prompt, full[i].prompt);
    EXPECT_EQ(quarter[i].answer, full[i].answer);
    // Emptied exactly where the published rule says, else the same worked solution.
    EXPECT_EQ(quarter[i].solution.empty(), published_direct(5, i, 0.25)) << i;
    if (!quarter[i].solution.empty()) {
      EXPECT_EQ(quarter[i].solution, full[i].solution);
    }
    // A larger fraction keeps a superset: the same draw is compared with a higher threshold.
    if (!quarter[i].solution.empty()) {
      EXPECT_FALSE(half[i].solution.empty()) << i;
    }
    worked_quarter += !quarter[i].solution.empty();
    worked_half += !half[i].solution.empty();
  }
  // Binomial(2000, p): 4.5 standard deviations either side.
  EXPECT_NEAR(double(worked_quarter), 500.0, 4.5 * 19.4);
  EXPECT_NEAR(double(worked_half), 1000.0, 4.5 * 22.4);
  // The held-out sets are drawn against the full training set and keep their solutions: same bytes.
  EXPECT_EQ(read_file(dir / "quarter.eval.jsonl"), read_file(dir / "full.eval.jsonl"));
  // The manifest says what was done; at fraction 1 it says nothing new (old manifests unchanged).
  bool saw_half = false, saw_full = false;
  for (const auto& f : manifest["files"]) {
    if (f["file"] == "half.jsonl") {
      saw_half = true;
      EXPECT_DOUBLE_EQ(f["worked_fraction"].get<double>(), 0.5);
      EXPECT_EQ(f["direct_answers"].get<uint64_t>(), 2000u - worked_half);
    }
    if (f["file"] == "full.jsonl") {
      saw_full = true;
      EXPECT_FALSE(f.contains("worked_fraction"));
    }
  }
  EXPECT_TRUE(saw_half && saw_full);
  EXPECT_THROW(write("bad", 1.5), Error);
  EXPECT_THROW(write("bad", -0.1), Error);
  fs::remove_all(dir);
}

TEST(Dataset, ADirectAnswerIsAnEmptyThinkBlock) {
  Problem p;
  p.prompt = "What is 2 + 3?";
  p.answer = "5";
  p.solution = "Ones: 2 + 3 = 5.";
  auto text = [](const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) {
      if (id < 256) {
        s.push_back(char(id));
      } else {
        s.push_back('<');
        s.append(std::to_string(id));
        s.push_back('>');
      }
    }
    return s;
  };
  const tok::Tokenizer tok = training_tokenizer();
  EXPECT_EQ(text(completion_tokens(tok, p)), "\nOnes: 2 + 3 = 5.\n<259>\n<260>5<261><257>");
  p.solution.clear();
  EXPECT_EQ(text(completion_tokens(tok, p)), "\n<259>\n<260>5<261><257>");
}

}  // namespace
}  // namespace r1::train
