// libFuzzer: r1::parse_safetensors_header on arbitrary bytes. It must only ever throw r1::Error.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const r1::SafetensorsHeader h = r1::parse_safetensors_header(data, size, "fuzz.safetensors");
    // What the parser promises: every tensor's bytes lie inside the input, in order, without overlap.
    uint64_t last_end = 0;
    for (const auto& e : h.tensors) {
      if (e.begin > e.end || h.data_offset + e.end > size) __builtin_trap();
      if (e.end > e.begin) {
        if (e.begin < last_end) __builtin_trap();
        last_end = e.end;
      }
    }
  } catch (const r1::Error&) {
  }
  return 0;
}
