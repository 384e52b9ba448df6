#include "formats/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace r1 {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit
constexpr size_t kMaxDims = 8;

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& v, uint64_t data_size,
                             const std::string& path) {
  if (!v.is_object()) fail("{}: tensor '{}': header entry is not a JSON object", path, name);
  SafetensorsEntry e;
  e.name = name;

  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) fail("{}: tensor '{}': missing string field 'dtype'", path, name);
  auto dtype = dtype_from_name(dt->get_ref<const std::string&>());
  if (!dtype) {
    fail("{}: tensor '{}': unsupported dtype '{}' (expected F32, F16, BF16, F8_E4M3, I32 or I64)", path, name,
         dt->get_ref<const std::string&>());
  }
  e.dtype = *dtype;

  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) fail("{}: tensor '{}': missing array field 'shape'", path, name);
  if (sh->size() > kMaxDims) fail("{}: tensor '{}': shape has {} dimensions, expected at most {}", path, name, sh->size(), kMaxDims);
  uint64_t numel = 1;
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned()) fail("{}: tensor '{}': shape entries must be non-negative integers", path, name);
    const uint64_t n = d.get<uint64_t>();
    if (n > (1ull << 48) || (n != 0 && numel > (1ull << 56) / n)) fail("{}: tensor '{}': shape is too large", path, name);
    numel *= n;
    e.shape.push_back(int64_t(n));
  }

  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned()) {
    fail("{}: tensor '{}': 'data_offsets' must be two non-negative integers", path, name);
  }
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.begin > e.end) fail("{}: tensor '{}': data_offsets [{}, {}] are reversed", path, name, e.begin, e.end);
  if (e.end > data_size) {
    fail("{}: tensor '{}': data_offsets end {} is past the end of the data ({} bytes; file truncated?)", path, name,
         e.end, data_size);
  }
  const uint64_t expected = numel * dtype_size(e.dtype);
  if (e.end - e.begin != expected) {
    fail("{}: tensor '{}': {} {} needs {} bytes but data_offsets span {}", path, name, dtype_name(e.dtype),
         shape_str(e.shape), expected, e.end - e.begin);
  }
  return e;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, size_t file_size, const std::string& path) {
  if (file_size < 8) fail("{}: truncated: {} bytes, a safetensors file starts with an 8-byte header length", path, file_size);
  const uint64_t header_len = read_u64_le(bytes);
  if (header_len > kMaxHeaderBytes) fail("{}: header length {} exceeds the {} byte limit", path, header_len, kMaxHeaderBytes);
  if (header_len > file_size - 8) {
    fail("{}: header length {} exceeds the file size {} minus the 8-byte length (truncated?)", path, header_len, file_size);
  }

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const nlohmann::json::exception& ex) {
    fail("{}: header is not valid JSON: {}", path, ex.what());
  }
  if (!j.is_object()) fail("{}: header must be a JSON object", path);

  SafetensorsHeader h;
  h.data_offset = 8 + header_len;
  const uint64_t data_size = file_size - h.data_offset;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail("{}: '__metadata__' must be an object", path);
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail("{}: '__metadata__' value '{}' must be a string", path, m.key());
        h.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_entry(it.key(), *it, data_size, path));
  }

  std::sort(h.tensors.begin(), h.tensors.end(), [](const auto& a, const auto& b) { return a.begin < b.begin; });
  const SafetensorsEntry* prev = nullptr;  // the last non-empty tensor: empty ones overlap nothing
  for (const auto& cur : h.tensors) {
    if (cur.end == cur.begin) continue;
    if (prev && cur.begin < prev->end) {
      fail("{}: tensors '{}' and '{}' overlap (bytes {}..{} and {}..{})", path, prev->name, cur.name, prev->begin,
           prev->end, cur.begin, cur.end);
    }
    prev = &cur;
  }
  return h;
}

void SafetensorsWriter::add(std::string name, DType dtype, std::vector<int64_t> shape, Fill fill) {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape) n *= uint64_t(d);
  pending_.push_back({std::move(name), dtype, std::move(shape), data_bytes_, data_bytes_ + n, std::move(fill)});
  data_bytes_ += n;
}

void SafetensorsWriter::write(const std::string& path) const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  for (const auto& p : pending_) {
    header[p.name] = {{"dtype", std::string(dtype_name(p.dtype))}, {"shape", p.shape}, {"data_offsets", {p.begin, p.end}}};
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  const size_t total = 8 + text.size() + data_bytes_;

  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot create: {}", path, std::strerror(errno));
  if (::ftruncate(fd, off_t(total)) != 0) {
    const int err = errno;
    ::close(fd);
    fail("{}: cannot size to {} bytes: {}", path, total, std::strerror(err));
  }
  void* map = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) fail("{}: cannot map for writing: {}", path, std::strerror(errno));
  auto* out = static_cast<uint8_t*>(map);
  const uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out[i] = uint8_t(len >> (8 * i));
  std::memcpy(out + 8, text.data(), text.size());
  uint8_t* data = out + 8 + text.size();
  for (const auto& p : pending_) p.fill(data + p.begin, p.end - p.begin);
  const bool synced = ::msync(map, total, MS_SYNC) == 0;
  ::munmap(map, total);
  if (!synced) fail("{}: write failed: {}", path, std::strerror(errno));
}

}  // namespace r1
