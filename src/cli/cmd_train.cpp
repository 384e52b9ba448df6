// r1 train pretrain|sft|grpo CONFIG.json --out RUN_DIR [--resume CHECKPOINT] [-t THREADS]: trains a tiny
// DeepSeek-V3-architecture model on generated tasks with every input, step and output on record
// (src/train/trainer.h describes the run directory).
#include <cstdio>
#include <fstream>

#include "cli/commands.h"
#include "core/error.h"
#include "train/trainer.h"

namespace r1::cli {

Runner add_train(CLI::App& app) {
  struct Opts {
    std::string stage, config, out, resume;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("stage", o->stage, "pretrain, sft or grpo")->required()->check(CLI::IsMember({"pretrain", "sft", "grpo"}));
  app.add_option("config", o->config, "Training configuration (JSON; `r1 train --defaults` prints every key)")->required();
  app.add_option("--out", o->out, "Run directory (created)")->required();
  app.add_option("--resume", o->resume, "Continue from this checkpoint directory (RUN/checkpoints/step-N)");
  app.add_option("-t,--threads", o->threads, "Threads (default: the config's train.threads)");
  return [o] {
    train::TrainRequest r;
    r.stage = o->stage;
    r.config_path = o->config;
    std::ifstream in(o->config);
    if (!in) fail("{}: cannot read", o->config);
    try {
      r.config = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not valid JSON: {}", o->config, e.what());
    }
    if (!r.config.is_object()) fail("{}: expected a JSON object", o->config);
    r.out_dir = o->out;
    r.resume = o->resume;
    r.threads = o->threads;
    const std::string last = train::run_training(r);
    std::printf("r1 train: %s done; final checkpoint %s\n", o->stage.c_str(), last.c_str());
    return 0;
  };
}

}  // namespace r1::cli
