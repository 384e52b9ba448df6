// The r1 subcommands. Each registers its options on a CLI11 subcommand and returns a runner.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace r1::cli {

using Runner = std::function<int()>;

Runner add_run(CLI::App& app);
Runner add_info(CLI::App& app);
Runner add_logits(CLI::App& app);
Runner add_synth(CLI::App& app);
Runner add_bench(CLI::App& app);
Runner add_tokenize(CLI::App& app);
Runner add_template(CLI::App& app);
Runner add_chat(CLI::App& app);
Runner add_convert(CLI::App& app);
Runner add_quantize(CLI::App& app);
Runner add_serve(CLI::App& app);
Runner add_train(CLI::App& app);
Runner add_data(CLI::App& app);
Runner add_report(CLI::App& app);
Runner add_eval(CLI::App& app);

}  // namespace r1::cli
