// The safetensors format: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the raw data.
// Offsets are relative to the first byte after the header.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace r1 {

struct SafetensorsEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to the data section
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // in file order of their data
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // absolute offset of the data section
};

// Parses and validates the header of a safetensors file held in `bytes` (the whole file).
// Everything is checked against `file_size`: header length, JSON shape, dtype names, element counts
// versus byte ranges, ranges inside the data section and not overlapping. Throws r1::Error with
// `path` and the offending tensor on any violation. Safe on arbitrary bytes (fuzzed).
SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, size_t file_size, const std::string& path);

// Writes a safetensors file. Tensors are laid out in the order added; each one's bytes are produced by
// its `fill` callback directly into the memory-mapped output, so multi-GB files need no extra memory.
class SafetensorsWriter {
 public:
  using Fill = std::function<void(uint8_t* dst, size_t nbytes)>;
  void add(std::string name, DType dtype, std::vector<int64_t> shape, Fill fill);
  void set_metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }
  size_t data_bytes() const { return data_bytes_; }
  size_t count() const { return pending_.size(); }
  // Writes the file; throws r1::Error naming the path on I/O failure.
  void write(const std::string& path) const;

 private:
  struct Pending {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
    Fill fill;
  };
  std::vector<Pending> pending_;
  std::map<std::string, std::string> metadata_;
  size_t data_bytes_ = 0;
};

}  // namespace r1
