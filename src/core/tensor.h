// A typed, shaped view of bytes that live elsewhere (usually a memory-mapped model file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace r1 {

struct TensorView {
  std::string name;            // name in the file, e.g. "model.layers.0.self_attn.q_a_proj.weight"
  std::string file;            // file it came from, for error messages
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // PyTorch order: shape[0] is the outermost (rows of a Linear weight)
  const uint8_t* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// "[576, 2048]"
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace r1
