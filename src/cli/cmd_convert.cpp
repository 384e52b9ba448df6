// r1 convert (Hugging Face directory -> GGUF) and r1 quantize (GGUF -> GGUF): one exporter behind both.
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "model/gguf_export.h"

namespace r1::cli {

namespace {

struct ExportOpts {
  std::string input, output, type;
  bool legacy_kv_b = false, mtp = false, quiet = false;
  std::string name;
  int threads = 0;
};

void add_export_options(CLI::App& app, ExportOpts& o) {
  app.add_flag("--legacy-kv-b", o.legacy_kv_b,
               "DeepSeek: write one attn_kv_b per layer (files before llama.cpp's MLA change) instead of attn_k_b + attn_v_b");
  app.add_flag("--mtp", o.mtp, "Keep the multi-token-prediction module (nextn layers)");
  app.add_option("--name", o.name, "general.name of the output");
  app.add_option("-t,--threads", o.threads, "Threads (default: all)");
  app.add_flag("-q,--quiet", o.quiet, "No progress on stderr");
}

int run_export(const ExportOpts& o) {
  if (std::filesystem::exists(o.output) && std::filesystem::equivalent(o.input, o.output)) {
    fail("{}: the output would overwrite the input", o.output);
  }
  GgufExportOptions opt;
  opt.mix = quant_mix(o.type);
  opt.legacy_kv_b = o.legacy_kv_b;
  opt.mtp = o.mtp;
  opt.name = o.name.empty() ? std::filesystem::path(o.input).filename().string() : o.name;
  if (!o.quiet) {
    opt.progress = [](size_t done, size_t total) {
      std::fprintf(stderr, "\rwriting tensors: %zu/%zu", done, total);
      if (done == total) std::fprintf(stderr, "\n");
    };
  }
  auto model = load_model(o.input, o.quiet, /*for_decode=*/false);
  ThreadPool pool(o.threads);
  const std::string tmp = o.output + ".partial";
  try {
    export_gguf(*model, opt, tmp, pool);
  } catch (...) {
    std::filesystem::remove(tmp);
    throw;
  }
  std::filesystem::rename(tmp, o.output);
  if (!o.quiet) std::fprintf(stderr, "wrote %s (%s, %.1f MiB)\n", o.output.c_str(), o.type.c_str(),
                             double(std::filesystem::file_size(o.output)) / (1 << 20));
  return 0;
}

}  // namespace

Runner add_convert(CLI::App& app) {
  auto o = std::make_shared<ExportOpts>();
  o->type = "f16";
  app.add_option("model", o->input, "Hugging Face model directory (F32/F16/BF16 or official FP8 weights)")->required();
  app.add_option("output", o->output, "GGUF file to write")->required();
  app.add_option("--type", o->type, "Tensor type or mix: " + quant_mix_names());
  add_export_options(app, *o);
  return [o] { return run_export(*o); };
}

Runner add_quantize(CLI::App& app) {
  auto o = std::make_shared<ExportOpts>();
  app.add_option("input", o->input, "GGUF file (or a Hugging Face model directory)")->required();
  app.add_option("output", o->output, "GGUF file to write")->required();
  app.add_option("type", o->type, "Tensor type or mix: " + quant_mix_names())->required();
  add_export_options(app, *o);
  return [o] { return run_export(*o); };
}

}  // namespace r1::cli
