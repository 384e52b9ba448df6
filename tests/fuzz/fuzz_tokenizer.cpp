// libFuzzer target: bytes -> (a) the tokenizer.json loader, (b) encode() of a small fixed tokenizer.
// The first input byte picks the mode so one corpus exercises both. Every failure must be an r1::Error
// (a clear message), never a crash, a hang or a sanitizer report; encode() must round-trip its input
// (after UTF-8 repair) and the streaming detokenizer must agree with decode().
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/error.h"
#include "../tokenizer/small_tokenizer.h"  // the fixed small tokenizer of the unit tests
#include "tokenizer/stream.h"
#include "tokenizer/tokenizer.h"
#include "core/utf8.h"

namespace {

const r1::tok::Tokenizer& small() {
  static const r1::tok::Tokenizer t = r1::tok::Tokenizer::from_json(
      r1::tok::testing::small_tokenizer_json().dump(), r1::tok::testing::small_tokenizer_config(), "small");
  return t;
}

void fuzz_loader(std::string_view data) {
  // Split the input into tokenizer.json and tokenizer_config.json at the first NUL byte.
  const size_t nul = data.find('\0');
  const std::string_view tj = data.substr(0, nul);
  const std::string_view cfg = nul == std::string_view::npos ? std::string_view() : data.substr(nul + 1);
  try {
    const r1::tok::Tokenizer t = r1::tok::Tokenizer::from_json(tj, cfg, "fuzz");
    const auto ids = t.encode("Hello world 123 <think>你好</think>", true);
    (void)t.decode(ids, false);
  } catch (const r1::Error&) {
    // Expected for malformed input.
  }
}

void fuzz_encode(std::string_view text) {
  const r1::tok::Tokenizer& t = small();
  const auto ids = t.encode(text, false);
  const std::string back = t.decode(ids, false);
  // No normalizer, so the text comes back as it went in, except around <L>/<R> (lstrip/rstrip eat spaces).
  const bool strips = text.find("<L>") != std::string_view::npos || text.find("<R>") != std::string_view::npos;
  if (!strips && back != r1::utf8_lossy(text)) std::abort();
  r1::tok::StreamDecoder stream(t, true);
  std::string streamed;
  for (int32_t id : ids) streamed += stream.push(id);
  streamed += stream.finish();
  if (streamed != t.decode(ids, true)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    fuzz_loader(rest);
  } else {
    fuzz_encode(rest);
  }
  return 0;
}
