// The GGUF container (llama.cpp / ggml), versions 2 and 3, little-endian:
//
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count
//   kv_count x  { string key, u32 value_type, value }        (metadata; arrays nest one level)
//   tensor_count x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to `general.alignment` (default 32), then the data section; offsets are relative to it.
//
// ne[0] is the innermost (contiguous) dimension: a Linear weight [out, in] is stored with ne = {in, out}.
// Strings are u64 length + bytes (no terminator). This file only knows the container; what the keys and
// tensor names mean for a model is in formats/gguf_model.{h,cpp}.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace r1 {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9,
  U64 = 10, I64 = 11, F64 = 12,
};
std::string_view gguf_type_name(GgufType t);

// One metadata value. Scalars use the field of their kind; arrays hold their elements in `array`
// (numbers and bools) or `strings`, with `elem` giving the element type.
struct GgufValue {
  GgufType type = GgufType::U32;
  GgufType elem = GgufType::U32;  // arrays only
  uint64_t u = 0;                 // unsigned integers and bool
  int64_t i = 0;                  // signed integers
  double f = 0;                   // F32 / F64
  std::string s;
  std::vector<GgufValue> array;   // numeric / bool arrays
  std::vector<std::string> strings;

  bool is_integer() const;
  bool is_float() const { return type == GgufType::F32 || type == GgufType::F64; }
  bool is_array() const { return type == GgufType::ARRAY; }
  // The numeric value of an integer, float or bool scalar.
  double number() const;
  int64_t integer() const { return is_integer() && !is_signed() ? int64_t(u) : i; }
  bool is_signed() const;

  static GgufValue of_u16(uint16_t v);
  static GgufValue of_u32(uint32_t v);
  static GgufValue of_i32(int32_t v);
  static GgufValue of_u64(uint64_t v);
  static GgufValue of_f32(float v);
  static GgufValue of_bool(bool v);
  static GgufValue of_string(std::string v);
  static GgufValue of_strings(std::vector<std::string> v);
  static GgufValue of_i32s(const std::vector<int32_t>& v);
  static GgufValue of_f32s(const std::vector<float>& v);
};

struct GgufTensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> ne;  // ggml order: ne[0] innermost
  uint64_t offset = 0;      // relative to the data section
  uint64_t nbytes = 0;
  uint32_t file = 0;        // the shard holding it, in a split model (formats/gguf_split.h)
};

struct GgufHeader {
  uint32_t version = 0;
  std::map<std::string, GgufValue> metadata;
  std::vector<std::string> key_order;  // metadata keys in file order (the writer of `quantize` keeps it)
  std::vector<GgufTensorInfo> tensors;  // in file order
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // absolute offset of the data section
};

// Parses and validates everything before the data section of a GGUF file held in `bytes`: magic,
// version, counts bounded by the file size, string and array lengths, value types, tensor dims
// (1..4, positive, no overflow, ne[0] a multiple of the type's block), known tensor types (an unknown
// one is an error naming the tensor and the type), alignment (a power of two), offsets aligned, data
// inside the file and not overlapping. Throws r1::Error naming `path`. Safe on arbitrary bytes (fuzzed).
GgufHeader parse_gguf_header(const uint8_t* bytes, size_t file_size, const std::string& path);

// Typed metadata lookups with one-line errors naming the file and key.
class GgufMetadata {
 public:
  GgufMetadata(const GgufHeader& h, std::string path) : h_(h), path_(std::move(path)) {}
  bool has(const std::string& key) const { return h_.metadata.count(key) != 0; }
  const GgufValue* find(const std::string& key) const;
  std::string str(const std::string& key) const;
  int64_t integer(const std::string& key) const;
  std::optional<int64_t> integer_or(const std::string& key) const;
  double number(const std::string& key) const;
  std::optional<double> number_or(const std::string& key) const;
  std::optional<bool> boolean(const std::string& key) const;
  const std::vector<std::string>& strings(const std::string& key) const;
  std::vector<int64_t> integers(const std::string& key) const;
  const std::string& path() const { return path_; }

 private:
  const GgufValue& get(const std::string& key) const;
  const GgufHeader& h_;
  std::string path_;
};

// Writes a GGUF v3 file. Metadata is written in the order set; tensors in the order added, each
// one's bytes produced by its `fill` callback into a buffer of exactly its size (streamed, so
// multi-GB outputs need only one tensor's worth of memory).
class GgufWriter {
 public:
  using Fill = std::function<void(uint8_t* dst, size_t nbytes)>;
  void set(const std::string& key, GgufValue value);
  void add_tensor(std::string name, DType dtype, std::vector<int64_t> ne, Fill fill);
  size_t tensor_count() const { return tensors_.size(); }
  // Writes `path`, or with `max_shard_bytes` > 0 and more tensor data than that, the shards of a split
  // model (formats/gguf_split.h): PATH-00001-of-0000N.gguf ... (PATH without its .gguf), the metadata in
  // the first, each tensor whole in one (a shard passes the limit only for a tensor larger than it).
  // Returns the files written. Throws r1::Error naming the path on I/O failure and leaves no output then.
  std::vector<std::string> write(const std::string& path, uint64_t max_shard_bytes = 0) const;

 private:
  struct Pending {
    std::string name;
    DType dtype;
    std::vector<int64_t> ne;
    uint64_t nbytes;
    Fill fill;
  };
  void write_file(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& kv, size_t first,
                  size_t last) const;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Pending> tensors_;
};

}  // namespace r1
