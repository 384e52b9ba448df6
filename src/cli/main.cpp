// r1: run, inspect, benchmark and synthesize DeepSeek-R1-family models on the CPU.
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"r1.cpp: run DeepSeek-V3/R1, V2 and R1-Distill models locally"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "r1.cpp 0.1.0");
  std::map<CLI::App*, r1::cli::Runner> runners;
  auto add = [&](const char* name, const char* help, r1::cli::Runner (*make)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    runners[sub] = make(*sub);
  };
  add("run", "Generate from a prompt, streaming the output", r1::cli::add_run);
  add("info", "Show a model's architecture, parameters, dtypes and memory plan", r1::cli::add_info);
  add("logits", "Print the logits of every position as JSON (the interface of numeric checks)", r1::cli::add_logits);
  add("synth", "Write a random-weight checkpoint in the Hugging Face layout", r1::cli::add_synth);
  add("bench", "Measure prefill and decode speed and peak memory", r1::cli::add_bench);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : runners) {
      if (sub->parsed()) return run();
    }
  } catch (const r1::Error& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "r1: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  }
  return 1;
}
