// Split GGUF models: what llama.cpp's gguf-split and `convert_hf_to_gguf.py --split-max-size` write, and how
// the large R1 quants are published (DeepSeek-R1-UD-IQ1_S-00001-of-00003.gguf, ...). Each shard is a
// complete GGUF file holding some of the tensors; the first also holds the model's metadata, and every
// shard carries split.no (its index from 0, u16), split.count (u16) and split.tensors.count (the tensors
// of all shards, i32). Shards are named PREFIX-%05d-of-%05d.gguf, counted from 1.
//
// A model is opened from any of its shards; a file without split keys (or with split.count <= 1) is a
// model of one file. Every shard is mapped, nothing is copied.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "formats/gguf.h"

namespace r1 {

inline constexpr const char* kGgufSplitNo = "split.no";
inline constexpr const char* kGgufSplitCount = "split.count";
inline constexpr const char* kGgufSplitTensors = "split.tensors.count";
inline constexpr int64_t kGgufMaxShards = 65535;  // split.count is a u16

// PREFIX-00002-of-00005.gguf for index 1 of 5.
std::string gguf_shard_path(const std::string& prefix, int64_t index, int64_t count);

struct GgufShardName {
  std::string prefix;
  int64_t index = 0;  // from 0
  int64_t count = 0;
};
// The prefix, index and count a shard's file name states; nullopt when it does not follow the pattern.
std::optional<GgufShardName> parse_gguf_shard_name(const std::string& path);

// A GGUF model as opened: its file, or every shard of a split one.
struct GgufFiles {
  // The first file's version, metadata and alignment; the tensors of every file in shard order, each
  // with `file` naming its shard. Tensor offsets are relative to their own file's data section.
  GgufHeader header;
  std::vector<std::unique_ptr<MappedFile>> files;  // the shards in order (one for an unsplit model)
  std::vector<uint64_t> data_offsets;              // each file's data section

  const uint8_t* data(const GgufTensorInfo& t) const { return files[t.file]->data() + data_offsets[t.file] + t.offset; }
  const std::string& path_of(const GgufTensorInfo& t) const { return files[t.file]->path(); }
};

// Opens `path` and, when it is a shard of a split model, all the other shards (found by their names).
// Throws r1::Error naming the file: a shard missing, one whose split keys disagree with the first
// (count, index), a tensor in two shards, or a tensor count other than split.tensors.count.
GgufFiles open_gguf_files(const std::string& path);

// The GGUF file to open for a model path: a file is itself; a directory without config.json that holds
// .gguf files -- how GGUF repositories are downloaded: one file, or the shards of one split model -- gives
// that file or the first shard. nullopt otherwise (a Hugging Face directory). Throws r1::Error naming the
// directory when it holds several models (the message lists them).
std::optional<std::string> find_gguf_model(const std::string& path);

// The number of shards (at least 1) a file's split.count states, checked: an integer in 0..65535
// (gguf-split's merge leaves 0 behind: a file of its own).
int64_t gguf_split_count(const GgufHeader& h, const std::string& path);

}  // namespace r1
