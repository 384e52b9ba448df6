#include "formats/gguf.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "formats/gguf_split.h"

namespace r1 {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kMaxDims = 4;
constexpr uint64_t kMaxStringBytes = uint64_t(1) << 30;

// Bytes of one scalar of a fixed-size type; 0 for STRING / ARRAY.
uint64_t scalar_bytes(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

bool known_type(uint32_t t) { return t <= uint32_t(GgufType::F64); }

// A bounds-checked little-endian cursor over the file's bytes.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n, const std::string& path) : p_(p), n_(n), path_(path) {}

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string string(const char* what) {
    const uint64_t len = read<uint64_t>(what);
    if (len > kMaxStringBytes || len > remaining()) {
      fail("{}: {} at offset {}: string length {} runs past the end of the file ({} bytes)", path_, what, pos_ - 8, len, n_);
    }
    std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
    pos_ += len;
    return s;
  }

  uint64_t remaining() const { return n_ - pos_; }
  uint64_t pos() const { return pos_; }

 private:
  void need(uint64_t k, const char* what) {
    if (k > remaining()) fail("{}: truncated: {} at offset {} needs {} bytes, the file has {}", path_, what, pos_, k, n_);
  }
  const uint8_t* p_;
  uint64_t n_;
  uint64_t pos_ = 0;
  const std::string& path_;
};

GgufValue read_scalar(Reader& r, GgufType t, const char* what) {
  GgufValue v;
  v.type = t;
  switch (t) {
    case GgufType::U8: v.u = r.read<uint8_t>(what); break;
    case GgufType::I8: v.i = r.read<int8_t>(what); break;
    case GgufType::U16: v.u = r.read<uint16_t>(what); break;
    case GgufType::I16: v.i = r.read<int16_t>(what); break;
    case GgufType::U32: v.u = r.read<uint32_t>(what); break;
    case GgufType::I32: v.i = r.read<int32_t>(what); break;
    case GgufType::U64: v.u = r.read<uint64_t>(what); break;
    case GgufType::I64: v.i = r.read<int64_t>(what); break;
    case GgufType::F32: v.f = r.read<float>(what); break;
    case GgufType::F64: v.f = r.read<double>(what); break;
    case GgufType::BOOL: v.u = r.read<uint8_t>(what); break;
    case GgufType::STRING: v.s = r.string(what); break;
    case GgufType::ARRAY: break;  // handled by the caller
  }
  return v;
}

GgufValue read_value(Reader& r, const std::string& key, const std::string& path) {
  const uint32_t raw = r.read<uint32_t>("metadata value type");
  if (!known_type(raw)) fail("{}: metadata key '{}': unknown value type {}", path, key, raw);
  const auto type = GgufType(raw);
  if (type != GgufType::ARRAY) return read_scalar(r, type, "metadata value");

  GgufValue v;
  v.type = GgufType::ARRAY;
  const uint32_t raw_elem = r.read<uint32_t>("array element type");
  if (!known_type(raw_elem)) fail("{}: metadata key '{}': unknown array element type {}", path, key, raw_elem);
  v.elem = GgufType(raw_elem);
  if (v.elem == GgufType::ARRAY) fail("{}: metadata key '{}': nested arrays are not supported", path, key);
  const uint64_t count = r.read<uint64_t>("array length");
  // Every element takes at least one byte (a string at least eight): a count the rest of the file
  // cannot hold is a lie, caught before anything is allocated for it.
  const uint64_t min_elem = v.elem == GgufType::STRING ? 8 : scalar_bytes(v.elem);
  if (count > r.remaining() / min_elem) {
    fail("{}: metadata key '{}': array of {} {} runs past the end of the file", path, key, count, gguf_type_name(v.elem));
  }
  if (v.elem == GgufType::STRING) {
    v.strings.reserve(size_t(count));
    for (uint64_t k = 0; k < count; ++k) v.strings.push_back(r.string("array string"));
  } else {
    v.array.reserve(size_t(count));
    for (uint64_t k = 0; k < count; ++k) v.array.push_back(read_scalar(r, v.elem, "array element"));
  }
  return v;
}

}  // namespace

std::string_view gguf_type_name(GgufType t) {
  static constexpr std::string_view kNames[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                "bool", "string", "array", "u64", "i64", "f64"};
  return uint32_t(t) < std::size(kNames) ? kNames[uint32_t(t)] : "unknown";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16: case GgufType::U32:
    case GgufType::I32: case GgufType::U64: case GgufType::I64: return true;
    default: return false;
  }
}

bool GgufValue::is_signed() const {
  return type == GgufType::I8 || type == GgufType::I16 || type == GgufType::I32 || type == GgufType::I64;
}

double GgufValue::number() const {
  if (is_float()) return f;
  if (is_signed()) return double(i);
  return double(u);
}

GgufValue GgufValue::of_u16(uint16_t v) { GgufValue x; x.type = GgufType::U16; x.u = v; return x; }
GgufValue GgufValue::of_u32(uint32_t v) { GgufValue x; x.type = GgufType::U32; x.u = v; return x; }
GgufValue GgufValue::of_i32(int32_t v) { GgufValue x; x.type = GgufType::I32; x.i = v; return x; }
GgufValue GgufValue::of_u64(uint64_t v) { GgufValue x; x.type = GgufType::U64; x.u = v; return x; }
GgufValue GgufValue::of_f32(float v) { GgufValue x; x.type = GgufType::F32; x.f = v; return x; }
GgufValue GgufValue::of_bool(bool v) { GgufValue x; x.type = GgufType::BOOL; x.u = v; return x; }
GgufValue GgufValue::of_string(std::string v) { GgufValue x; x.type = GgufType::STRING; x.s = std::move(v); return x; }
GgufValue GgufValue::of_strings(std::vector<std::string> v) {
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.elem = GgufType::STRING;
  x.strings = std::move(v);
  return x;
}
GgufValue GgufValue::of_i32s(const std::vector<int32_t>& v) {
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.elem = GgufType::I32;
  for (int32_t e : v) x.array.push_back(of_i32(e));
  return x;
}
GgufValue GgufValue::of_f32s(const std::vector<float>& v) {
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.elem = GgufType::F32;
  for (float e : v) x.array.push_back(of_f32(e));
  return x;
}

GgufHeader parse_gguf_header(const uint8_t* bytes, size_t file_size, const std::string& path) {
  Reader r(bytes, file_size, path);
  GgufHeader h;
  if (file_size < 4 || r.read<uint32_t>("magic") != kMagic) fail("{}: not a GGUF file (expected the magic bytes 'GGUF')", path);
  h.version = r.read<uint32_t>("version");
  if (h.version != 2 && h.version != 3) {
    fail("{}: GGUF version {} is not supported (expected 2 or 3{})", path, h.version,
         (h.version >> 24) == 3 || (h.version >> 24) == 2 ? "; this looks like a big-endian file" : "");
  }
  const uint64_t n_tensors = r.read<uint64_t>("tensor count");
  const uint64_t n_kv = r.read<uint64_t>("metadata count");
  // A key-value pair takes at least 12 bytes, a tensor info at least 28.
  if (n_kv > r.remaining() / 12) fail("{}: metadata count {} cannot fit in a file of {} bytes", path, n_kv, file_size);
  if (n_tensors > r.remaining() / 28) fail("{}: tensor count {} cannot fit in a file of {} bytes", path, n_tensors, file_size);

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = r.string("metadata key");
    if (h.metadata.count(key)) fail("{}: metadata key '{}' appears twice", path, key);
    GgufValue v = read_value(r, key, path);
    h.key_order.push_back(key);
    h.metadata.emplace(std::move(key), std::move(v));
  }
  if (auto it = h.metadata.find("general.alignment"); it != h.metadata.end()) {
    const GgufValue& a = it->second;
    if (a.type != GgufType::U32) fail("{}: metadata key 'general.alignment' has type {}, expected u32", path, gguf_type_name(a.type));
    if (a.u == 0 || (a.u & (a.u - 1)) != 0 || a.u > 65536) {
      fail("{}: metadata key 'general.alignment' is {}, expected a power of two up to 65536", path, a.u);
    }
    h.alignment = a.u;
  }

  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = r.string("tensor name");
    const uint32_t n_dims = r.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) fail("{}: tensor '{}': {} dimensions, expected 1 to {}", path, t.name, n_dims, kMaxDims);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = r.read<uint64_t>("tensor dimension");
      if (ne == 0 || ne > (uint64_t(1) << 40) || numel > (uint64_t(1) << 42) / ne) {
        fail("{}: tensor '{}': dimension {} is {} (expected a positive size whose product stays below 2^42)", path, t.name, d, ne);
      }
      numel *= ne;
      t.ne.push_back(int64_t(ne));
    }
    const uint32_t type = r.read<uint32_t>("tensor type");
    const std::optional<DType> dt = dtype_from_ggml(type);
    if (!dt) fail("{}: tensor '{}': type {} ({}) is not supported by r1", path, t.name, ggml_type_name(type), type);
    t.dtype = *dt;
    if (t.ne[0] % dtype_block_elems(t.dtype) != 0) {
      fail("{}: tensor '{}': row length {} is not a multiple of the {} block size {}", path, t.name, t.ne[0],
           dtype_name(t.dtype), dtype_block_elems(t.dtype));
    }
    t.nbytes = dtype_row_bytes(t.dtype, t.ne[0]) * (numel / uint64_t(t.ne[0]));
    t.offset = r.read<uint64_t>("tensor offset");
    if (t.offset % h.alignment != 0) fail("{}: tensor '{}': offset {} is not a multiple of the alignment {}", path, t.name, t.offset, h.alignment);
    h.tensors.push_back(std::move(t));
  }

  h.data_offset = (r.pos() + h.alignment - 1) / h.alignment * h.alignment;
  if (h.data_offset > file_size && !h.tensors.empty()) fail("{}: truncated: the data section would start at {} but the file has {} bytes", path, h.data_offset, file_size);
  const uint64_t data_size = file_size > h.data_offset ? file_size - h.data_offset : 0;
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : h.tensors) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      fail("{}: tensor '{}': data [{}, {}) runs past the end of the file (data section holds {} bytes)", path, t.name,
           t.offset, t.offset + t.nbytes, data_size);
    }
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const GgufTensorInfo& prev = *by_offset[k - 1];
    if (prev.offset + prev.nbytes > by_offset[k]->offset) {
      fail("{}: tensor '{}' overlaps tensor '{}' in the data section", path, by_offset[k]->name, prev.name);
    }
  }
  std::vector<const GgufTensorInfo*> by_name = by_offset;
  std::sort(by_name.begin(), by_name.end(), [](auto* a, auto* b) { return a->name < b->name; });
  for (size_t k = 1; k < by_name.size(); ++k) {
    if (by_name[k]->name == by_name[k - 1]->name) fail("{}: tensor '{}' appears twice", path, by_name[k]->name);
  }
  return h;
}

// ---- typed lookups ----------------------------------------------------------------------------------

const GgufValue* GgufMetadata::find(const std::string& key) const {
  auto it = h_.metadata.find(key);
  return it == h_.metadata.end() ? nullptr : &it->second;
}

const GgufValue& GgufMetadata::get(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail("{}: missing metadata key '{}'", path_, key);
  return *v;
}

std::string GgufMetadata::str(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::STRING) fail("{}: metadata key '{}' has type {}, expected string", path_, key, gguf_type_name(v.type));
  return v.s;
}

int64_t GgufMetadata::integer(const std::string& key) const {
  const GgufValue& v = get(key);
  if (!v.is_integer()) fail("{}: metadata key '{}' has type {}, expected an integer", path_, key, gguf_type_name(v.type));
  if (!v.is_signed() && v.u > uint64_t(INT64_MAX)) fail("{}: metadata key '{}' is {}, too large", path_, key, v.u);
  return v.integer();
}

std::optional<int64_t> GgufMetadata::integer_or(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return integer(key);
}

double GgufMetadata::number(const std::string& key) const {
  const GgufValue& v = get(key);
  if (!v.is_integer() && !v.is_float()) fail("{}: metadata key '{}' has type {}, expected a number", path_, key, gguf_type_name(v.type));
  return v.number();
}

std::optional<double> GgufMetadata::number_or(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return number(key);
}

std::optional<bool> GgufMetadata::boolean(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::BOOL) fail("{}: metadata key '{}' has type {}, expected bool", path_, key, gguf_type_name(v->type));
  return v->u != 0;
}

const std::vector<std::string>& GgufMetadata::strings(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::ARRAY || v.elem != GgufType::STRING) {
    fail("{}: metadata key '{}' has type {}, expected an array of strings", path_, key,
         v.type == GgufType::ARRAY ? "array of " + std::string(gguf_type_name(v.elem)) : std::string(gguf_type_name(v.type)));
  }
  return v.strings;
}

std::vector<int64_t> GgufMetadata::integers(const std::string& key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufType::ARRAY || !(GgufValue{.type = v.elem}.is_integer())) {
    fail("{}: metadata key '{}' has type {}, expected an array of integers", path_, key,
         v.type == GgufType::ARRAY ? "array of " + std::string(gguf_type_name(v.elem)) : std::string(gguf_type_name(v.type)));
  }
  std::vector<int64_t> out;
  out.reserve(v.array.size());
  for (const auto& e : v.array) out.push_back(e.integer());
  return out;
}

// ---- writer -----------------------------------------------------------------------------------------

namespace {

class Out {
 public:
  Out(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (!f_) fail("{}: cannot create the file", path);
  }
  ~Out() {
    if (f_) std::fclose(f_);
  }
  void bytes(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n) fail("{}: write failed (disk full?)", path_);
    pos_ += n;
  }
  template <typename T>
  void put(T v) { bytes(&v, sizeof v); }
  void string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad(uint64_t alignment) {
    static const uint8_t zeros[64] = {};
    while (pos_ % alignment) bytes(zeros, std::min<uint64_t>(sizeof zeros, alignment - pos_ % alignment));
  }
  void close() {
    if (std::fclose(f_) != 0) {
      f_ = nullptr;
      fail("{}: write failed on close", path_);
    }
    f_ = nullptr;
  }
  uint64_t pos() const { return pos_; }

 private:
  std::string path_;
  std::FILE* f_;
  uint64_t pos_ = 0;
};

void write_scalar(Out& o, const GgufValue& v) {
  switch (v.type) {
    case GgufType::U8: o.put<uint8_t>(uint8_t(v.u)); break;
    case GgufType::I8: o.put<int8_t>(int8_t(v.i)); break;
    case GgufType::U16: o.put<uint16_t>(uint16_t(v.u)); break;
    case GgufType::I16: o.put<int16_t>(int16_t(v.i)); break;
    case GgufType::U32: o.put<uint32_t>(uint32_t(v.u)); break;
    case GgufType::I32: o.put<int32_t>(int32_t(v.i)); break;
    case GgufType::U64: o.put<uint64_t>(v.u); break;
    case GgufType::I64: o.put<int64_t>(v.i); break;
    case GgufType::F32: o.put<float>(float(v.f)); break;
    case GgufType::F64: o.put<double>(v.f); break;
    case GgufType::BOOL: o.put<uint8_t>(v.u ? 1 : 0); break;
    case GgufType::STRING: o.string(v.s); break;
    case GgufType::ARRAY: break;
  }
}

constexpr uint64_t kAlignment = 32;

uint64_t padded(uint64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : kv_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  kv_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(std::string name, DType dtype, std::vector<int64_t> ne, Fill fill) {
  uint64_t rows = 1;
  for (size_t d = 1; d < ne.size(); ++d) rows *= uint64_t(ne[d]);
  const uint64_t nbytes = dtype_row_bytes(dtype, ne[0]) * rows;
  tensors_.push_back({std::move(name), dtype, std::move(ne), nbytes, std::move(fill)});
}

void GgufWriter::write_file(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& kv,
                            size_t first, size_t last) const {
  Out o(path);
  o.put<uint32_t>(kMagic);
  o.put<uint32_t>(3);
  o.put<uint64_t>(last - first);
  o.put<uint64_t>(kv.size());
  for (const auto& [key, v] : kv) {
    o.string(key);
    o.put<uint32_t>(uint32_t(v.type));
    if (v.type != GgufType::ARRAY) {
      write_scalar(o, v);
      continue;
    }
    o.put<uint32_t>(uint32_t(v.elem));
    if (v.elem == GgufType::STRING) {
      o.put<uint64_t>(v.strings.size());
      for (const auto& s : v.strings) o.string(s);
    } else {
      o.put<uint64_t>(v.array.size());
      for (const auto& e : v.array) write_scalar(o, e);
    }
  }
  uint64_t offset = 0;
  for (size_t i = first; i < last; ++i) {
    const Pending& t = tensors_[i];
    o.string(t.name);
    o.put<uint32_t>(uint32_t(t.ne.size()));
    for (int64_t d : t.ne) o.put<uint64_t>(uint64_t(d));
    o.put<uint32_t>(dtype_to_ggml(t.dtype));
    o.put<uint64_t>(offset);
    offset += padded(t.nbytes);
  }
  o.pad(kAlignment);
  std::vector<uint8_t> buf;
  for (size_t i = first; i < last; ++i) {
    const Pending& t = tensors_[i];
    buf.assign(size_t(t.nbytes), 0);
    t.fill(buf.data(), buf.size());
    o.bytes(buf.data(), buf.size());
    o.pad(kAlignment);
  }
  o.close();
}

std::vector<std::string> GgufWriter::write(const std::string& path, uint64_t max_shard_bytes) const {
  // Shards as gguf-split cuts them: a new one when the next tensor's padded data would pass the limit.
  std::vector<size_t> starts = {0};
  uint64_t shard_bytes = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const uint64_t n = padded(tensors_[i].nbytes);
    if (max_shard_bytes && shard_bytes > 0 && shard_bytes + n > max_shard_bytes) {
      starts.push_back(i);
      shard_bytes = 0;
    }
    shard_bytes += n;
  }
  const int64_t count = int64_t(starts.size());
  if (count > kGgufMaxShards) fail("{}: {} shards of at most {} bytes are more than GGUF's {}", path, count, max_shard_bytes, kGgufMaxShards);
  starts.push_back(tensors_.size());

  std::vector<std::string> paths;
  if (count == 1) {
    paths.push_back(path);
  } else {
    const std::string prefix = path.size() > 5 && path.ends_with(".gguf") ? path.substr(0, path.size() - 5) : path;
    for (int64_t i = 0; i < count; ++i) paths.push_back(gguf_shard_path(prefix, i, count));
  }
  // Each file is written beside its final name and renamed once all are complete, so that a failed or
  // interrupted run leaves no file that looks whole.
  std::vector<std::string> partial;
  try {
    for (int64_t i = 0; i < count; ++i) {
      partial.push_back(paths[size_t(i)] + ".partial");
      if (count == 1) {
        write_file(partial.back(), kv_, 0, tensors_.size());
        continue;
      }
      // The model's metadata in the first shard only, the split keys in every one (as gguf-split).
      std::vector<std::pair<std::string, GgufValue>> kv;
      if (i == 0) kv = kv_;
      kv.emplace_back(kGgufSplitNo, GgufValue::of_u16(uint16_t(i)));
      kv.emplace_back(kGgufSplitCount, GgufValue::of_u16(uint16_t(count)));
      kv.emplace_back(kGgufSplitTensors, GgufValue::of_i32(int32_t(tensors_.size())));
      write_file(partial.back(), kv, starts[size_t(i)], starts[size_t(i) + 1]);
    }
    for (int64_t i = 0; i < count; ++i) std::filesystem::rename(partial[size_t(i)], paths[size_t(i)]);
  } catch (...) {
    std::error_code ignored;
    for (const auto& p : partial) std::filesystem::remove(p, ignored);
    throw;
  }
  return paths;
}

}  // namespace r1
