// Synthetic checkpoints: random-weight models written in the real Hugging Face layout (config.json +
// safetensors, sharded with model.safetensors.index.json when large), for tests and benchmarks.
// Deterministic: every value depends only on (seed, tensor name, element index).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace r1 {

struct SynthOptions {
  std::string preset;
  std::string out_dir;
  uint64_t seed = 0;
  int64_t layers = 0;      // 0: the preset's depth
  int64_t vocab = 0;       // 0: the preset's vocabulary size
  int64_t mtp_layers = -1; // -1: the preset's num_nextn_predict_layers
  std::string dtype = "bf16";  // f32 | f16 | bf16 | fp8 (official DeepSeek layout: F8_E4M3 + 128x128 block scales)
  bool ue8m0 = false;      // fp8 with power-of-two scales (scale_fmt: ue8m0, as V3.1)
  int64_t shard_mb = 4096; // start a new shard when one would exceed this
  int threads = 0;
  // Copy tokenizer.json (+ tokenizer_config.json) from this directory into the checkpoint, growing
  // vocab_size to cover every id of the tokenizer and taking its BOS/EOS ids, so `r1 run -p` works.
  std::string tokenizer_dir;
};

struct SynthPreset {
  std::string name;
  std::string description;
};
const std::vector<SynthPreset>& synth_presets();

// Writes the checkpoint; returns the number of bytes of weights written. Throws r1::Error.
size_t synthesize(const SynthOptions& options);

}  // namespace r1
