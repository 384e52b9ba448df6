// A Hugging Face model directory as people download it: config.json, one or many *.safetensors
// (sharded ones listed in model.safetensors.index.json), tokenizer files. All weight files are
// memory-mapped; tensors are views into the maps.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace r1 {

class ModelDir {
 public:
  // Opens `dir`: parses config.json and every weight file's header. Throws r1::Error naming the file.
  explicit ModelDir(const std::string& dir);

  const std::string& path() const { return dir_; }
  const nlohmann::json& config() const { return config_; }

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws r1::Error "<dir>: missing tensor '<name>'" if absent.
  const TensorView& tensor(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::vector<std::unique_ptr<MappedFile>>& files() const { return files_; }
  size_t total_bytes() const;

 private:
  void add_file(const std::string& file_name, const std::vector<std::string>* expected);

  std::string dir_;
  nlohmann::json config_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, TensorView> tensors_;
};

}  // namespace r1
