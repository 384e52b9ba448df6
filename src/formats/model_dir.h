// A checkpoint as people download it, seen as a Hugging Face model directory: config.json, one or many
// *.safetensors (sharded ones listed in model.safetensors.index.json), tokenizer files -- or a GGUF
// file (all its shards, if split), translated into the same view (formats/gguf_model.h). All weight
// files are memory-mapped; tensors are views into the maps.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"
#include "formats/gguf.h"
#include "formats/gguf_model.h"

namespace r1 {

class ModelDir {
 public:
  // Opens `dir` (a directory, or a .gguf file or any shard of a split one): parses config.json and every weight file's header.
  // Throws r1::Error naming the file.
  explicit ModelDir(const std::string& dir);

  const std::string& path() const { return dir_; }
  const nlohmann::json& config() const { return config_; }

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws r1::Error "<dir>: missing tensor '<name>'" if absent.
  const TensorView& tensor(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::vector<std::unique_ptr<MappedFile>>& files() const { return files_; }
  size_t total_bytes() const;

  // GGUF files only (null / empty otherwise): the file's header -- tokenizer metadata, and the source
  // of `r1 quantize`; for a split model the first shard's metadata and every shard's tensors -- and how
  // llama.cpp's converter changed the weights.
  const GgufHeader* gguf() const { return gguf_.get(); }
  const GgufQuirks& quirks() const { return quirks_; }

 private:
  void open_gguf(const std::string& path);
  void add_file(const std::string& file_name, const std::vector<std::string>* expected);

  std::string dir_;
  nlohmann::json config_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, TensorView> tensors_;
  std::unique_ptr<GgufHeader> gguf_;
  GgufQuirks quirks_;
};

}  // namespace r1
