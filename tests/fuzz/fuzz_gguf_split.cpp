// libFuzzer: a split GGUF model of two shards, loaded the way `r1 run NAME-00002-of-00002.gguf` loads it.
// Input: a u32 (little-endian) length n, then n bytes of the first shard, then the second shard. The two
// are written as m-00001-of-00002.gguf and m-00002-of-00002.gguf and opened from the second. Loading must
// either succeed with every tensor inside its own file or throw r1::Error.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "formats/gguf_split.h"
#include "model/model.h"

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "r1-fuzz-split-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) __builtin_trap();
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static TempDir dir;
  uint32_t first = 0;
  if (size >= 4) std::memcpy(&first, data, 4);
  const size_t body = size >= 4 ? size - 4 : 0;
  const size_t n1 = std::min<size_t>(first, body);
  const std::string prefix = dir.path + "/m";
  const std::string one = r1::gguf_shard_path(prefix, 0, 2), two = r1::gguf_shard_path(prefix, 1, 2);
  write_file(one, data + (size >= 4 ? 4 : 0), n1);
  write_file(two, data + (size >= 4 ? 4 : 0) + n1, body - n1);
  try {
    const r1::GgufFiles files = r1::open_gguf_files(two);
    for (const auto& t : files.header.tensors) {
      if (t.file >= files.files.size()) __builtin_trap();
      const auto& f = *files.files[t.file];
      if (files.data(t) + t.nbytes > f.data() + f.size()) __builtin_trap();
    }
    r1::Model::load(two);
  } catch (const r1::Error&) {
  }
  return 0;
}
