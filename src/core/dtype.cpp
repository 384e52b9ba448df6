#include "core/dtype.h"

#include <array>
#include <cmath>
#include <vector>

namespace r1 {

namespace {

struct TypeInfo {
  DType type;
  std::string_view name;  // safetensors / GGML spelling
  int64_t block_elems, block_bytes;
  int ggml_id;  // -1: no GGUF equivalent
};

// One row per type: element or block size and GGML's id (ggml.h, `enum ggml_type`).
constexpr TypeInfo kTypes[] = {
    {DType::F32, "F32", 1, 4, 0},         {DType::F16, "F16", 1, 2, 1},
    {DType::BF16, "BF16", 1, 2, 30},      {DType::F8_E4M3, "F8_E4M3", 1, 1, -1},
    {DType::I32, "I32", 1, 4, 26},        {DType::I64, "I64", 1, 8, 27},
    {DType::Q4_0, "Q4_0", 32, 18, 2},     {DType::Q4_1, "Q4_1", 32, 20, 3},
    {DType::Q5_0, "Q5_0", 32, 22, 6},     {DType::Q5_1, "Q5_1", 32, 24, 7},
    {DType::Q8_0, "Q8_0", 32, 34, 8},     {DType::Q2_K, "Q2_K", 256, 84, 10},
    {DType::Q3_K, "Q3_K", 256, 110, 11},  {DType::Q4_K, "Q4_K", 256, 144, 12},
    {DType::Q5_K, "Q5_K", 256, 176, 13},  {DType::Q6_K, "Q6_K", 256, 210, 14},
    {DType::Q8_K, "Q8_K", 256, 292, 15},  {DType::IQ4_NL, "IQ4_NL", 32, 18, 20},
    {DType::IQ4_XS, "IQ4_XS", 256, 136, 23},
    {DType::IQ2_XXS, "IQ2_XXS", 256, 66, 16}, {DType::IQ2_XS, "IQ2_XS", 256, 74, 17},
    {DType::IQ2_S, "IQ2_S", 256, 82, 22},     {DType::IQ3_XXS, "IQ3_XXS", 256, 98, 18},
    {DType::IQ3_S, "IQ3_S", 256, 110, 21},    {DType::IQ1_S, "IQ1_S", 256, 50, 19},
    {DType::IQ1_M, "IQ1_M", 256, 56, 29},
};

const TypeInfo& info(DType t) {
  for (const auto& i : kTypes) {
    if (i.type == t) return i;
  }
  return kTypes[0];  // unreachable: every enumerator has a row
}

}  // namespace

size_t dtype_size(DType t) {
  const TypeInfo& i = info(t);
  return i.block_elems == 1 ? size_t(i.block_bytes) : 0;
}
int64_t dtype_block_elems(DType t) { return info(t).block_elems; }
int64_t dtype_block_bytes(DType t) { return info(t).block_bytes; }
bool dtype_is_block(DType t) { return info(t).block_elems > 1; }
std::string_view dtype_name(DType t) { return info(t).name; }

std::optional<DType> dtype_from_name(std::string_view n) {
  for (const auto& i : kTypes) {
    if (i.name == n && i.block_elems == 1) return i.type;  // safetensors names only plain types
  }
  return std::nullopt;
}

std::optional<DType> dtype_from_ggml(uint32_t id) {
  for (const auto& i : kTypes) {
    if (i.ggml_id >= 0 && uint32_t(i.ggml_id) == id && i.type != DType::Q8_K) return i.type;
  }
  return std::nullopt;
}

uint32_t dtype_to_ggml(DType t) { return uint32_t(info(t).ggml_id); }

std::string_view ggml_type_name(uint32_t id) {
  static constexpr std::string_view kNames[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",  "Q4_2", "Q4_3",   "Q5_0",   "Q5_1", "Q8_0",  "Q8_1",
      "Q2_K",    "Q3_K",   "Q4_K",    "Q5_K",  "Q6_K", "Q8_K",   "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
      "IQ4_NL",  "IQ3_S",  "IQ2_S",   "IQ4_XS", "I8",  "I16",    "I32",    "I64",  "F64",   "IQ1_M",
      "BF16",    "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8",
      "IQ4_NL_8_8", "MXFP4"};
  return id < std::size(kNames) ? kNames[id] : std::string_view("unknown");
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  float mag;
  if (exp == 0) {
    mag = std::ldexp(float(mant), -24);  // zero and subnormals
  } else if (exp == 31) {
    mag = mant ? NAN : INFINITY;
  } else {
    mag = std::ldexp(float(mant | 0x400), int(exp) - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &mag, 4);
  bits |= sign;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000);
  const float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7e00;
  if (a >= 65520.0f) return sign | 0x7c00;  // rounds to infinity
  if (a < std::ldexp(1.0f, -14)) {          // subnormal range: units of 2^-24, round to nearest even
    const float q = std::nearbyint(a * std::ldexp(1.0f, 24));
    return sign | uint16_t(q);
  }
  int e;
  const float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  // 11 significant bits: mantissa integer in [1024, 2048)
  float q = std::nearbyint(m * 2048.0f);
  if (q == 2048.0f) {
    q = 1024.0f;
    e += 1;
  }
  const int biased = e - 1 + 15;
  if (biased >= 31) return sign | 0x7c00;
  return sign | uint16_t(biased << 10) | (uint16_t(q) & 0x3ff);
}

float fp8_e4m3_to_f32(uint8_t v) {
  const bool neg = v & 0x80;
  const int exp = (v >> 3) & 0xf;
  const int mant = v & 0x7;
  if (exp == 0xf && mant == 0x7) return NAN;
  float mag = exp == 0 ? std::ldexp(float(mant), -9) : std::ldexp(float(8 + mant), exp - 10);
  return neg ? -mag : mag;
}

uint8_t f32_to_fp8_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  if (a < std::ldexp(1.0f, -6)) {  // subnormals: units of 2^-9 (q == 8 is the smallest normal, code 8)
    return sign | uint8_t(std::nearbyint(a * 512.0f));
  }
  int e;
  std::frexp(a, &e);  // a in [2^(e-1), 2^e)
  e -= 1;
  float q = std::nearbyint(std::ldexp(a, 3 - e));  // 4 significant bits: q in [8, 16]
  if (q == 16.0f) {
    q = 8.0f;
    e += 1;
  }
  if (e + 7 > 15 || (e + 7 == 15 && q > 14.0f)) return sign | 0x7e;
  return sign | uint8_t(((e + 7) << 3) | (int(q) - 8));
}

const float* fp8_e4m3_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = fp8_e4m3_to_f32(uint8_t(i));
    return t;
  }();
  return table.data();
}

const float* f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (int i = 0; i < 65536; ++i) t[i] = f16_to_f32(uint16_t(i));
    return t;
  }();
  return table.data();
}

}  // namespace r1
