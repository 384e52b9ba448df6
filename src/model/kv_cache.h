// The per-sequence attention state: for every layer and position, what later tokens attend to.
//   MLA (DeepSeek): the normed latent c_kv [d_c] and the roped shared key k_R [d_h^R] -- 576 floats per
//                   token and layer for V2/V3, shared by all heads (the point of MLA).
//   GQA:            k and v per KV head [2 * n_kv * head_dim].
//
// The cache is paged: positions are grouped in blocks of kBlockTokens, and a block holds those
// positions' rows for every layer ([layers][kBlockTokens][row]). A sequence's cache is a table of block
// pointers. A standalone cache (CLI, benchmarks) owns its blocks; the server's caches borrow blocks
// from one shared KvBlockPool, so memory follows the tokens actually held, and identical prompt
// prefixes can share blocks (runtime/kv_blocks.h).
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace r1 {

constexpr int64_t kKvBlockShift = 4;
constexpr int64_t kKvBlockTokens = int64_t(1) << kKvBlockShift;  // positions per block

// Floats in one block: every layer's rows for kKvBlockTokens positions.
inline int64_t kv_block_floats(const ModelConfig& cfg) {
  return cfg.num_layers * kKvBlockTokens * cfg.kv_elements_per_token_layer();
}

class KvCache {
 public:
  // A cache that owns room for `capacity` positions.
  KvCache(const ModelConfig& cfg, int64_t capacity) : KvCache(cfg, capacity, nullptr) {
    const int64_t blocks = block_count();
    own_.resize(size_t(blocks * kv_block_floats(cfg)));
    for (int64_t b = 0; b < blocks; ++b) blocks_[size_t(b)] = own_.data() + b * kv_block_floats(cfg);
  }
  // A paged cache with no blocks yet: attach_block() gives it room, block by block.
  static KvCache paged(const ModelConfig& cfg, int64_t capacity) { return KvCache(cfg, capacity, nullptr); }
  // Moving keeps the block pointers valid (a vector's buffer moves with it); copying would alias.
  KvCache(KvCache&&) = default;
  KvCache& operator=(KvCache&&) = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int64_t capacity() const { return capacity_; }
  int64_t row_size() const { return row_; }
  size_t bytes() const { return own_.size() * sizeof(float); }
  // Number of positions filled so far; the next token goes to position length().
  int64_t length() const { return length_; }
  void set_length(int64_t n) { length_ = n; }

  int64_t block_count() const { return (capacity_ + kKvBlockTokens - 1) / kKvBlockTokens; }
  // Paged caches: block i holds positions [i * kKvBlockTokens, (i + 1) * kKvBlockTokens).
  void attach_block(int64_t i, float* block) { blocks_[size_t(i)] = block; }
  float* block(int64_t i) const { return blocks_[size_t(i)]; }

  float* row(int64_t layer, int64_t pos) {
    return blocks_[size_t(pos >> kKvBlockShift)] + ((layer << kKvBlockShift) + (pos & (kKvBlockTokens - 1))) * row_;
  }
  const float* row(int64_t layer, int64_t pos) const {
    return blocks_[size_t(pos >> kKvBlockShift)] + ((layer << kKvBlockShift) + (pos & (kKvBlockTokens - 1))) * row_;
  }

 private:
  KvCache(const ModelConfig& cfg, int64_t capacity, std::nullptr_t)
      : capacity_(capacity), row_(cfg.kv_elements_per_token_layer()), blocks_(size_t(block_count())) {}

  int64_t capacity_, row_;
  int64_t length_ = 0;
  std::vector<float*> blocks_;  // one per kKvBlockTokens positions
  std::vector<float> own_;      // standalone caches: the blocks' memory
};

}  // namespace r1
