// One vector per token and attention head, in whatever layout the producer wrote: token-major
// ([T][heads][width], as projections write them) or head-major ([heads][T][width], where each head's
// T vectors are the contiguous rows of one matrix product).
#pragma once

#include <cstdint>

namespace r1 {

template <class Float>
struct HeadVectors {
  Float* data;
  int64_t token_stride, head_stride;  // elements between consecutive tokens / heads

  Float* at(int64_t t, int64_t h) const { return data + t * token_stride + h * head_stride; }
  // The vectors of tokens [t0, ...).
  HeadVectors from(int64_t t0) const { return {at(t0, 0), token_stride, head_stride}; }
  operator HeadVectors<const Float>() const { return {data, token_stride, head_stride}; }
};

}  // namespace r1
