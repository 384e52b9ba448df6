// Element types of weights as they appear in model files, and their conversions to float.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace r1 {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  F8_E4M3,  // DeepSeek's official FP8 checkpoints: e4m3fn, paired with 128x128 block scales
  I32,      // not used for weights; accepted so that files carrying such tensors still parse
  I64,
};

// Bytes per element.
size_t dtype_size(DType t);
// The safetensors spelling: "F32", "BF16", "F8_E4M3", ...
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, as PyTorch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities; 0x7f/0xff are NaN; max 448.
float fp8_e4m3_to_f32(uint8_t v);
// Round to nearest even, saturating at +-448 (as torch's float8_e4m3fn cast of finite values does).
uint8_t f32_to_fp8_e4m3(float f);

// Lookup tables used by the kernels: 256 entries for FP8, 65536 for F16.
const float* fp8_e4m3_table();
const float* f16_table();

}  // namespace r1
