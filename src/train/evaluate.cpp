#include "train/evaluate.h"

#include "train/rewards.h"
#include "train/rollout.h"
#include "train/stage.h"

namespace r1::train {

nlohmann::ordered_json EvalResult::summary() const {
  nlohmann::ordered_json by = nlohmann::ordered_json::object();
  for (const auto& [task, v] : by_task) by[task] = {{"accuracy", v.first}, {"n", v.second}};
  return {{"accuracy", accuracy}, {"format_rate", format_rate}, {"mean_tokens", mean_tokens},
          {"completions", completions}, {"by_task", by}};
}

EvalResult evaluate_accuracy(const Model& model, const tok::Tokenizer& tok, ThreadPool& pool,
                             const std::vector<Problem>& problems, const EvalOptions& o) {
  std::vector<RolloutRequest> requests;
  for (size_t i = 0; i < problems.size(); ++i) {
    for (int k = 0; k < o.samples; ++k) {
      requests.push_back({prompt_tokens(tok, problems[i]), o.seed * 1000003ull + i * 131ull + uint64_t(k)});
    }
  }
  RolloutOptions ro;
  ro.temperature = o.temperature;
  ro.max_tokens = o.max_tokens;
  ro.stop_token = kEos;
  ro.parallel = o.parallel;
  const std::vector<Rollout> out = generate_rollouts(model, pool, requests, ro);

  EvalResult r;
  std::map<std::string, std::pair<double, int64_t>> sums;
  for (size_t j = 0; j < out.size(); ++j) {
    const size_t i = j / size_t(o.samples);
    EvalCompletion c;
    c.problem = i;
    c.completion = scored_text(tok, out[j].tokens);
    const Reward rw = score(problems[i], c.completion);
    c.accuracy = rw.accuracy;
    c.format = rw.format;
    c.tokens = int64_t(out[j].tokens.size());
    r.accuracy += c.accuracy;
    r.format_rate += c.format;
    r.mean_tokens += double(c.tokens);
    auto& t = sums[problems[i].task];
    t.first += c.accuracy;
    t.second += 1;
    r.details.push_back(std::move(c));
  }
  r.completions = int64_t(out.size());
  if (!out.empty()) {
    r.accuracy /= double(out.size());
    r.format_rate /= double(out.size());
    r.mean_tokens /= double(out.size());
  }
  for (auto& [task, v] : sums) r.by_task[task] = {v.first / double(v.second), v.second};
  return r;
}

}  // namespace r1::train
