// The server's KV memory: one pool of fixed-size cache blocks (model/kv_cache.h) shared by every
// running sequence, handed out as sequences grow and returned when they end, plus a prefix cache.
//
// Prefix cache: a full block's rows depend only on the tokens up to its end, so a block is named by a
// hash chained over the tokens of every block before it and its own. When a sequence has computed a
// full block it is published under that name; a new prompt that starts with the same tokens (a chat
// history re-sent with one more turn, a shared system prompt) attaches the published blocks instead of
// recomputing them. Published blocks nobody uses stay cached and are evicted least recently used
// first when the pool runs dry. Rows do not depend on how tokens were batched (model/forward.h), so a
// reused block holds exactly the values the sequence would have computed itself.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "model/config.h"
#include "core/zeroed_buffer.h"
#include "model/kv_cache.h"

namespace r1 {

class KvBlockManager {
 public:
  KvBlockManager(const ModelConfig& cfg, int64_t blocks, KvType type = KvType::F32);

  int64_t total_blocks() const { return int64_t(meta_.size()); }
  // Blocks held by at least one sequence.
  int64_t used_blocks() const { return used_; }
  // Blocks that hold a published prefix nobody uses right now (reusable, evictable).
  int64_t cached_blocks() const { return cached_; }
  // Blocks a new reservation can take (free + evictable cached ones).
  int64_t available_blocks() const { return total_blocks() - used_; }
  size_t bytes() const { return pool_.size(); }

  // A sequence's blocks, in position order (block i holds positions [16 i, 16 i + 16)).
  struct Holding {
    std::vector<int32_t> blocks;
    size_t published = 0;    // leading blocks already published (or attached from the cache)
    uint64_t chain = 0;      // hash chain over the tokens of the published blocks
  };

  // Attaches the longest cached prefix of `prompt` made of full blocks, leaving at least its last token
  // to compute (its logits are needed). Returns the number of positions filled (a multiple of 16).
  int64_t attach_prefix(std::span<const int32_t> prompt, KvCache& cache, Holding& h);
  // Gives the cache blocks for every position below `positions`; false (nothing taken) when the pool
  // cannot supply them.
  bool reserve(KvCache& cache, Holding& h, int64_t positions);
  // Publishes the full blocks among the first `computed` positions of `tokens` (the sequence's tokens
  // so far, whose rows are in the cache) for later prompts to reuse.
  void publish(std::span<const int32_t> tokens, int64_t computed, Holding& h);
  // Returns the sequence's blocks; published ones stay cached.
  void release(Holding& h);

  // Prefix-cache statistics: prompt tokens looked up, and how many of them were found.
  int64_t lookup_tokens() const { return lookup_tokens_; }
  int64_t hit_tokens() const { return hit_tokens_; }

 private:
  static constexpr int32_t kNone = -1;
  struct Meta {
    int32_t refs = 0;
    bool published = false;
    uint64_t key = 0;                      // chained hash, when published
    int32_t lru_prev = kNone, lru_next = kNone;  // the list of cached blocks nobody uses
  };
  static uint64_t chain_hash(uint64_t parent, std::span<const int32_t> tokens);
  int32_t take_block();  // a free block, else the least recently used cached one; kNone if none
  void lru_remove(int32_t b);
  void lru_push_back(int32_t b);
  void acquire(int32_t b);

  int64_t block_bytes_;
  ZeroedBuffer pool_;
  std::vector<Meta> meta_;
  std::vector<int32_t> free_;
  std::unordered_map<uint64_t, int32_t> published_;  // chained hash -> block
  std::vector<std::vector<int32_t>> block_tokens_;  // published block -> its tokens (to rule out hash collisions)
  std::vector<uint64_t> block_parent_;              // published block -> the chain hash before it
  int32_t lru_head_ = kNone, lru_tail_ = kNone;
  int64_t used_ = 0, cached_ = 0;
  int64_t lookup_tokens_ = 0, hit_tokens_ = 0;
};

}  // namespace r1
