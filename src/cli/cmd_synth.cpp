#include <cstdio>

#include "cli/commands.h"
#include "model/synth.h"

namespace r1::cli {

Runner add_synth(CLI::App& app) {
  auto o = std::make_shared<SynthOptions>();
  auto list = std::make_shared<bool>(false);
  app.add_flag("--list", *list, "List the presets and exit");
  app.add_option("preset", o->preset, "Preset name (see --list)");
  app.add_option("out_dir", o->out_dir, "Output model directory");
  app.add_option("--seed", o->seed, "Random seed (same seed, same bytes)");
  app.add_option("--layers", o->layers, "Override the number of decoder layers")->check(CLI::PositiveNumber);
  app.add_option("--vocab", o->vocab, "Override the vocabulary size")->check(CLI::PositiveNumber);
  app.add_option("--mtp-layers", o->mtp_layers, "Override the number of MTP layers (DeepSeek-V3 presets)")->check(CLI::NonNegativeNumber);
  app.add_option("--dtype", o->dtype, "Weight type: f32, f16, bf16, or fp8 (F8_E4M3 with 128x128 block scales)")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "fp8"}));
  app.add_flag("--ue8m0", o->ue8m0, "fp8 with power-of-two block scales (scale_fmt ue8m0)");
  app.add_option("--shard-mb", o->shard_mb, "Maximum shard size in MiB")->check(CLI::PositiveNumber);
  app.add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  app.add_option("--tokenizer", o->tokenizer_dir,
                 "Copy tokenizer.json (+ tokenizer_config.json) from this directory; vocab_size grows to cover it");
  return [o, list] {
    if (*list || o->preset.empty()) {
      for (const auto& p : synth_presets()) std::printf("%-22s %s\n", p.name.c_str(), p.description.c_str());
      return o->preset.empty() && !*list ? 1 : 0;
    }
    if (o->out_dir.empty()) {
      std::fprintf(stderr, "r1 synth: missing OUT_DIR\n");
      return 1;
    }
    const size_t bytes = synthesize(*o);
    std::fprintf(stderr, "wrote %s (%s, %s, seed %llu): %.1f MiB of weights\n", o->out_dir.c_str(), o->preset.c_str(),
                 o->dtype.c_str(), (unsigned long long)o->seed, double(bytes) / (1 << 20));
    return 0;
  };
}

}  // namespace r1::cli
