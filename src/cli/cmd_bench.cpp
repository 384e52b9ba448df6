#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "runtime/session.h"

namespace r1::cli {

Runner add_bench(CLI::App& app) {
  struct Opts {
    std::string model;
    int64_t prompt = 512, gen = 128;
    int threads = 0, reps = 1;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("model", o->model, "Model directory")->required();
  app.add_option("-p,--prompt", o->prompt, "Prompt tokens for the prefill test (0: skip)")->check(CLI::NonNegativeNumber);
  app.add_option("-n,--gen", o->gen, "Tokens for the decode test (0: skip)")->check(CLI::NonNegativeNumber);
  app.add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  app.add_option("-r,--reps", o->reps, "Repetitions; the best is reported")->check(CLI::PositiveNumber);
  app.add_flag("--json", o->json, "One JSON object per line and test");
  return [o] {
    using clock = std::chrono::steady_clock;
    auto model = load_model(o->model, o->json);
    ThreadPool pool(o->threads);
    const int64_t V = model->config().vocab_size;
    const std::string name = std::filesystem::path(o->model).filename().string();
    // Token ids from a fixed pseudo-random sequence: content does not change the speed.
    auto token = [V](int64_t i) { return int32_t((uint64_t(i) * 2654435761u + 12345u) % uint64_t(V)); };

    auto report = [&](const char* test, int64_t n, double seconds) {
      const double tps = double(n) / seconds;
      if (o->json) {
        nlohmann::ordered_json j = {{"test", test}, {"tokens_per_s", tps}, {"threads", pool.size()}, {"model", name},
                                    {"peak_rss_mb", peak_rss_mb()}};
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::printf("%-8s %8.2f tokens/s  (%lld tokens, %.3f s, %d threads, peak RSS %.0f MiB)\n", test, tps,
                    (long long)n, seconds, pool.size(), peak_rss_mb());
      }
      std::fflush(stdout);
    };

    if (o->prompt > 0) {
      std::vector<int32_t> ids(size_t(o->prompt));
      for (int64_t i = 0; i < o->prompt; ++i) ids[size_t(i)] = token(i);
      Session s(*model, pool, {.context = o->prompt, .batch = o->prompt});
      double best = 1e30;
      for (int r = 0; r < o->reps; ++r) {
        s.reset();
        const auto t0 = clock::now();
        s.feed(ids);
        best = std::min(best, std::chrono::duration<double>(clock::now() - t0).count());
      }
      report(("pp" + std::to_string(o->prompt)).c_str(), o->prompt, best);
    }
    if (o->gen > 0) {
      Session s(*model, pool, {.context = o->gen, .batch = 1});
      double best = 1e30;
      for (int r = 0; r < o->reps; ++r) {
        s.reset();
        const auto t0 = clock::now();
        for (int64_t i = 0; i < o->gen; ++i) {
          const int32_t t = token(i);
          s.feed({&t, 1});
        }
        best = std::min(best, std::chrono::duration<double>(clock::now() - t0).count());
      }
      report(("tg" + std::to_string(o->gen)).c_str(), o->gen, best);
    }
    return 0;
  };
}

}  // namespace r1::cli
