// The per-sequence attention state: for every layer and position, what later tokens attend to.
//   MLA (DeepSeek): the normed latent c_kv [d_c] and the roped shared key k_R [d_h^R] -- 576 values per
//                   token and layer for V2/V3, shared by all heads (the point of MLA).
//   GQA:            k and v per KV head [2 * n_kv * head_dim].
//
// Rows are stored as F32 or BF16 (KvType). BF16 halves the cache -- R1's 61 layers hold 70 KB per token
// instead of 140 KB, 9 GB instead of 18 at 128k tokens -- and halves the bytes a long-context decode
// step reads; the attention kernels then take BF16 queries too and multiply pairs of BF16 values
// (dot4.h), which AVX512-BF16 does in one instruction.
//
// A row is cut into segments, the pieces attention reads apart: MLA's row is one segment; GQA's are
// each KV head's key, then each KV head's value (head_dim values each).
//
// The cache is paged: positions are grouped in blocks of kBlockTokens, and a block holds those
// positions' rows for every layer, each segment's positions together ([layers][segments][kBlockTokens]
// [segment]): a KV head's keys for 16 positions are one contiguous run (4 KB in BF16 for head_dim 128)
// rather than 16 pieces a row apart, which the hardware prefetchers follow. A sequence's cache is a
// table of block pointers. A standalone cache (CLI, benchmarks) owns its blocks; the server's caches borrow blocks
// from one shared KvBlockPool, so memory follows the tokens actually held, and identical prompt
// prefixes can share blocks (runtime/kv_blocks.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/zeroed_buffer.h"
#include "model/config.h"

namespace r1 {

constexpr int64_t kKvBlockShift = 4;
constexpr int64_t kKvBlockTokens = int64_t(1) << kKvBlockShift;  // positions per block

enum class KvType : uint8_t { F32, BF16 };

inline size_t kv_type_size(KvType t) { return t == KvType::F32 ? sizeof(float) : sizeof(uint16_t); }
inline std::string_view kv_type_name(KvType t) { return t == KvType::F32 ? "f32" : "bf16"; }
inline std::optional<KvType> parse_kv_type(std::string_view s) {
  if (s == "f32") return KvType::F32;
  if (s == "bf16") return KvType::BF16;
  return std::nullopt;
}

// Bytes in one block: every layer's rows for kKvBlockTokens positions.
inline int64_t kv_block_bytes(const ModelConfig& cfg, KvType type) {
  return cfg.num_layers * kKvBlockTokens * cfg.kv_elements_per_token_layer() * int64_t(kv_type_size(type));
}

class KvCache {
 public:
  // A cache that owns room for `capacity` positions.
  KvCache(const ModelConfig& cfg, int64_t capacity, KvType type = KvType::F32) : KvCache(cfg, capacity, type, nullptr) {
    const int64_t blocks = block_count(), block_bytes = kv_block_bytes(cfg, type);
    own_ = ZeroedBuffer(size_t(blocks * block_bytes));
    for (int64_t b = 0; b < blocks; ++b) blocks_[size_t(b)] = own_.data() + b * block_bytes;
  }
  // A paged cache with no blocks yet: attach_block() gives it room, block by block.
  static KvCache paged(const ModelConfig& cfg, int64_t capacity, KvType type = KvType::F32) {
    return KvCache(cfg, capacity, type, nullptr);
  }
  // Moving keeps the block pointers valid (the buffer moves with it); copying would alias.
  KvCache(KvCache&&) = default;
  KvCache& operator=(KvCache&&) = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  KvType type() const { return type_; }
  int64_t capacity() const { return capacity_; }
  int64_t row_size() const { return row_; }  // values per row
  int64_t segment_size() const { return segment_; }
  size_t bytes() const { return own_.size(); }
  // Number of positions filled so far; the next token goes to position length().
  int64_t length() const { return length_; }
  void set_length(int64_t n) { length_ = n; }

  int64_t block_count() const { return (capacity_ + kKvBlockTokens - 1) / kKvBlockTokens; }
  // Paged caches: block i holds positions [i * kKvBlockTokens, (i + 1) * kKvBlockTokens).
  void attach_block(int64_t i, std::byte* block) { blocks_[size_t(i)] = block; }
  std::byte* block(int64_t i) const { return blocks_[size_t(i)]; }

  // A segment of a row as stored (MLA: the whole row); T must be the cache's type (float for F32,
  // uint16_t bits for BF16).
  template <class T>
  const T* row(int64_t layer, int64_t pos, int64_t segment = 0) const {
    return reinterpret_cast<const T*>(segment_bytes(layer, pos, segment));
  }
  // Stores values [offset, offset + n) of a row, converted to the cache's type.
  void store(int64_t layer, int64_t pos, int64_t offset, const float* values, int64_t n) {
    for (int64_t i = 0; i < n;) {
      const int64_t segment = (offset + i) / segment_, at = (offset + i) % segment_;
      const int64_t count = std::min(n - i, segment_ - at);
      std::byte* dst = segment_bytes(layer, pos, segment);
      if (type_ == KvType::F32) {
        std::copy(values + i, values + i + count, reinterpret_cast<float*>(dst) + at);
      } else {
        uint16_t* d = reinterpret_cast<uint16_t*>(dst) + at;
        for (int64_t k = 0; k < count; ++k) d[k] = f32_to_bf16(values[i + k]);
      }
      i += count;
    }
  }
  // Value i of a row as a float (tests, debugging).
  float value(int64_t layer, int64_t pos, int64_t i) const {
    const int64_t segment = i / segment_, at = i % segment_;
    return type_ == KvType::F32 ? row<float>(layer, pos, segment)[at] : bf16_to_f32(row<uint16_t>(layer, pos, segment)[at]);
  }

 private:
  KvCache(const ModelConfig& cfg, int64_t capacity, KvType type, std::nullptr_t)
      : type_(type), capacity_(capacity), row_(cfg.kv_elements_per_token_layer()),
        segments_(cfg.is_mla ? 1 : std::max<int64_t>(1, 2 * cfg.num_kv_heads)), segment_(row_ / segments_), blocks_(size_t(block_count())) {}

  std::byte* segment_bytes(int64_t layer, int64_t pos, int64_t segment) const {
    const int64_t index = (((layer * segments_ + segment) << kKvBlockShift) + (pos & (kKvBlockTokens - 1)));
    return blocks_[size_t(pos >> kKvBlockShift)] + index * segment_ * int64_t(kv_type_size(type_));
  }

  KvType type_;
  int64_t capacity_, row_, segments_, segment_;
  int64_t length_ = 0;
  std::vector<std::byte*> blocks_;  // one per kKvBlockTokens positions
  ZeroedBuffer own_;                // standalone caches: the blocks' memory
};

}  // namespace r1
