// Helpers shared by the r1 subcommands.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "runtime/sampler.h"

namespace r1::cli {

// "0,17,42" -> {0, 17, 42}; throws r1::Error on anything else.
std::vector<int32_t> parse_token_list(const std::string& text);

// Loads a model directory, paging the weights in with a progress bar on stderr for large models (not when
// they are larger than the available memory: then they are read from the mapped files as used). For
// inference (`for_decode`) the matrices that have one are then put in the decode kernels' row-group
// layout (Model::regroup_rows) where the copy fits in 80 % of the available memory, unless the environment
// sets R1_ROW_GROUPS=off (which keeps every weight in the shared page cache of the mapped files, e.g. for
// several processes on one model).
std::unique_ptr<Model> load_model(const std::string& dir, bool quiet = false, bool for_decode = true);

// Registers --temp, --top-k, --top-p, --min-p, the penalties and --seed on a subcommand.
void add_sampling_options(CLI::App& app, SamplingParams& p);

// The model a command uses when given none: $R1_DEFAULT_MODEL, else the small R1 this repository trains
// and ships (models/tiny-r1: bench/train/headline made it; see its README.md).
std::string default_model_dir();
// The positional MODEL of run / chat / serve: optional, default_model_dir() when left out.
void add_model_argument(CLI::App& app, std::string& model, const std::string& help);

// Registers --cache-type f32|bf16: how the attention cache stores its rows (model/kv_cache.h).
void add_cache_type_option(CLI::App& app, KvType& type);
// Registers --mla-prefill absorbed|decompressed|auto: how MLA prompt chunks attend (model/forward.h).
void add_mla_prefill_option(CLI::App& app, MlaPrefill& mode);

// Peak resident set size of this process, in MiB.
double peak_rss_mb();

}  // namespace r1::cli
