// r1 convert (Hugging Face directory -> GGUF) and r1 quantize (GGUF -> GGUF): one exporter behind both.
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "formats/gguf_split.h"
#include "model/gguf_export.h"

namespace r1::cli {

namespace {

struct ExportOpts {
  std::string input, output, type;
  bool legacy_kv_b = false, mtp = false, quiet = false;
  std::string name, split_max_size;
  int threads = 0;
};

// "50G", "500M", "4096K" or plain bytes; decimal units, as llama.cpp's gguf-split reads them.
uint64_t parse_byte_size(const std::string& s) {
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  const std::string unit = s.substr(digits);
  uint64_t scale = 0;
  if (unit.empty()) scale = 1;
  else if (unit == "K") scale = 1000;
  else if (unit == "M") scale = 1000 * 1000;
  else if (unit == "G") scale = 1000 * 1000 * 1000;
  else if (unit == "T") scale = uint64_t(1000) * 1000 * 1000 * 1000;
  if (digits == 0 || digits > 12 || scale == 0) fail("--split-max-size '{}': expected a number of bytes with an optional K, M, G or T (e.g. 50G)", s);
  const uint64_t n = std::stoull(s.substr(0, digits));
  if (n == 0 || n > UINT64_MAX / scale) fail("--split-max-size '{}': must be more than 0 and less than 2^64 bytes", s);
  return n * scale;
}

void add_export_options(CLI::App& app, ExportOpts& o) {
  app.add_flag("--legacy-kv-b", o.legacy_kv_b,
               "DeepSeek: write one attn_kv_b per layer (files before llama.cpp's MLA change) instead of attn_k_b + attn_v_b");
  app.add_flag("--mtp", o.mtp, "Keep the multi-token-prediction module (nextn layers)");
  app.add_option("--name", o.name, "general.name of the output");
  app.add_option("--split-max-size", o.split_max_size,
                 "Write a split model, shards of at most this much tensor data (e.g. 50G): OUTPUT-00001-of-0000N.gguf, ...");
  app.add_option("-t,--threads", o.threads, "Threads (default: all)");
  app.add_flag("-q,--quiet", o.quiet, "No progress on stderr");
}

// The output, or a shard of it, must not be one of the input's files: the export reads them to the end.
void refuse_overwriting_input(const Model& model, const std::string& output, bool split) {
  const std::string out_prefix = output.ends_with(".gguf") ? output.substr(0, output.size() - 5) : output;
  for (const auto& f : model.files().files()) {
    const std::optional<GgufShardName> shard = parse_gguf_shard_name(f->path());
    const bool same_file = std::filesystem::exists(output) && std::filesystem::equivalent(f->path(), output);
    const bool same_shards =
        split && shard && std::filesystem::weakly_canonical(shard->prefix) == std::filesystem::weakly_canonical(out_prefix);
    if (same_file || same_shards) fail("{}: the output would overwrite the input file {}", output, f->path());
  }
}

int run_export(const ExportOpts& o) {
  GgufExportOptions opt;
  if (!o.split_max_size.empty()) opt.split_max_bytes = parse_byte_size(o.split_max_size);
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
  refuse_overwriting_input(*model, o.output, opt.split_max_bytes > 0);
  ThreadPool pool(o.threads);
  const std::vector<std::string> written = export_gguf(*model, opt, o.output, pool);
  if (!o.quiet) {
    for (const auto& path : written) {
      std::fprintf(stderr, "wrote %s (%s, %.1f MiB)\n", path.c_str(), o.type.c_str(),
                   double(std::filesystem::file_size(path)) / (1 << 20));
    }
  }
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
