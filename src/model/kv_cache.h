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
// Q8 (MLA only) halves it again: each row's latent part and rope part as int8 with one scale each
// (x ≈ scale · q, scale = max|x| / 127), so that the score and value passes -- compute-bound at long
// context -- run as int8 dot products (kernels/cpu/latent_q8.h): 36 KB per token for R1. Its block
// layout per layer: the 16 positions' values by columns, in groups of four dimensions ([group][16][4]
// bytes: latent groups, then rope groups, each part zero-padded to whole groups), then the 16 latent
// scales and the 16 rope scales (float).
//
// A row is cut into segments, the pieces attention reads apart: MLA's row is one segment; GQA's are
// each KV head's key, then each KV head's value (head_dim values each).
//
// The cache is paged: positions are grouped in blocks of kBlockTokens, and a block holds those
// positions' rows for every layer, each segment's positions together ([layers][segments][16 positions'
// values]): a KV head's keys for 16 positions are one contiguous run (4 KB in BF16 for head_dim 128)
// rather than 16 pieces a row apart, which the hardware prefetchers follow. Within that run GQA's keys
// are stored by columns -- value d of the 16 positions together (F32: [d][16]; BF16: pairs of
// dimensions, [d/2][16][2]) -- so that one vector of a block's keys meets a broadcast query value and
// the 16 scores come out in one vector (block_scores.h), where rows would need each dot product summed
// across its lanes. Everything else (MLA's latent rows, GQA's values) is stored by rows ([16][segment]).
// A sequence's cache is a table of block pointers. A standalone cache (CLI, benchmarks) owns its blocks; the server's caches borrow blocks
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
#include "kernels/cpu/latent_q8.h"
#include "model/config.h"

namespace r1 {

constexpr int64_t kKvBlockShift = 4;
constexpr int64_t kKvBlockTokens = int64_t(1) << kKvBlockShift;  // positions per block

enum class KvType : uint8_t { F32, BF16, Q8 };

// Bytes of one stored value (Q8: its int8; the scales come on top, kv_layer_block_bytes).
inline size_t kv_type_size(KvType t) { return t == KvType::F32 ? sizeof(float) : t == KvType::BF16 ? sizeof(uint16_t) : 1; }
inline std::string_view kv_type_name(KvType t) { return t == KvType::F32 ? "f32" : t == KvType::BF16 ? "bf16" : "q8"; }
inline std::optional<KvType> parse_kv_type(std::string_view s) {
  if (s == "f32") return KvType::F32;
  if (s == "bf16") return KvType::BF16;
  if (s == "q8") return KvType::Q8;
  return std::nullopt;
}

// Bytes of one layer's rows for kKvBlockTokens positions. Q8 is for MLA caches only (fails otherwise).
int64_t kv_layer_block_bytes(const ModelConfig& cfg, KvType type);
// Bytes in one block: every layer's rows for kKvBlockTokens positions.
inline int64_t kv_block_bytes(const ModelConfig& cfg, KvType type) { return cfg.num_layers * kv_layer_block_bytes(cfg, type); }

static_assert(kQ8BlockRows == kKvBlockTokens, "a Q8 kernel block is a cache block");

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
  int64_t layer_block_bytes() const { return layer_bytes_; }  // one layer's rows in a block
  size_t bytes() const { return own_.size(); }
  // Number of positions filled so far; the next token goes to position length().
  int64_t length() const { return length_; }
  void set_length(int64_t n) { length_ = n; }

  int64_t block_count() const { return (capacity_ + kKvBlockTokens - 1) / kKvBlockTokens; }
  // Paged caches: block i holds positions [i * kKvBlockTokens, (i + 1) * kKvBlockTokens).
  void attach_block(int64_t i, std::byte* block) { blocks_[size_t(i)] = block; }
  std::byte* block(int64_t i) const { return blocks_[size_t(i)]; }

  // A row segment of a position as stored (MLA: the whole row; GQA: a KV head's value); T must be the
  // cache's type (float for F32, uint16_t bits for BF16).
  template <class T>
  const T* row(int64_t layer, int64_t pos, int64_t segment = 0) const {
    return reinterpret_cast<const T*>(segment_block(layer, pos >> kKvBlockShift, segment)) +
           (pos & (kKvBlockTokens - 1)) * segment_;
  }
  // A segment's 16 positions of block b as stored (column segments: GQA's keys).
  template <class T>
  const T* block_segment(int64_t layer, int64_t b, int64_t segment) const {
    return reinterpret_cast<const T*>(segment_block(layer, b, segment));
  }
  // Block b of `layer` in a Q8 cache.
  LatentBlockQ8 latent_q8_block(int64_t layer, int64_t b) const {
    const std::byte* base = blocks_[size_t(b)] + layer * layer_bytes_;
    const auto* scales = reinterpret_cast<const float*>(base + (q8_latent_groups_ + q8_rope_groups_) * 4 * kKvBlockTokens);
    return {reinterpret_cast<const int8_t*>(base), scales, scales + kKvBlockTokens};
  }
  // Stores values [offset, offset + n) of a row, converted to the cache's type. A Q8 cache stores whole
  // parts of an MLA row (the latent part, the rope part, or both), each quantized with its own scale.
  void store(int64_t layer, int64_t pos, int64_t offset, const float* values, int64_t n) {
    if (type_ == KvType::Q8) {
      store_q8(layer, pos, offset, values, n);
      return;
    }
    for (int64_t i = offset; i < offset + n; ++i) {
      const size_t at = size_t(element(layer, pos, i));
      if (type_ == KvType::F32) reinterpret_cast<float*>(blocks_[size_t(pos >> kKvBlockShift)])[at] = values[i - offset];
      else reinterpret_cast<uint16_t*>(blocks_[size_t(pos >> kKvBlockShift)])[at] = f32_to_bf16(values[i - offset]);
    }
  }
  // Value i of a row as a float, as the attention reads it (tests, debugging).
  float value(int64_t layer, int64_t pos, int64_t i) const {
    if (type_ == KvType::Q8) return value_q8(layer, pos, i);
    const size_t at = size_t(element(layer, pos, i));
    const std::byte* b = blocks_[size_t(pos >> kKvBlockShift)];
    return type_ == KvType::F32 ? reinterpret_cast<const float*>(b)[at] : bf16_to_f32(reinterpret_cast<const uint16_t*>(b)[at]);
  }

  // An MLA row (row_size() values) as floats, as the attention reads it.
  void read_row(int64_t layer, int64_t pos, float* out) const;

 private:
  KvCache(const ModelConfig& cfg, int64_t capacity, KvType type, std::nullptr_t)
      : type_(type), capacity_(capacity), row_(cfg.kv_elements_per_token_layer()),
        segments_(cfg.is_mla ? 1 : std::max<int64_t>(1, 2 * cfg.num_kv_heads)), segment_(row_ / segments_),
        column_segments_(cfg.is_mla ? 0 : segments_ / 2), q8_latent_groups_(q8_groups(cfg.kv_lora_rank)),
        q8_rope_groups_(q8_groups(cfg.qk_rope_head_dim)), latent_dim_(cfg.kv_lora_rank),
        layer_bytes_(kv_layer_block_bytes(cfg, type)), blocks_(size_t(block_count())) {}

  void store_q8(int64_t layer, int64_t pos, int64_t offset, const float* values, int64_t n);
  float value_q8(int64_t layer, int64_t pos, int64_t i) const;

  // Where a segment's 16 positions start in a layer's part of a block, in elements of the cache's type.
  int64_t segment_offset(int64_t segment) const { return (segment << kKvBlockShift) * segment_; }
  std::byte* segment_block(int64_t layer, int64_t b, int64_t segment) const {
    return blocks_[size_t(b)] + layer * layer_bytes_ + segment_offset(segment) * int64_t(kv_type_size(type_));
  }
  // Index of value i of position pos's row in its block, in elements of the cache's type.
  int64_t element(int64_t layer, int64_t pos, int64_t i) const {
    const int64_t segment = i / segment_, d = i % segment_, p = pos & (kKvBlockTokens - 1);
    const int64_t base = layer * layer_bytes_ / int64_t(kv_type_size(type_)) + segment_offset(segment);
    if (segment >= column_segments_) return base + p * segment_ + d;
    return base + (type_ == KvType::F32 ? d * kKvBlockTokens + p : (d >> 1) * 2 * kKvBlockTokens + p * 2 + (d & 1));
  }

  KvType type_;
  int64_t capacity_, row_, segments_, segment_;
  int64_t column_segments_;  // leading segments stored by columns: GQA's keys
  int64_t q8_latent_groups_, q8_rope_groups_, latent_dim_;
  int64_t layer_bytes_;  // one layer's rows in a block
  int64_t length_ = 0;
  std::vector<std::byte*> blocks_;  // one per kKvBlockTokens positions
  ZeroedBuffer own_;                // standalone caches: the blocks' memory
};

}  // namespace r1
