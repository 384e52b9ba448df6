#include "train/grpo.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "core/error.h"
#include "model/model.h"
#include "train/evaluate.h"
#include "train/grpo_loss.h"
#include "train/rewards.h"
#include "train/rng.h"
#include "train/rollout.h"
#include "train/stage.h"

namespace r1::train {

namespace fs = std::filesystem;

namespace {

struct GrpoConfig {
  int64_t group_size, prompts, max_tokens, epochs, ref_reset_every, max_rounds, logged;
  float temperature;
  bool advantage_std, dynamic_sampling, random_reward;
  GrpoLossOptions loss;
  RewardWeights weights;
};

GrpoConfig read_config(const ojson& g) {
  GrpoConfig c;
  c.group_size = g["group_size"];
  c.prompts = g["prompts_per_step"];
  c.max_tokens = g["max_tokens"];
  c.epochs = g["epochs"];
  c.ref_reset_every = g["ref_reset_every"];
  c.max_rounds = g["max_sample_rounds"];
  c.logged = g["rollouts_logged"];
  c.temperature = g["temperature"];
  c.advantage_std = g["advantage_std"];
  c.dynamic_sampling = g["dynamic_sampling"];
  const std::string reward = g["reward"];
  if (reward != "rules" && reward != "random") fail("training config: grpo.reward '{}' (expected rules or random)", reward);
  c.random_reward = reward == "random";
  c.loss.clip_low = g["clip_low"];
  c.loss.clip_high = g["clip_high"];
  c.loss.kl_beta = g["kl_beta"];
  c.loss.length_norm = parse_length_norm(g["length_norm"]);
  c.loss.max_tokens = c.max_tokens;
  c.weights = {double(g["accuracy_weight"]), double(g["format_weight"])};
  if (c.group_size < 2) fail("training config: grpo.group_size must be at least 2 (advantages compare within a group)");
  if (c.prompts < 1 || c.max_tokens < 1 || c.epochs < 1 || c.max_rounds < 1) {
    fail("training config: grpo.prompts_per_step, max_tokens, epochs and max_sample_rounds must be >= 1");
  }
  if (c.temperature <= 0) fail("training config: grpo.temperature must be > 0 (rollouts are sampled)");
  if (c.loss.clip_low < 0 || c.loss.clip_low >= 1 || c.loss.clip_high < 0) {
    fail("training config: grpo.clip_low must be in [0, 1) and clip_high >= 0");
  }
  if (c.loss.kl_beta < 0) fail("training config: grpo.kl_beta must be >= 0");
  return c;
}

// One sampled completion and what it earned.
struct Sample {
  size_t group = 0;
  std::vector<int32_t> tokens;
  std::vector<float> engine_logprobs;
  bool stopped = false;
  Reward reward;
  double advantage = 0;
  std::vector<double> old_logp, ref_logp;
};

struct Group {
  size_t problem = 0;
  bool kept = true;
};

// A completion as a training sequence: tokens = prompt ⧺ completion minus the last token; the targets
// are -1 over the prompt and the completion's tokens after it.
void training_sequence(const std::vector<int32_t>& prompt, const std::vector<int32_t>& completion,
                       std::vector<int32_t>& tokens, std::vector<int32_t>& targets) {
  tokens = prompt;
  tokens.insert(tokens.end(), completion.begin(), completion.end());
  targets.assign(tokens.begin() + 1, tokens.end());
  tokens.pop_back();
  for (size_t t = 0; t + 1 < prompt.size(); ++t) targets[t] = -1;
}

// The log-probabilities of the completion's tokens from the trainer's last forward().
std::vector<double> completion_logprobs(const TrainModel<float>& m, size_t prompt_len, size_t completion_len,
                                        std::vector<double>& scratch) {
  m.target_logprobs(scratch);
  return {scratch.begin() + std::ptrdiff_t(prompt_len - 1), scratch.begin() + std::ptrdiff_t(prompt_len - 1 + completion_len)};
}

// Mean entropy (nats) of the policy over the completion's positions of the last forward().
double completion_entropy(const TrainModel<float>& m, size_t prompt_len, size_t completion_len) {
  const int64_t V = m.config().vocab_size;
  const float* logits = m.logits();
  double sum = 0;
  for (size_t t = prompt_len - 1; t < prompt_len - 1 + completion_len; ++t) {
    const float* z = logits + t * size_t(V);
    const double mx = *std::max_element(z, z + V);
    double s = 0, sz = 0;
    for (int64_t v = 0; v < V; ++v) {
      const double e = std::exp(double(z[v]) - mx);
      s += e;
      sz += e * (double(z[v]) - mx);
    }
    sum += std::log(s) - sz / s;  // H = log Σe^z − Σ p·z (shifted)
  }
  return completion_len ? sum / double(completion_len) : 0.0;
}

}  // namespace

std::string run_grpo(const TrainRequest& req) {
  Stage stage(req);
  const ojson& t = stage.train();
  const GrpoConfig g = read_config(stage.config()["grpo"]);
  const int64_t steps = t["steps"];
  if (steps < 1) fail("training config: train.steps must be >= 1");
  if (!stage.resuming() && t["init_from"].get<std::string>().empty()) {
    fail("training config: grpo needs train.init_from (a pre-trained or SFT checkpoint directory)");
  }
  const tok::Tokenizer& tok = stage.tokenizer();
  const std::vector<Problem>& problems = stage.train_set();
  std::vector<std::vector<int32_t>> prompts;
  size_t longest = 0;
  for (const auto& p : problems) {
    prompts.push_back(prompt_tokens(tok, p));
    longest = std::max(longest, prompts.back().size());
  }

  ThreadPool pool(t["threads"].get<int>());
  // MTP is a pre-training signal; the policy gradient is on the main head only.
  TrainModel<float> m(stage.model_config(), int64_t(longest) + g.max_tokens + 1, {0.0, double(t["balance_alpha"])});
  std::vector<float> opt_m, opt_v;
  const int64_t start = stage.start(m, opt_m, opt_v);
  std::vector<float> ref = m.weights();
  if (stage.resuming() && g.loss.kl_beta > 0) m.load((fs::path(req.resume) / "optimizer" / "reference.safetensors").string(), ref);
  stage.write_run_json({{"threads", pool.size()}, {"parameters", m.weights().size()}});
  learning_rate(t, 0);

  const AdamW adam{double(t["beta1"]), double(t["beta2"]), double(t["eps"]), double(t["weight_decay"])};
  const auto mode = start > 0 ? std::ios::app : std::ios::trunc;
  std::ofstream metrics(stage.dir() / "metrics.jsonl", mode), evals(stage.dir() / "eval.jsonl", mode);
  fs::create_directories(stage.dir() / "rollouts");
  const fs::path policy_dir = stage.dir() / "policy";
  const int64_t eval_every = t["eval_every"], ckpt_every = t["checkpoint_every"];
  const uint64_t seed = t["seed"];
  const std::vector<Problem> eval_set(stage.eval_set().begin(),
                                      stage.eval_set().begin() + std::ptrdiff_t(std::min<size_t>(stage.eval_set().size(),
                                                                                  size_t(int64_t(t["eval_examples"])))));
  const double t0 = seconds_now();

  auto load_policy = [&] {
    stage.write_model_dir(m, policy_dir);
    return Model::load(policy_dir.string());
  };
  auto evaluate = [&](int64_t step, const Model& model) {
    if (eval_set.empty()) return;
    EvalOptions eo;
    eo.max_tokens = g.max_tokens;
    ojson line = {{"step", step}};
    const ojson summary = evaluate_accuracy(model, tok, pool, eval_set, eo).summary();
    for (const auto& [k, v] : summary.items()) line[k] = v;
    evals << line.dump() << "\n";
    evals.flush();
  };

  std::vector<int32_t> tokens, targets;
  std::vector<double> scratch, weights;
  std::string last;
  std::unique_ptr<Model> policy;  // the engine's copy of the current weights; reset when they change
  for (int64_t step = start; step < steps; ++step) {
    const double ts = seconds_now();
    if (!policy) policy = load_policy();
    if (step == 0 && eval_every > 0) evaluate(0, *policy);

    // ---- rollouts -------------------------------------------------------------------------------
    std::vector<Group> groups;
    std::vector<Sample> samples;
    int64_t sampled_groups = 0, zero_adv_groups = 0, generated = 0;
    for (int64_t round = 0; round < (g.dynamic_sampling ? g.max_rounds : 1); ++round) {
      int64_t kept = 0;
      for (const Group& gr : groups) kept += gr.kept ? 1 : 0;
      if (kept >= g.prompts) break;
      const int64_t want = g.dynamic_sampling ? g.prompts - kept : g.prompts;
      std::vector<RolloutRequest> requests;
      const size_t first_group = groups.size();
      for (int64_t p = 0; p < want; ++p) {
        const int64_t slot = round * g.prompts + p;
        const size_t idx = example_index(seed, step, slot, problems.size());
        groups.push_back({idx, true});
        for (int64_t k = 0; k < g.group_size; ++k) {
          Rng r(stream_seed(seed, step, slot, uint64_t(k + 1)));  // k + 1: stream 0 chose the prompt
          requests.push_back({prompts[idx], r.next()});
        }
      }
      RolloutOptions ro;
      ro.temperature = g.temperature;
      ro.max_tokens = g.max_tokens;
      ro.stop_token = kEos;
      ro.parallel = int(requests.size());
      std::vector<Rollout> out = generate_rollouts(*policy, pool, requests, ro);
      for (size_t gi = first_group; gi < groups.size(); ++gi) {
        const size_t base = samples.size();
        std::vector<double> rewards;
        for (int64_t k = 0; k < g.group_size; ++k) {
          Rollout& ro_k = out[(gi - first_group) * size_t(g.group_size) + size_t(k)];
          Sample s;
          s.group = gi;
          s.tokens = std::move(ro_k.tokens);
          s.engine_logprobs = std::move(ro_k.logprobs);
          s.stopped = ro_k.stopped;
          s.reward = score(problems[groups[gi].problem], scored_text(tok, s.tokens), g.weights);
          if (g.random_reward) {  // the control: a fair coin, independent of the completion
            Rng coin(stream_seed(seed ^ 0x5eed5eedull, step, int64_t(gi), uint64_t(k + 1)));
            s.reward.total = double(coin.below(2));
          }
          generated += int64_t(s.tokens.size());
          rewards.push_back(s.reward.total);
          samples.push_back(std::move(s));
        }
        const std::vector<double> adv = group_advantages(rewards, g.advantage_std);
        bool all_equal = true;
        for (double r : rewards) all_equal = all_equal && r == rewards[0];
        ++sampled_groups;
        zero_adv_groups += all_equal ? 1 : 0;
        groups[gi].kept = !(g.dynamic_sampling && all_equal);
        for (int64_t k = 0; k < g.group_size; ++k) samples[base + size_t(k)].advantage = adv[size_t(k)];
      }
    }
    const double rollout_s = seconds_now() - ts;

    // ---- the policy update ----------------------------------------------------------------------
    std::vector<Sample*> batch;
    for (Sample& s : samples) {
      if (groups[s.group].kept) batch.push_back(&s);
    }
    int64_t all_tokens = 0;
    for (const Sample* s : batch) all_tokens += int64_t(s->tokens.size());
    const double tu = seconds_now();
    if (g.loss.kl_beta > 0 && !batch.empty()) {  // the reference policy's log-probabilities, once per step
      std::vector<float> current = m.weights();
      std::copy(ref.begin(), ref.end(), m.weights().begin());
      for (Sample* s : batch) {
        const auto& prompt = prompts[groups[s->group].problem];
        training_sequence(prompt, s->tokens, tokens, targets);
        m.forward(tokens.data(), targets.data(), int64_t(tokens.size()), pool);
        s->ref_logp = completion_logprobs(m, prompt.size(), s->tokens.size(), scratch);
      }
      std::copy(current.begin(), current.end(), m.weights().begin());
    }
    GrpoLossStats loss_stats;
    double entropy = 0, lp_gap = 0, grad_norm = 0, clip_low = 0, clip_high = 0;
    int64_t gap_tokens = 0;
    ojson bias_range = ojson::array();
    std::vector<std::vector<int64_t>> load;
    const double lr = learning_rate(t, step);
    for (int64_t epoch = 0; epoch < g.epochs && !batch.empty(); ++epoch) {
      m.zero_grads();
      GrpoLossStats st;
      load.clear();
      for (Sample* s : batch) {
        const auto& prompt = prompts[groups[s->group].problem];
        training_sequence(prompt, s->tokens, tokens, targets);
        m.forward(tokens.data(), targets.data(), int64_t(tokens.size()), pool);
        const std::vector<double> lp = completion_logprobs(m, prompt.size(), s->tokens.size(), scratch);
        if (epoch == 0) {  // the sampling policy: π_old = π before this step's first update
          s->old_logp = lp;
          entropy += completion_entropy(m, prompt.size(), s->tokens.size()) * double(s->tokens.size());
          for (size_t i = 0; i < lp.size(); ++i) {
            if (s->stopped && i + 1 == lp.size()) continue;  // the engine does not report the stop token
            lp_gap += std::abs(lp[i] - double(s->engine_logprobs[i]));
            ++gap_tokens;
          }
        }
        const SequenceLogprobs seq{lp, s->old_logp, s->ref_logp, s->advantage};
        std::vector<double> dlogp;
        grpo_sequence_loss(seq, g.loss, sequence_weight(g.loss, int64_t(lp.size()), int64_t(batch.size()), all_tokens), st, dlogp);
        // CE_t = −log π(t): the weight of a target's cross-entropy is −∂loss/∂log π(t).
        weights.assign(tokens.size(), 0.0);
        for (size_t i = 0; i < dlogp.size(); ++i) weights[prompt.size() - 1 + i] = -dlogp[i];
        m.backward(1.0 / double(batch.size()), weights.data(), pool);
        add_load(load, m.expert_load());
      }
      finish_stats(st);
      if (epoch == 0) loss_stats = st;  // the loss and KL at the sampling policy
      clip_low += st.clip_low_frac / double(g.epochs);  // ρ = 1 in the first epoch: clipping is in the later ones
      clip_high += st.clip_high_frac / double(g.epochs);
      const UpdateResult u = optimizer_step(m, opt_m, opt_v, adam, step, lr, double(t["clip"]), double(t["bias_gamma"]), load);
      if (epoch == 0) grad_norm = u.grad_norm;
      bias_range = u.router_bias_range;
    }
    if (!batch.empty()) policy.reset();
    if (g.ref_reset_every > 0 && (step + 1) % g.ref_reset_every == 0) ref = m.weights();
    const double train_s = seconds_now() - tu;

    // ---- the record -----------------------------------------------------------------------------
    double r_mean = 0, r_sq = 0, acc = 0, fmt_ok = 0, len = 0, len_max = 0, truncated = 0;
    for (const Sample& s : samples) {
      r_mean += s.reward.total;
      r_sq += s.reward.total * s.reward.total;
      acc += s.reward.accuracy;
      fmt_ok += s.reward.format;
      len += double(s.tokens.size());
      len_max = std::max(len_max, double(s.tokens.size()));
      truncated += s.stopped ? 0 : 1;
    }
    const double n = std::max<double>(1, double(samples.size()));
    r_mean /= n;
    const double dt = seconds_now() - ts;
    metrics << ojson{{"step", step + 1}, {"loss", loss_stats.loss}, {"lr", lr}, {"grad_norm", grad_norm},
                     {"reward_mean", r_mean}, {"reward_std", std::sqrt(std::max(0.0, r_sq / n - r_mean * r_mean))},
                     {"reward_accuracy", acc / n}, {"reward_format", fmt_ok / n}, {"accuracy", acc / n},
                     {"zero_adv_frac", sampled_groups ? double(zero_adv_groups) / double(sampled_groups) : 0.0},
                     {"groups_sampled", sampled_groups}, {"groups_trained", batch.size() / size_t(g.group_size)},
                     {"response_len_mean", len / n}, {"response_len_max", len_max}, {"truncated_frac", truncated / n},
                     {"entropy", all_tokens ? entropy / double(all_tokens) : 0.0}, {"kl", loss_stats.kl},
                     {"clip_frac_low", clip_low}, {"clip_frac_high", clip_high}, {"clip_frac", clip_low + clip_high},
                     {"logprob_gap", gap_tokens ? lp_gap / double(gap_tokens) : 0.0},
                     {"tokens", all_tokens}, {"generated_tokens", generated},
                     {"tokens_per_s", double(all_tokens * g.epochs) / std::max(1e-9, train_s)},
                     {"rollout_tokens_per_s", double(generated) / std::max(1e-9, rollout_s)},
                     {"rollout_s", rollout_s}, {"train_s", train_s}, {"step_s", dt}, {"wall_s", seconds_now() - t0},
                     {"expert_load", load}, {"router_bias_range", bias_range}}.dump() << "\n";
    metrics.flush();
    std::ofstream rollouts(stage.dir() / "rollouts" / fmt::format("step-{}.jsonl", step + 1));
    for (size_t i = 0; i < samples.size() && int64_t(i) < g.logged; ++i) {
      const Sample& s = samples[i];
      const Problem& p = problems[groups[s.group].problem];
      rollouts << ojson{{"group", s.group}, {"task", p.task}, {"index", p.index}, {"prompt", p.prompt},
                        {"completion", scored_text(tok, s.tokens)}, {"answer", p.answer},
                        {"reward", {{"total", s.reward.total}, {"accuracy", s.reward.accuracy}, {"format", s.reward.format}}},
                        {"advantage", s.advantage}, {"tokens", s.tokens.size()}, {"trained", groups[s.group].kept}}.dump() << "\n";
    }

    const bool eval_now = eval_every > 0 && (step + 1) % eval_every == 0;
    const bool ckpt_now = (ckpt_every > 0 && (step + 1) % ckpt_every == 0) || step + 1 == steps;
    if (eval_now) {
      if (!policy) policy = load_policy();  // the next step samples from it too
      evaluate(step + 1, *policy);
    }
    if (ckpt_now) {
      Stage::ExtraState extra;
      if (g.loss.kl_beta > 0) extra.emplace_back("reference", &ref);
      last = stage.write_checkpoint(m, opt_m, opt_v, step + 1, extra);
    }
  }
  if (last.empty()) last = stage.write_checkpoint(m, opt_m, opt_v, steps);
  policy.reset();  // it maps the files removed below
  std::error_code ec;
  fs::remove_all(policy_dir, ec);
  stage.link_final(last);
  stage.finish();
  return last;
}

}  // namespace r1::train
