// libFuzzer: bytes -> r1::jinja::Template (parse) -> render with a fixed chat context. Any input must
// either render or throw r1::Error: no crash, no hang (the renderer's step, depth and output limits are
// lowered here so that runaway inputs stop quickly).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "chat/jinja.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const r1::jinja::Value context = r1::jinja::from_json(nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in 東京?"},
      {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "id": "c1",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"東京\"}"}}]},
      {"role": "tool", "content": "21 C"},
      {"role": "assistant", "content": "<think>\nok\n</think>\n\nIt is 21 °C.", "reasoning_content": "ok"}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "thinking": true
  })"));
  r1::jinja::Limits limits;
  limits.max_output_bytes = 1 << 20;
  limits.max_call_depth = 32;
  limits.max_steps = 200000;
  try {
    const r1::jinja::Template t(std::string_view(reinterpret_cast<const char*>(data), size));
    (void)t.render(context, limits);
  } catch (const r1::Error&) {
  }
  return 0;
}
