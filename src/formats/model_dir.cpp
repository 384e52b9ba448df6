#include "formats/model_dir.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "formats/safetensors.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

nlohmann::json parse_json_file(const std::string& path) {
  const std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& ex) {
    fail("{}: not valid JSON: {}", path, ex.what());
  }
}

}  // namespace

ModelDir::ModelDir(const std::string& dir) : dir_(dir) {
  if (const std::optional<std::string> gguf = find_gguf_model(dir)) {
    open_gguf(*gguf);
    return;
  }
  if (!fs::is_directory(dir)) fail("{}: not a directory (expected a model directory with config.json, or a .gguf file)", dir);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(config_path)) fail("{}: missing config.json (and no .gguf file)", dir);
  config_ = parse_json_file(config_path);
  if (!config_.is_object()) fail("{}: must be a JSON object", config_path);

  const std::string index_path = (fs::path(dir) / "model.safetensors.index.json").string();
  if (fs::exists(index_path)) {
    const nlohmann::json index = parse_json_file(index_path);
    auto wm = index.find("weight_map");
    if (!index.is_object() || wm == index.end() || !wm->is_object()) {
      fail("{}: expected an object with a 'weight_map' object", index_path);
    }
    std::map<std::string, std::vector<std::string>> by_file;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it->is_string()) fail("{}: weight_map['{}'] must be a file name string", index_path, it.key());
      const std::string file = it->get<std::string>();
      if (file.empty() || file.find('/') != std::string::npos || file == "..") {
        fail("{}: weight_map['{}'] names '{}', expected a file name inside the model directory", index_path, it.key(), file);
      }
      by_file[file].push_back(it.key());
    }
    for (const auto& [file, names] : by_file) add_file(file, &names);
  } else {
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".safetensors") files.push_back(entry.path().filename().string());
    }
    if (files.empty()) fail("{}: no *.safetensors files and no model.safetensors.index.json", dir);
    std::sort(files.begin(), files.end());
    for (const auto& f : files) add_file(f, nullptr);
  }
}

void ModelDir::add_file(const std::string& file_name, const std::vector<std::string>* expected) {
  const std::string path = (fs::path(dir_) / file_name).string();
  if (!fs::exists(path)) fail("{}: missing weight file (listed in model.safetensors.index.json)", path);
  auto file = std::make_unique<MappedFile>(path);
  const SafetensorsHeader header = parse_safetensors_header(file->data(), file->size(), path);
  for (const auto& e : header.tensors) {
    if (tensors_.count(e.name)) fail("{}: tensor '{}' also appears in {}", path, e.name, tensors_.at(e.name).file);
    TensorView v;
    v.name = e.name;
    v.file = path;
    v.dtype = e.dtype;
    v.shape = e.shape;
    v.data = file->data() + header.data_offset + e.begin;
    v.nbytes = e.end - e.begin;
    tensors_.emplace(e.name, std::move(v));
  }
  if (expected) {
    for (const auto& name : *expected) {
      if (!tensors_.count(name) || tensors_.at(name).file != path) {
        fail("{}: index lists tensor '{}' in this file, but the file does not contain it", path, name);
      }
    }
  }
  files_.push_back(std::move(file));
}

void ModelDir::open_gguf(const std::string& path) {
  {
    const MappedFile file(path);
    if (file.size() < 4 || std::memcmp(file.data(), "GGUF", 4) != 0) {
      fail("{}: not a directory and not a GGUF file (expected a model directory with config.json, or a .gguf file)", path);
    }
  }
  GgufFiles files = open_gguf_files(path);
  GgufModel m = translate_gguf(files, path);
  config_ = std::move(m.config);
  quirks_ = std::move(m.quirks);
  for (auto& v : m.tensors) {
    if (tensors_.count(v.name)) fail("{}: two tensors map to '{}'", path, v.name);
    tensors_.emplace(v.name, std::move(v));
  }
  gguf_ = std::make_unique<GgufHeader>(std::move(files.header));
  for (auto& f : files.files) files_.push_back(std::move(f));
}

const TensorView& ModelDir::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("{}: missing tensor '{}'", dir_, name);
  return it->second;
}

size_t ModelDir::total_bytes() const {
  size_t n = 0;
  for (const auto& f : files_) n += f->size();
  return n;
}

}  // namespace r1
