// libFuzzer: bytes -> nlohmann::json::parse -> r1::parse_model_config. Invalid JSON is skipped; a JSON
// value must either parse into a config or throw r1::Error, nothing else.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return -1;  // not JSON: do not add to the corpus
  }
  try {
    const r1::ModelConfig c = r1::parse_model_config(j, "fuzz/config.json");
    // Invariants the rest of the engine relies on.
    if (c.hidden_size < 1 || c.num_heads < 1 || c.vocab_size < 1 || c.num_layers < 1) __builtin_trap();
    if (!c.is_mla && (c.num_kv_heads < 1 || c.num_heads % c.num_kv_heads != 0 || c.head_dim % 2 != 0)) __builtin_trap();
    if (c.n_routed_experts > 0 && (c.num_experts_per_tok < 1 || c.num_experts_per_tok > c.n_routed_experts)) __builtin_trap();
    if (c.fp8 && (c.fp8_block_rows < 1 || c.fp8_block_cols < 1)) __builtin_trap();
  } catch (const r1::Error&) {
  }
  return 0;
}
