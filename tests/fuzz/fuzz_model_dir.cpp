// libFuzzer: a whole model directory load (ModelDir + config + weight binding) where the single
// model.safetensors is the fuzz input and config.json is a fixed, valid, tiny Llama-shaped FP8 config
// (FP8 block scales, BF16/F16/F32 matrices and norms all reachable). Loading must either succeed with
// every tensor inside its file or throw r1::Error.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "model/model.h"

namespace {

// Keep in sync with tests/fuzz/make_corpus.py (which writes the seeds for this config).
constexpr const char* kConfig = R"({
  "architectures": ["LlamaForCausalLM"], "vocab_size": 16, "hidden_size": 8, "intermediate_size": 12,
  "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 64,
  "tie_word_embeddings": false, "rms_norm_eps": 1e-5,
  "quantization_config": {"quant_method": "fp8", "weight_block_size": [4, 4]}
})";

std::string make_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "r1-fuzz-model-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) __builtin_trap();
  std::FILE* f = std::fopen((tmpl + "/config.json").c_str(), "wb");
  if (!f) __builtin_trap();
  std::fputs(kConfig, f);
  std::fclose(f);
  return tmpl;
}

struct Dir {
  std::string path = make_dir();
  ~Dir() { std::filesystem::remove_all(path); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Dir dir;
  const std::string file = dir.path + "/model.safetensors";
  std::FILE* f = std::fopen(file.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);
  try {
    auto model = r1::Model::load(dir.path);
    // Every tensor view lies inside its mapped file; read each byte so a lie would fault here.
    for (const auto& mf : model->files().files()) {
      for (const auto& [name, t] : model->files().tensors()) {
        if (t.file != mf->path()) continue;
        if (t.data < mf->data() || t.data + t.nbytes > mf->data() + mf->size()) __builtin_trap();
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < t.nbytes; ++i) sink = sink ^ t.data[i];
      }
    }
  } catch (const r1::Error&) {
  }
  return 0;
}
