// `r1 report RUN_DIR...`: one self-contained HTML page about training runs (the run directories that
// `r1 train` writes, src/train/trainer.h): a summary table, SVG charts of every per-step and eval metric
// with the runs overlaid, expert load, GRPO rollouts, the data manifests, eval results and run.json.
// No script, stylesheet, font or image is referenced: the file can be archived, mailed and opened
// offline, and shows the same thing forever.
#pragma once

#include <string>
#include <vector>

namespace r1::train {

// The report's HTML. Every file but RUN_DIR/run.json is optional (a run still in progress, a stage
// without GRPO metrics); unreadable lines are skipped. Throws r1::Error when a run.json is missing or
// is not a JSON object.
std::string render_report(const std::vector<std::string>& run_dirs);

}  // namespace r1::train
