#include "cli/common.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstdio>
#include <map>

#include "core/error.h"
#include "kernels/cpu/latent_q8.h"

namespace r1::cli {

std::vector<int32_t> parse_token_list(const std::string& text) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find(',', i);
    if (j == std::string::npos) j = text.size();
    std::string_view item(text.data() + i, j - i);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    int32_t v = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || ptr != item.data() + item.size() || v < 0) {
      fail("--tokens: '{}' is not a non-negative token id (expected e.g. 0,17,42)", item);
    }
    ids.push_back(v);
    i = j + 1;
  }
  if (ids.empty()) fail("--tokens: no token ids given");
  return ids;
}

namespace {
// MemAvailable from /proc/meminfo (the kernel's estimate of what can be allocated without swapping);
// SIZE_MAX where it cannot be read.
size_t available_memory() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return SIZE_MAX;
  char line[256];
  size_t kib = 0;
  bool found = false;
  while (!found && std::fgets(line, sizeof line, f)) found = std::sscanf(line, "MemAvailable: %zu kB", &kib) == 1;
  std::fclose(f);
  return found ? kib * 1024 : SIZE_MAX;
}
}  // namespace

std::unique_ptr<Model> load_model(const std::string& dir, bool quiet, bool for_decode) {
  auto model = Model::load(dir);
  // Page the weights in now, so that the first token is not slowed by page faults and a large model
  // shows its loading progress. Touching one byte per page reads the file through the page cache.
  // A model larger than the available memory is not: its early pages would be evicted by its later
  // ones, one whole read of the files for nothing; it runs from the mapped files, paged in as used.
  size_t total = 0;
  for (const auto& f : model->files().files()) total += f->size();
  const size_t available = available_memory();
  if (total > available) {
    if (!quiet) {
      std::fprintf(stderr, "%s: %.1f GiB of weights, %.1f GiB of memory available: reading them from the files as needed\n",
                   dir.c_str(), double(total) / double(1 << 30), double(available) / double(1 << 30));
    }
    return model;
  }
  const bool show = !quiet && total > (size_t(1) << 30) && isatty(STDERR_FILENO);
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  size_t done = 0;
  int last = -1;
  volatile uint8_t sink = 0;
  for (const auto& f : model->files().files()) {
    if (f->size() == 0) continue;
    madvise(const_cast<uint8_t*>(f->data()), f->size(), MADV_WILLNEED);
    for (size_t off = 0; off < f->size(); off += page) {
      sink = sink + f->data()[off];
      done += page;
      const int pct = int(100.0 * double(std::min(done, total)) / double(total));
      if (show && pct != last && (off % (64 << 20)) == 0) {
        last = pct;
        const int bar = pct / 4;
        std::fprintf(stderr, "\rloading %s [%.*s%*s] %3d%% of %.1f GiB", dir.c_str(), bar,
                     "=========================", 25 - bar, "", pct, double(total) / double(1 << 30));
      }
    }
  }
  if (show) std::fprintf(stderr, "\rloading %s [=========================] 100%% of %.1f GiB\n", dir.c_str(),
                         double(total) / double(1 << 30));
  // The row-group copy is anonymous memory: it must fit beside everything else (a model larger than the
  // memory runs from the mapped file, paged in and out by the kernel), so at most 80 % of what is available.
  const char* groups = std::getenv("R1_ROW_GROUPS");
  if (for_decode && !(groups && std::string_view(groups) == "off")) {
    model->regroup_rows(available == SIZE_MAX ? SIZE_MAX : available / 5 * 4);
  }
  return model;
}

void add_sampling_options(CLI::App& app, SamplingParams& p) {
  app.add_option("--temp", p.temperature, "Temperature (0: greedy)");
  app.add_option("--top-k", p.top_k, "Top-k (0: off)");
  app.add_option("--top-p", p.top_p, "Top-p nucleus (1: off)");
  app.add_option("--min-p", p.min_p, "Min-p (0: off)");
  app.add_option("--repeat-penalty", p.repetition_penalty, "Repetition penalty (1: off)");
  app.add_option("--presence-penalty", p.presence_penalty, "Presence penalty (0: off)");
  app.add_option("--frequency-penalty", p.frequency_penalty, "Frequency penalty (0: off)");
  app.add_option("--seed", p.seed, "Sampling seed (same seed, same tokens)");
}

#ifndef R1_DEFAULT_MODEL_DIR
#define R1_DEFAULT_MODEL_DIR "models/tiny-r1"
#endif

std::string default_model_dir() {
  const char* env = std::getenv("R1_DEFAULT_MODEL");
  return env && *env ? env : R1_DEFAULT_MODEL_DIR;
}

void add_model_argument(CLI::App& app, std::string& model, const std::string& help) {
  app.add_option("model", model, help + " (default: " + default_model_dir() + ", the small R1 trained in this repository)");
}

void add_cache_type_option(CLI::App& app, KvType& type) {
  app.add_option_function<std::string>(
         "--cache-type",
         [&type](const std::string& name) {
           type = *parse_kv_type(name);
           if (type == KvType::Q8 && latent_q8_kernels(quant::best_isa()).step_scores == latent_q8_kernels_scalar().step_scores) {
             std::fprintf(stderr, "r1: note: no vector kernels for --cache-type q8 on this CPU (AVX2 or AVX-512 VNNI): the cache "
                                  "takes half of bf16's memory, but attention runs slower than with bf16\n");
           }
         },
         "How the KV / latent cache stores its rows: f32 (default), bf16 (half the memory, faster at long context), "
         "or q8 (MLA models: int8 rows, a quarter of the memory, fastest at long context)")
      ->check(CLI::IsMember({"f32", "bf16", "q8"}));
}

void add_mla_prefill_option(CLI::App& app, MlaPrefill& mode) {
  app.add_option("--mla-prefill", mode,
                 "How MLA models (DeepSeek V2 / V3) attend over a prompt: absorbed (default: the form decoding uses, so "
                 "results do not depend on how the prompt is chunked), decompressed (per-head keys and values, fewer "
                 "multiply-adds for long prompts), or auto (per chunk, whichever takes fewer)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, MlaPrefill>{{"absorbed", MlaPrefill::Absorbed},
                                                                           {"decompressed", MlaPrefill::Decompressed},
                                                                           {"auto", MlaPrefill::Auto}}));
}

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

}  // namespace r1::cli
