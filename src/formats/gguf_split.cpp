#include "formats/gguf_split.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "core/error.h"

namespace r1 {

namespace {

constexpr size_t kSuffixLength = sizeof("-00001-of-00003.gguf") - 1;

// Five decimal digits, as %05d writes a number below 100000.
std::optional<int64_t> five_digits(const std::string& s, size_t at) {
  int64_t v = 0;
  for (size_t i = at; i < at + 5; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// split.no / split.count / split.tensors.count as a checked integer, if present.
std::optional<int64_t> split_key(const GgufHeader& h, const char* key, int64_t max, const std::string& path) {
  const GgufMetadata m(h, path);
  const std::optional<int64_t> v = m.integer_or(key);
  if (v && (*v < 0 || *v > max)) fail("{}: metadata key '{}' is {}, expected 0..{}", path, key, *v, max);
  return v;
}

struct ParsedFile {
  std::unique_ptr<MappedFile> file;
  GgufHeader header;
};

ParsedFile parse_file(const std::string& path) {
  ParsedFile p;
  p.file = std::make_unique<MappedFile>(path);
  p.header = parse_gguf_header(p.file->data(), p.file->size(), path);
  return p;
}

}  // namespace

std::string gguf_shard_path(const std::string& prefix, int64_t index, int64_t count) {
  return fmt::format("{}-{:05d}-of-{:05d}.gguf", prefix, index + 1, count);
}

std::optional<GgufShardName> parse_gguf_shard_name(const std::string& path) {
  if (path.size() <= kSuffixLength) return std::nullopt;
  const size_t at = path.size() - kSuffixLength;  // at "-00001-of-00003.gguf"
  if (path[at] != '-' || path.compare(at + 6, 4, "-of-") != 0 || path.compare(at + 15, 5, ".gguf") != 0) return std::nullopt;
  const std::optional<int64_t> number = five_digits(path, at + 1), count = five_digits(path, at + 10);
  if (!number || !count || *number < 1 || *number > *count) return std::nullopt;
  return GgufShardName{path.substr(0, at), *number - 1, *count};
}

std::optional<std::string> find_gguf_model(const std::string& path) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(path)) return path;
  if (!fs::is_directory(path) || fs::exists(fs::path(path) / "config.json")) return std::nullopt;
  // One entry per model: a plain file, or a split model under its prefix with its first shard.
  std::map<std::string, std::string> models;
  for (const auto& entry : fs::directory_iterator(path)) {
    const std::string file = entry.path().string();
    if (!entry.is_regular_file() || entry.path().extension() != ".gguf") continue;
    const std::optional<GgufShardName> shard = parse_gguf_shard_name(file);
    if (!shard) {
      models[file] = file;
    } else {
      std::string& first = models[shard->prefix];
      if (shard->index == 0 || first.empty()) first = gguf_shard_path(shard->prefix, 0, shard->count);
    }
  }
  if (models.empty()) return std::nullopt;
  if (models.size() > 1) {
    std::string names;
    for (const auto& [key, file] : models) names += (names.empty() ? "" : ", ") + fs::path(file).filename().string();
    fail("{}: holds {} GGUF models ({}); name the file (of a split model, any shard)", path, models.size(), names);
  }
  return models.begin()->second;
}

int64_t gguf_split_count(const GgufHeader& h, const std::string& path) {
  return std::max<int64_t>(1, split_key(h, kGgufSplitCount, kGgufMaxShards, path).value_or(1));
}

GgufFiles open_gguf_files(const std::string& path) {
  ParsedFile given = parse_file(path);
  const int64_t count = gguf_split_count(given.header, path);
  GgufFiles out;
  if (count == 1) {
    out.data_offsets.push_back(given.header.data_offset);
    out.header = std::move(given.header);
    out.files.push_back(std::move(given.file));
    return out;
  }

  const std::optional<int64_t> index = split_key(given.header, kGgufSplitNo, count - 1, path);
  if (!index) fail("{}: metadata key '{}' is {} but '{}' is missing", path, kGgufSplitCount, count, kGgufSplitNo);
  const std::optional<GgufShardName> name = parse_gguf_shard_name(path);
  if (!name || name->index != *index || name->count != count) {
    fail("{}: shard {} of a model split in {}, but the file name does not end in '{}', so the other shards "
         "cannot be found (keep the names llama.cpp's gguf-split gave them)",
         path, *index + 1, count, gguf_shard_path("", *index, count));
  }

  std::map<std::string, int64_t> shard_of;  // tensor name -> shard, for duplicates
  std::string first_path;
  std::optional<int64_t> tensors_expected;
  for (int64_t i = 0; i < count; ++i) {
    const std::string shard_path = gguf_shard_path(name->prefix, i, count);
    ParsedFile shard;
    if (i == *index) {
      shard = std::move(given);
    } else {
      if (!std::filesystem::exists(shard_path)) {
        fail("{}: missing shard {} of {} of the split model {}", shard_path, i + 1, count, path);
      }
      shard = parse_file(shard_path);
    }
    const GgufHeader& h = shard.header;
    if (gguf_split_count(h, shard_path) != count) {
      fail("{}: metadata key '{}' is {}, expected {} as in {}", shard_path, kGgufSplitCount, gguf_split_count(h, shard_path),
           count, path);
    }
    if (split_key(h, kGgufSplitNo, count - 1, shard_path) != i) {
      fail("{}: metadata key '{}' must be {} in shard {} of {}", shard_path, kGgufSplitNo, i, i + 1, count);
    }
    for (GgufTensorInfo& t : shard.header.tensors) {
      auto [it, fresh] = shard_of.emplace(t.name, i);
      if (!fresh) fail("{}: tensor '{}' also appears in {}", shard_path, t.name, gguf_shard_path(name->prefix, it->second, count));
      t.file = uint32_t(i);
    }
    out.data_offsets.push_back(shard.header.data_offset);
    if (i == 0) {
      first_path = shard_path;
      tensors_expected = split_key(shard.header, kGgufSplitTensors, INT32_MAX, shard_path);
      out.header = std::move(shard.header);
    } else {
      for (GgufTensorInfo& t : shard.header.tensors) out.header.tensors.push_back(std::move(t));
    }
    out.files.push_back(std::move(shard.file));
  }
  if (tensors_expected && *tensors_expected != int64_t(out.header.tensors.size())) {
    fail("{}: metadata key '{}' is {}, but the {} shards hold {} tensors", first_path, kGgufSplitTensors, *tensors_expected,
         count, out.header.tensors.size());
  }
  return out;
}

}  // namespace r1
