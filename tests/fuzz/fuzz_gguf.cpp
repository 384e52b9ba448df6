// libFuzzer: a GGUF file end to end -- header parse, translation to the HF view (config + tensor names),
// weight binding, and the tokenizer metadata. The input is written to a file and loaded the way `r1 run
// MODEL.gguf` loads it. It must either load with every tensor inside the file or throw r1::Error.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_tokenizer.h"
#include "model/model.h"

namespace {

struct TempFile {
  std::string path;
  TempFile() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "r1-fuzz-gguf-XXXXXX").string();
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) __builtin_trap();
    ::close(fd);
    path = tmpl;
  }
  ~TempFile() { std::filesystem::remove(path); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static TempFile file;
  std::FILE* f = std::fopen(file.path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);
  try {
    const r1::GgufHeader h = r1::parse_gguf_header(data, size, file.path);
    for (const auto& t : h.tensors) {
      if (h.data_offset + t.offset + t.nbytes > size) __builtin_trap();
    }
    try {
      r1::read_gguf_vocab(h, file.path);
    } catch (const r1::Error&) {
    }
    r1::Model::load(file.path);
  } catch (const r1::Error&) {
  }
  return 0;
}
