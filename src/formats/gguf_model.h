// A GGUF model file seen as the Hugging Face checkpoint it was converted from.
//
// The engine has one model definition, written against config.json fields and HF tensor names.
// Instead of a second definition for llama.cpp's names, a GGUF file is translated once at load time:
// its metadata (`deepseek2.attention.kv_lora_rank`, ...) into the equivalent config.json object, its
// tensors (`blk.3.ffn_gate_exps.weight`, ggml dims innermost-first) into HF-named views in PyTorch
// order (`model.layers.3.mlp.experts.7.gate_proj.weight`, one view per expert into the stacked tensor).
// Nothing is copied: the views point into the mapped file.
//
// Where llama.cpp's converter changed the weights themselves, the translation says so (GgufQuirks):
// Llama's q/k rows are permuted so that RoPE rotates adjacent pairs, Llama 3's frequency scaling is a
// tensor of factors, and current DeepSeek files split kv_b into W_UK^T (`attn_k_b`) and W_UV
// (`attn_v_b`), exposed as `self_attn.k_b_proj.weight` [n_h*d_c, d_h] and `self_attn.v_b_proj.weight`
// [n_h*d_v, d_c].
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "formats/gguf.h"
#include "formats/gguf_split.h"

namespace r1 {

struct GgufQuirks {
  bool rope_pairs_interleaved = false;   // Llama: q/k rows permuted for pairwise (interleaved) RoPE
  std::vector<double> rope_freq_factors;  // Llama 3: `rope_freqs.weight`, inv_freq[i] /= factor[i]
};

struct GgufModel {
  std::string arch;        // general.architecture: deepseek2, qwen2, qwen3, llama
  nlohmann::json config;   // the config.json this file corresponds to
  std::vector<TensorView> tensors;  // HF names and shapes, data in the mapped file
  GgufQuirks quirks;
};

// `files`: the model's file, or all shards of a split one. Throws r1::Error naming `path` and the key or tensor.
GgufModel translate_gguf(const GgufFiles& files, const std::string& path);

// The tensor-name correspondence, both ways, for per-layer and global tensors (experts excluded: the
// stacked `ffn_*_exps` tensors have no single HF name). nullopt when the name has no counterpart.
std::optional<std::string> hf_name_of(const std::string& gguf_name);
std::optional<std::string> gguf_name_of(const std::string& hf_name);

}  // namespace r1
