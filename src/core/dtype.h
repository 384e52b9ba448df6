// Element types of weights as they appear in model files, and their conversions to float.
#pragma once

#include <bit>
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
  // GGML block-quantized types (GGUF files): a row is a whole number of blocks, each block holding
  // `dtype_block_elems` values in `dtype_block_bytes` bytes. Layouts: src/kernels/cpu/quants.h.
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_0,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  Q8_K,  // activations only (the int8 side of the K-quant dot products); never in a model file
  IQ4_NL,
  IQ4_XS,
  // The codebook types below 4 bits (Unsloth's "dynamic" R1 quants mix these): decode and int8 dot
  // products only; r1 does not write them.
  IQ2_XXS,
  IQ2_XS,
  IQ2_S,
  IQ3_XXS,
  IQ3_S,
  IQ1_S,
  IQ1_M,
};

// Bytes per element of a plain (non-block) type; 0 for block types -- use dtype_row_bytes.
size_t dtype_size(DType t);
// Values per block (1 for plain types) and bytes per block.
int64_t dtype_block_elems(DType t);
int64_t dtype_block_bytes(DType t);
bool dtype_is_block(DType t);
// Bytes of `n` consecutive values; `n` must be a multiple of dtype_block_elems (callers check).
inline size_t dtype_row_bytes(DType t, int64_t n) {
  return size_t(n / dtype_block_elems(t)) * size_t(dtype_block_bytes(t));
}
// The safetensors spelling: "F32", "BF16", "F8_E4M3", ...
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);

// GGML's numbering of tensor types in GGUF files (ggml_type). Types r1 does not read map to nullopt.
std::optional<DType> dtype_from_ggml(uint32_t ggml_type);
uint32_t dtype_to_ggml(DType t);
// GGML's name for a ggml_type id, also for ids r1 cannot read ("IQ2_XXS", ...), for error messages.
std::string_view ggml_type_name(uint32_t ggml_type);

inline float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

// Round to nearest even, as PyTorch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits = std::bit_cast<uint32_t>(f);
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
