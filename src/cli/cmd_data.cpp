// r1 data: a thin wrapper over train/dataset.h -- parse the flags, write the files, report.
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "train/dataset.h"

namespace r1::cli {

Runner add_data(CLI::App& app) {
  auto r = std::make_shared<train::DataRequest>();
  auto options = std::make_shared<std::string>("{}");
  auto list = std::make_shared<bool>(false);
  auto eval_seed = std::make_shared<uint64_t>(0);
  app.add_flag("--list", *list, "List the tasks with their versions and default options, and exit");
  app.add_option("task", r->task, "Task: arithmetic, countdown or linear");
  app.add_option("--count", r->count, "Number of training problems")->check(CLI::PositiveNumber);
  app.add_option("--seed", r->seed, "Seed of the training split (same seed, same bytes)");
  app.add_option("--out", r->out, "Training file (.jsonl); manifest.json is written beside it");
  app.add_option("--eval-count", r->eval_count, "Held-out problems, written to OUT with .eval.jsonl");
  app.add_option("--eval-seed", *eval_seed, "Seed of the held-out split (default: --seed + 1; must differ)");
  app.add_option("--options", *options, "The task's knobs as a JSON object, e.g. '{\"max_digits\":3}'");
  app.add_option("--worked-fraction", r->worked_fraction,
                 "Fraction of training problems that keep their worked solution; the rest answer directly (default 1)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--ngram", r->ngram_n, "n of the n-gram overlap report (default 8)")->check(CLI::Range(1, 64));
  return [r, options, list, eval_seed, &app] {
    if (*list) {
      for (const std::string& name : train::task_names()) {
        const auto g = train::make_generator(name);
        std::printf("%-11s v%u  %s\n", name.c_str(), g->version(), g->options().dump().c_str());
      }
      return 0;
    }
    if (r->task.empty() || r->out.empty() || r->count == 0) {
      fail("r1 data: TASK, --count and --out are required (see r1 data --help)");
    }
    r->options = nlohmann::json::parse(*options, nullptr, false);
    if (r->options.is_discarded()) fail("--options: not valid JSON: {}", *options);
    r->eval_seed = app.count("--eval-seed") ? *eval_seed : r->seed + 1;
    const auto manifest = train::write_dataset(*r);
    const auto& files = manifest["files"];
    const size_t written = r->eval_count > 0 ? 2 : 1;  // this run's entries come last
    for (size_t i = files.size() - written; i < files.size(); ++i) {
      const auto& f = files[i];
      std::fprintf(stderr, "wrote %s: %llu %s problems (%s v%u, seed %llu), sha256 %s\n",
                   f["file"].get<std::string>().c_str(), (unsigned long long)f["count"].get<uint64_t>(),
                   f["split"].get<std::string>().c_str(), r->task.c_str(), f["version"].get<unsigned>(),
                   (unsigned long long)f["seed"].get<uint64_t>(), f["sha256"].get<std::string>().c_str());
    }
    return 0;
  };
}

}  // namespace r1::cli
