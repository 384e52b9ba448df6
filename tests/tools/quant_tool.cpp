// Quantizes rows of float32 values with r1's quantizer and writes both the blocks and r1's decoding of
// them, for tests/reference/ggml_quants_ref.py to check against its own decoder; or, with --decode, only
// decodes given blocks (the types r1 reads but does not write).
//
//   r1_quant_tool TYPE N IN.f32 OUT.blocks OUT.f32
//   r1_quant_tool --decode TYPE N IN.blocks OUT.f32
//
// IN holds whole rows of N little-endian float32 values; TYPE is a GGML type name (Q4_K, IQ4_XS, ...).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "kernels/cpu/quants.h"

namespace {

std::vector<char> read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool write_file(const char* path, const void* data, size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), std::streamsize(bytes));
  return bool(out);
}

std::optional<r1::DType> type_named(const std::string& name) {
  if (name == "Q8_K") return r1::DType::Q8_K;  // not a weight type, so dtype_from_ggml leaves it out
  for (uint32_t id = 0; id < 64; ++id) {
    if (r1::ggml_type_name(id) == name) return r1::dtype_from_ggml(id);
  }
  return std::nullopt;
}

// TYPE and N from the command line: a block type and a row length of whole blocks, or nullopt (said).
std::optional<r1::DType> block_type(const char* name, const char* length, long& n) {
  const auto type = type_named(name);
  n = std::atol(length);
  if (!type || !r1::dtype_is_block(*type) || n <= 0 || n % r1::dtype_block_elems(*type) != 0) {
    std::fprintf(stderr, "bad type or row length: %s %s\n", name, length);
    return std::nullopt;
  }
  return type;
}

// --decode TYPE N IN.blocks OUT.f32
int decode_only(char** argv) {
  long n = 0;
  const auto type = block_type(argv[2], argv[3], n);
  if (!type) return 2;
  const std::vector<char> raw = read_file(argv[4]);
  const size_t row_bytes = r1::dtype_row_bytes(*type, n);
  const size_t rows = raw.size() / row_bytes;
  if (rows == 0 || raw.size() != rows * row_bytes) {
    std::fprintf(stderr, "%s: not a whole number of rows of %ld values of %s\n", argv[4], n, argv[2]);
    return 2;
  }
  std::vector<float> y(rows * size_t(n));
  for (size_t r = 0; r < rows; ++r) r1::dequantize_row(*type, raw.data() + r * row_bytes, y.data() + r * size_t(n), n);
  if (!write_file(argv[5], y.data(), y.size() * 4)) {
    std::fprintf(stderr, "cannot write %s\n", argv[5]);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "--decode") return decode_only(argv);
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s TYPE N IN.f32 OUT.blocks OUT.f32 | --decode TYPE N IN.blocks OUT.f32\n", argv[0]);
    return 2;
  }
  long n = 0;
  const auto type = block_type(argv[1], argv[2], n);
  if (!type) return 2;
  const std::vector<char> raw = read_file(argv[3]);
  const size_t rows = raw.size() / (size_t(n) * 4);
  if (rows == 0 || raw.size() != rows * size_t(n) * 4) {
    std::fprintf(stderr, "%s: not a whole number of rows of %ld float32\n", argv[3], n);
    return 2;
  }
  const size_t row_bytes = r1::dtype_row_bytes(*type, n);
  std::vector<float> x(rows * size_t(n)), y(rows * size_t(n));
  std::memcpy(x.data(), raw.data(), raw.size());
  std::vector<uint8_t> blocks(rows * row_bytes);
  for (size_t r = 0; r < rows; ++r) {
    r1::quantize_row(*type, x.data() + r * size_t(n), blocks.data() + r * row_bytes, n);
    r1::dequantize_row(*type, blocks.data() + r * row_bytes, y.data() + r * size_t(n), n);
  }
  if (!write_file(argv[4], blocks.data(), blocks.size()) || !write_file(argv[5], y.data(), y.size() * 4)) {
    std::fprintf(stderr, "cannot write the output files\n");
    return 1;
  }
  return 0;
}
