#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "kernels/cpu/stream.h"
#include "runtime/session.h"

namespace r1::cli {

Runner add_bench(CLI::App& app) {
  struct Opts {
    std::string model;
    int64_t prompt = 512, gen = 128, batch = 0;
    int threads = 0, reps = 1;
    bool json = false, bandwidth = true, warmup = true, profile = false;
    std::vector<int64_t> depths{0};
    KvType cache_type = KvType::F32;
    MlaPrefill mla_prefill = MlaPrefill::Absorbed;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("model", o->model, "Model directory or .gguf file")->required();
  app.add_option("-p,--prompt", o->prompt, "Prompt tokens for the prefill test (0: skip)")->check(CLI::NonNegativeNumber);
  app.add_option("-b,--batch", o->batch, "Prompt tokens per forward pass in the prefill test (default: all of them)")
      ->check(CLI::PositiveNumber);
  app.add_option("-n,--gen", o->gen, "Tokens for the decode test (0: skip)")->check(CLI::NonNegativeNumber);
  app.add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  app.add_option("-r,--reps", o->reps, "Repetitions; the best is reported (decode: the depths take turns)")->check(CLI::PositiveNumber);
  app.add_option("-d,--ctx-depth", o->depths,
                 "Context depths for the decode test, e.g. -d 0,8192,16384 (the cache is filled synthetically)")
      ->delimiter(',')
      ->check(CLI::NonNegativeNumber);
  add_cache_type_option(app, o->cache_type);
  add_mla_prefill_option(app, o->mla_prefill);
  app.add_flag("--json", o->json, "One JSON object per line and test");
  app.add_flag("!--no-bandwidth", o->bandwidth, "Skip the read-bandwidth probe (and the roofline figures)");
  app.add_flag("!--no-warmup", o->warmup, "Skip each test's untimed warm-up run (as llama-bench's --no-warmup)");
  app.add_flag("--profile", o->profile,
               "Also report where each test's time goes: ms per token in the forward pass's stages, over all timed runs");
  return [o] {
    using clock = std::chrono::steady_clock;
    auto model = load_model(o->model, o->json);
    ThreadPool pool(o->threads);
    const int64_t V = model->config().vocab_size;
    const std::string name = std::filesystem::path(o->model).filename().string();
    // Token ids from a fixed pseudo-random sequence: content does not change the speed.
    auto token = [V](int64_t i) { return int32_t((uint64_t(i) * 2654435761u + 12345u) % uint64_t(V)); };

    // Roofline denominators: weight bytes per token, and the read bandwidth measured in this run (this
    // host's varies by the minute) -- after the tests, so that its buffer does not count in peak RSS.
    struct Result {
      std::string test;
      int64_t n;
      double seconds;  // the best run's
      bool decode;
      const StepProfile* profile = nullptr;  // with --profile: every timed run's stages ...
      double timed_seconds = 0;              // ... and their measured time, over
      int64_t timed_tokens = 0;              // this many tokens
    };
    std::vector<Result> results;
    double bw = 0, rss = 0;
    const double bytes_per_token = model->weight_bytes_per_token();
    const double flops_per_token = 2.0 * double(model->active_params());

    auto report = [&](const Result& r) {
      const double tps = double(r.n) / r.seconds;
      const double to_ms_per_token = r.profile ? 1e3 / double(r.timed_tokens) : 0;  // seconds over all timed runs -> ms per token
      const double gflops = tps * flops_per_token / 1e9;
      const double roofline = bw > 0 && r.decode ? 100.0 * tps * bytes_per_token / (bw * 1e9) : 0.0;
      if (o->json) {
        nlohmann::ordered_json j = {{"test", r.test}, {"tokens_per_s", tps}, {"threads", pool.size()}, {"model", name},
                                    {"peak_rss_mb", rss}, {"gflops", gflops}, {"cache_type", kv_type_name(o->cache_type)}};
        if (r.decode && bw > 0) {
          j["read_gb_s"] = bw;
          j["weight_mb_per_token"] = bytes_per_token / 1e6;
          j["bandwidth_roofline_pct"] = roofline;
        }
        if (r.profile) {
          nlohmann::ordered_json stages;
          for (int i = 0; i < kStages; ++i) stages[std::string(stage_name(Stage(i)))] = r.profile->seconds[size_t(i)] * to_ms_per_token;
          j["profile_ms_per_token"] = stages;
          j["measured_ms_per_token"] = r.timed_seconds * to_ms_per_token;
        }
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::printf("%-8s %8.2f tokens/s  %7.1f GFLOP/s", r.test.c_str(), tps, gflops);
        if (r.decode && bw > 0) std::printf("  %5.1f%% of the %.1f GB/s read roofline (%.0f MB/token)", roofline, bw, bytes_per_token / 1e6);
        std::printf("  [%d threads, %s cache, peak RSS %.0f MiB]\n", pool.size(), std::string(kv_type_name(o->cache_type)).c_str(), rss);
        if (r.profile) {
          std::printf("  ms per token (all runs):");
          for (int i = 0; i < kStages; ++i) {
            const double ms = r.profile->seconds[size_t(i)] * to_ms_per_token;
            std::printf(" %s %.3f (%.0f%%)", std::string(stage_name(Stage(i))).c_str(), ms, 100.0 * ms / (r.timed_seconds * to_ms_per_token));
          }
          std::printf("; %.3f of %.3f measured\n", r.profile->total() * to_ms_per_token, r.timed_seconds * to_ms_per_token);
        }
      }
      std::fflush(stdout);
    };

    StepProfile prefill_profile;
    if (o->prompt > 0) {
      std::vector<int32_t> ids(size_t(o->prompt));
      for (int64_t i = 0; i < o->prompt; ++i) ids[size_t(i)] = token(i);
      const int64_t batch = o->batch > 0 ? std::min(o->batch, o->prompt) : o->prompt;
      Session s(*model, pool, {.context = o->prompt, .batch = batch, .cache_type = o->cache_type, .mla_prefill = o->mla_prefill});
      // One untimed run first, as llama-bench does: a process's first prefill touches memory for the first
      // time (scratch that grows on first use: ~9,850 pages for V2-Lite-8L pp512, none in later runs), which
      // on the benchmark VM costs ~20 us a page and made that first run 12-20 % slower than the ones after it.
      if (o->warmup) s.feed(ids);
      if (o->profile) s.set_profile(&prefill_profile);
      double best = 1e30, all = 0;
      for (int r = 0; r < o->reps; ++r) {
        s.reset();
        const auto t0 = clock::now();
        s.feed(ids);
        const double t = std::chrono::duration<double>(clock::now() - t0).count();
        best = std::min(best, t);
        all += t;
      }
      s.set_profile(nullptr);
      results.push_back({fmt::format("pp{}", o->prompt), o->prompt, best, false, o->profile ? &prefill_profile : nullptr, all,
                         o->reps * o->prompt});
    }
    // Decode tests: the repetitions take turns across the depths (r1 at each depth, then r2, ...), so that
    // a slow minute of a shared host falls on every depth alike rather than on one of them, which moved
    // tg@d16k / tg of V2-Lite-8L by ±10 % from run to run when each depth's repetitions ran back to back.
    // The depths' sessions exist together, so the peak RSS reported counts their caches together.
    struct DecodeTest {
      int64_t depth;
      std::unique_ptr<Session> session;
      double best = 1e30, all = 0;
      StepProfile profile;
    };
    std::vector<DecodeTest> decode;
    for (const int64_t depth : o->gen > 0 ? o->depths : std::vector<int64_t>{}) {
      auto s = std::make_unique<Session>(*model, pool, SessionOptions{.context = depth + o->gen, .batch = 1, .cache_type = o->cache_type, .mla_prefill = o->mla_prefill});
      if (s->context() < depth + o->gen) fail("depth {} + {} tokens exceed the model's context {}", depth, o->gen, s->context());
      if (o->warmup) {  // as llama-bench: one untimed token first
        s->fill_context_for_benchmark(depth);
        const int32_t t = token(0);
        s->feed({&t, 1});
      }
      decode.push_back({depth, std::move(s), 1e30, 0, {}});
    }
    for (DecodeTest& d : decode) {  // after the warm-ups: the profile covers the timed runs only
      if (o->profile) d.session->set_profile(&d.profile);
    }
    for (int r = 0; r < o->reps; ++r) {
      for (DecodeTest& d : decode) {
        d.session->fill_context_for_benchmark(d.depth);
        const auto t0 = clock::now();
        for (int64_t i = 0; i < o->gen; ++i) {
          const int32_t t = token(i);
          d.session->feed({&t, 1});
        }
        const double t = std::chrono::duration<double>(clock::now() - t0).count();
        d.best = std::min(d.best, t);
        d.all += t;
      }
    }
    for (const DecodeTest& d : decode) {
      results.push_back({d.depth ? fmt::format("tg{}@d{}", o->gen, d.depth) : fmt::format("tg{}", o->gen), o->gen, d.best, true,
                         o->profile ? &d.profile : nullptr, d.all, o->reps * o->gen});
    }
    rss = peak_rss_mb();
    if (o->bandwidth) bw = measure_read_bandwidth(pool, size_t(512) << 20);
    for (const auto& r : results) report(r);
    return 0;
  };
}

}  // namespace r1::cli
