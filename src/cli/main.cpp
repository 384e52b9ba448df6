// r1: run, inspect, benchmark and synthesize DeepSeek-R1-family models on the CPU.
#include <cstdio>
#include <map>
#include <string>

#include "cli/commands.h"
#include "core/error.h"

namespace {

// Every error is one line on stderr: control characters that came from the input (a tensor name with a
// newline, say) are shown escaped.
int report_error(const std::string& what) {
  std::string line;
  for (const char ch : what) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      line += fmt::format("\\x{:02x}", static_cast<unsigned char>(ch));
    } else {
      line += ch;
    }
  }
  std::fprintf(stderr, "r1: error: %s\n", line.c_str());
  return 1;
}

}  // namespace

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
  add("tokenize", "Print the token ids and pieces of a text (or of JSON lines on stdin)", r1::cli::add_tokenize);
  add("template", "Print the prompt a model's chat template renders for a conversation", r1::cli::add_template);
  add("chat", "Chat interactively with a model (history, /reset, Ctrl-C stops an answer)", r1::cli::add_chat);
  add("convert", "Write a Hugging Face model as a GGUF file llama.cpp can load", r1::cli::add_convert);
  add("train", "Train a tiny DeepSeek-architecture model (pretrain | sft | grpo) with everything on record", r1::cli::add_train);
  add("serve", "Serve a model over an OpenAI-compatible HTTP API, with a web chat page", r1::cli::add_serve);
  add("quantize", "Re-encode a GGUF file in another type or K-quant mix", r1::cli::add_quantize);
  add("data", "Write a synthetic task dataset (JSONL), a held-out eval set and manifest.json", r1::cli::add_data);
  add("eval", "Measure a trained checkpoint's accuracy on held-out problems by generation", r1::cli::add_eval);
  add("report", "Write a self-contained HTML report of training runs (plots and tables)", r1::cli::add_report);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    return report_error(std::string(e.what()) + " (see --help)");  // like every other error: one line, status 1
  }
  try {
    for (auto& [sub, run] : runners) {
      if (sub->parsed()) return run();
    }
  } catch (const r1::Error& e) {
    return report_error(e.what());
  } catch (const std::bad_alloc&) {
    return report_error("out of memory");
  } catch (const std::exception& e) {
    return report_error(e.what());
  }
  return 1;
}
