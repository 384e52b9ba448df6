// r1 report RUN_DIR [RUN_DIR ...] [--out FILE]: one self-contained HTML file of training runs (summary,
// charts with the runs overlaid, expert load, rollouts, data manifests, configs; src/train/report.h).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "core/error.h"
#include "train/report.h"

namespace r1::cli {

Runner add_report(CLI::App& app) {
  struct Opts {
    std::vector<std::string> runs;
    std::string out;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("runs", o->runs, "Run directories of r1 train (pretrain, sft, grpo, ...), shown together")->required();
  app.add_option("--out", o->out, "HTML file to write (default: FIRST_RUN_DIR/report.html)");
  return [o] {
    const std::string html = train::render_report(o->runs);
    const std::string out = o->out.empty() ? (std::filesystem::path(o->runs.front()) / "report.html").string() : o->out;
    std::ofstream f(out, std::ios::binary);
    if (!f) fail("{}: cannot write", out);
    f << html;
    f.close();
    if (!f) fail("{}: cannot write", out);
    std::printf("r1 report: %zu run%s -> %s\n", o->runs.size(), o->runs.size() == 1 ? "" : "s", out.c_str());
    return 0;
  };
}

}  // namespace r1::cli
