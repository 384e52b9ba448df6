// Pre-training and SFT: next-token cross-entropy (plus MTP and the balance loss) over worked solutions.
#include "train/trainer.h"

#include <fmt/format.h>

#include <fstream>

#include "core/error.h"
#include "train/grpo.h"
#include "train/model.h"
#include "train/stage.h"

namespace r1::train {

namespace {

using json = nlohmann::json;

struct Example {
  std::vector<int32_t> tokens, targets;  // targets[t]: the token after t, or -1 (not counted / padding)
};

Example make_example(const tok::Tokenizer& tok, const Problem& p, bool sft, int64_t seq_len) {
  const std::vector<int32_t> prompt = prompt_tokens(tok, p), completion = completion_tokens(tok, p);
  Example e;
  e.tokens = prompt;
  e.tokens.insert(e.tokens.end(), completion.begin(), completion.end());
  if (int64_t(e.tokens.size()) > seq_len + 1) e.tokens.resize(size_t(seq_len + 1));
  e.targets.assign(e.tokens.begin() + 1, e.tokens.end());
  e.tokens.pop_back();
  if (sft) {  // the prompt's next-token predictions are not counted: only the answer is learnt
    for (size_t t = 0; t + 1 < prompt.size() && t < e.targets.size(); ++t) e.targets[t] = -1;
  }
  return e;
}

}  // namespace

std::string run_training(const TrainRequest& req) {
  if (req.stage == "grpo") return run_grpo(req);
  if (req.stage != "pretrain" && req.stage != "sft") fail("r1 train: stage '{}' (expected pretrain, sft or grpo)", req.stage);
  Stage stage(req);
  const ojson& t = stage.train();
  const int64_t steps = t["steps"], batch = t["batch"], seq_len = t["seq_len"];
  if (steps < 1 || batch < 1 || seq_len < 8) fail("training config: steps, batch must be >= 1 and seq_len >= 8");
  const bool sft = req.stage == "sft";

  std::vector<Example> train_ex, eval_ex;
  for (const auto& p : stage.train_set()) train_ex.push_back(make_example(stage.tokenizer(), p, sft, seq_len));
  for (const auto& p : stage.eval_set()) eval_ex.push_back(make_example(stage.tokenizer(), p, sft, seq_len));

  ThreadPool pool(t["threads"].get<int>());
  TrainModel<float> m(stage.model_config(), seq_len, {double(t["mtp_lambda"]), double(t["balance_alpha"])});
  std::vector<float> opt_m, opt_v;
  const int64_t start = stage.start(m, opt_m, opt_v);
  stage.write_run_json({{"threads", pool.size()}, {"parameters", m.weights().size()}});
  learning_rate(t, 0);  // rejects an unknown schedule before the first step

  const AdamW adam{double(t["beta1"]), double(t["beta2"]), double(t["eps"]), double(t["weight_decay"])};
  const auto mode = start > 0 ? std::ios::app : std::ios::trunc;
  std::ofstream metrics(stage.dir() / "metrics.jsonl", mode), evals(stage.dir() / "eval.jsonl", mode);
  const int64_t eval_every = t["eval_every"], ckpt_every = t["checkpoint_every"];
  const uint64_t seed = t["seed"];
  const double t0 = seconds_now();

  auto evaluate = [&](int64_t step) {
    if (eval_ex.empty()) return;
    const size_t n = std::min<size_t>(eval_ex.size(), size_t(int64_t(t["eval_examples"])));
    double loss = 0;
    int64_t counted = 0;
    for (size_t i = 0; i < n; ++i) {
      const Example& e = eval_ex[i];
      const Losses l = m.forward(e.tokens.data(), e.targets.data(), int64_t(e.tokens.size()), pool);
      loss += l.main * double(l.counted);
      counted += l.counted;
    }
    evals << ojson{{"step", step}, {"eval_loss", counted ? loss / double(counted) : 0.0}, {"examples", n}}.dump() << "\n";
    evals.flush();
  };

  std::string last;
  for (int64_t step = start; step < steps; ++step) {
    const double ts = seconds_now();
    m.zero_grads();
    Losses sum;
    int64_t tokens = 0;
    std::vector<std::vector<int64_t>> load;
    // The step's batch, one sequence at a time: gradients accumulate over the `batch` sequences (a
    // micro-batch of one), so the effective batch is not bounded by activation memory.
    for (int64_t b = 0; b < batch; ++b) {
      const Example& e = train_ex[example_index(seed, step, b, train_ex.size())];
      const int64_t T = int64_t(e.tokens.size());
      const Losses l = m.forward(e.tokens.data(), e.targets.data(), T, pool);
      m.backward(1.0 / double(batch), pool);
      sum.main += l.main / double(batch);
      sum.mtp += l.mtp / double(batch);
      sum.balance += l.balance / double(batch);
      sum.total += l.total / double(batch);
      tokens += T;
      add_load(load, m.expert_load());
    }
    const double lr = learning_rate(t, step);
    const UpdateResult u = optimizer_step(m, opt_m, opt_v, adam, step, lr, double(t["clip"]), double(t["bias_gamma"]), load);
    const double dt = seconds_now() - ts;
    metrics << ojson{{"step", step + 1}, {"loss", sum.total}, {"main_loss", sum.main}, {"mtp_loss", sum.mtp},
                     {"balance_loss", sum.balance}, {"lr", lr}, {"grad_norm", u.grad_norm}, {"tokens", tokens},
                     {"tokens_per_s", double(tokens) / std::max(1e-9, dt)}, {"wall_s", seconds_now() - t0},
                     {"expert_load", load}, {"router_bias_range", u.router_bias_range}}.dump() << "\n";
    metrics.flush();
    if (eval_every > 0 && (step + 1) % eval_every == 0) evaluate(step + 1);
    if ((ckpt_every > 0 && (step + 1) % ckpt_every == 0) || step + 1 == steps) last = stage.write_checkpoint(m, opt_m, opt_v, step + 1);
  }
  if (last.empty()) last = stage.write_checkpoint(m, opt_m, opt_v, steps);
  stage.link_final(last);
  stage.finish();
  return last;
}

}  // namespace r1::train
