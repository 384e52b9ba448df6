// The per-sequence attention state: for every layer and position, what later tokens attend to.
//   MLA (DeepSeek): the normed latent c_kv [d_c] and the roped shared key k_R [d_h^R] -- 576 floats per
//                   token and layer for V2/V3, shared by all heads (the point of MLA).
//   GQA:            k and v per KV head [2 * n_kv * head_dim].
// Rows are fixed-size, so the server's paged cache can hand out blocks of rows later.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace r1 {

class KvCache {
 public:
  KvCache(const ModelConfig& cfg, int64_t capacity)
      : capacity_(capacity), row_(cfg.kv_elements_per_token_layer()), layers_(cfg.num_layers),
        data_(size_t(capacity * row_ * layers_)) {}

  int64_t capacity() const { return capacity_; }
  int64_t row_size() const { return row_; }
  size_t bytes() const { return data_.size() * sizeof(float); }
  // Number of positions filled so far; the next token goes to position length().
  int64_t length() const { return length_; }
  void set_length(int64_t n) { length_ = n; }

  float* row(int64_t layer, int64_t pos) { return data_.data() + (layer * capacity_ + pos) * row_; }
  const float* row(int64_t layer, int64_t pos) const { return data_.data() + (layer * capacity_ + pos) * row_; }

 private:
  int64_t capacity_, row_, layers_;
  int64_t length_ = 0;
  std::vector<float> data_;
};

}  // namespace r1
