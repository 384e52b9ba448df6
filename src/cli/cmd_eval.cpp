// r1 eval RUN_DIR [--checkpoint DIR] [--data FILE.jsonl] [--samples K --temperature T]: accuracy of a
// trained checkpoint on the run's held-out problems, by generation through the inference engine and
// the rule-based rewards. Writes RUN_DIR/eval/NAME.json (the summary) and NAME.completions.jsonl.
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "core/error.h"
#include "train/dataset.h"
#include "train/evaluate.h"
#include "train/stage.h"

namespace r1::cli {

namespace fs = std::filesystem;

Runner add_eval(CLI::App& app) {
  struct Opts {
    std::string run, checkpoint, data, name;
    int samples = 1, threads = 0;
    float temperature = 0;
    int64_t max_tokens = 256, limit = 0;
    uint64_t seed = 1;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("run", o->run, "Run directory (made by r1 train)")->required();
  app.add_option("--checkpoint", o->checkpoint, "Model directory to evaluate (default: RUN/final)");
  app.add_option("--data", o->data, "Problems (JSONL, as r1 data writes; default: the run's held-out sets)");
  app.add_option("--samples", o->samples, "Completions per problem (accuracy is their mean)")->check(CLI::Range(1, 64));
  app.add_option("--temperature", o->temperature, "Sampling temperature (0: greedy)")->check(CLI::Range(0.0f, 2.0f));
  app.add_option("--max-tokens", o->max_tokens, "Most tokens per completion")->check(CLI::Range(int64_t(1), int64_t(4096)));
  app.add_option("--limit", o->limit, "Evaluate only the first N problems (0: all)");
  app.add_option("--seed", o->seed, "Sampling seed");
  app.add_option("--name", o->name, "Name of the result files in RUN/eval (default: from the checkpoint)");
  app.add_option("-t,--threads", o->threads, "Threads (default: all)");
  return [o] {
    const fs::path run = o->run;
    const nlohmann::json rj = nlohmann::json::parse(train::read_file(run / "run.json"), nullptr, false);
    if (rj.is_discarded() || !rj.is_object()) fail("{}: not valid JSON", (run / "run.json").string());
    std::vector<train::Problem> problems;
    if (!o->data.empty()) {
      problems = train::read_jsonl(o->data);
    } else {
      for (const auto& task : rj.at("config").at("data").at("tasks")) {
        if (task.value("eval_count", 0) <= 0) continue;
        const auto ev = train::read_jsonl(train::eval_path_for((run / "data" / (task.at("task").get<std::string>() + ".jsonl")).string()));
        problems.insert(problems.end(), ev.begin(), ev.end());
      }
    }
    if (o->limit > 0 && size_t(o->limit) < problems.size()) problems.resize(size_t(o->limit));
    if (problems.empty()) fail("{}: no held-out problems to evaluate (the run's tasks have eval_count 0; use --data)", o->run);

    const fs::path ckpt = o->checkpoint.empty() ? run / "final" : fs::path(o->checkpoint);
    const std::unique_ptr<Model> model = Model::load(ckpt.string());
    const tok::Tokenizer tok = tok::Tokenizer::from_dir(ckpt.string());
    ThreadPool pool(o->threads);
    train::EvalOptions eo;
    eo.max_tokens = o->max_tokens;
    eo.temperature = o->temperature;
    eo.samples = o->samples;
    eo.seed = o->seed;
    const train::EvalResult r = train::evaluate_accuracy(*model, tok, pool, problems, eo);

    std::string name = o->name;
    if (name.empty()) {
      name = fs::weakly_canonical(ckpt).filename().string();
      if (o->temperature > 0 || o->samples > 1) name += fmt::format(".t{}x{}", o->temperature, o->samples);
    }
    train::ojson summary = {{"checkpoint", fs::weakly_canonical(ckpt).string()}, {"problems", problems.size()},
                            {"samples", o->samples}, {"temperature", o->temperature}, {"max_tokens", o->max_tokens},
                            {"seed", o->seed}};
    const train::ojson result = r.summary();
    for (const auto& [k, v] : result.items()) summary[k] = v;
    fs::create_directories(run / "eval");
    train::write_file(run / "eval" / (name + ".json"), summary.dump(2) + "\n");
    std::string lines;
    for (const auto& c : r.details) {
      const train::Problem& p = problems[c.problem];
      lines += train::ojson{{"task", p.task}, {"index", p.index}, {"prompt", p.prompt}, {"answer", p.answer},
                            {"completion", c.completion}, {"accuracy", c.accuracy}, {"format", c.format},
                            {"tokens", c.tokens}}.dump() + "\n";
    }
    train::write_file(run / "eval" / (name + ".completions.jsonl"), lines);
    std::printf("%s\n", summary.dump().c_str());
    return 0;
  };
}

}  // namespace r1::cli
