// Writes a loaded model as a GGUF file llama.cpp can load: `r1 convert` (from a Hugging Face directory,
// FP8 checkpoints included) and `r1 quantize` (from another GGUF) are both this one function, because
// every checkpoint is read into the same ModelWeights first. Each weight row is decoded to float
// (dequant_row) and re-encoded in the target type (quants.h), so any input type converts to any output.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "model/model.h"

namespace r1 {

// A target: a file type name as llama.cpp spells it ("f16", "q8_0", "q4_k_m", ...) decides each
// tensor's type. Plain types put every matrix in that type; the K-quant mixes ("_s", "_m") give
// output and the sensitive attention-value / FFN-down matrices of some layers more bits, as
// llama.cpp's mixes of the same names do.
struct QuantMix {
  std::string name;
  uint32_t llama_ftype = 0;   // general.file_type (llama_ftype)
  DType base = DType::F16;    // most matrices
  DType output = DType::F16;  // output.weight (the head)
  DType sensitive = DType::F16;  // attn_v / attn_v_b / ffn_down(_exps|_shexp) in the layers use_more_bits picks
};
// Throws r1::Error listing the accepted names.
QuantMix quant_mix(const std::string& name);
std::string quant_mix_names();

struct GgufExportOptions {
  QuantMix mix;
  bool legacy_kv_b = false;  // one attn_kv_b per layer (files before llama.cpp's MLA change)
  bool mtp = false;          // keep the MTP (nextn) module; llama.cpp builds differ on loading it
  std::string name;          // general.name
  uint64_t split_max_bytes = 0;  // > 0: shards of at most this much tensor data (formats/gguf_split.h)
  std::function<void(size_t done, size_t total)> progress;  // tensors written
};

// The type a matrix of `cols` columns gets: `wanted` when rows split into whole blocks, otherwise
// llama.cpp's fallback for that type (Q4_K -> Q5_0, Q6_K -> Q8_0, ... -> F16).
DType type_for_row_length(DType wanted, int64_t cols);

// Returns the files written: `out_path`, or its shards. Throws r1::Error naming `out_path` on I/O failure,
// or the tensor that cannot be written; nothing is left behind then.
std::vector<std::string> export_gguf(const Model& model, const GgufExportOptions& options, const std::string& out_path,
                                     ThreadPool& pool);

}  // namespace r1
