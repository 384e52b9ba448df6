#include "runtime/kv_blocks.h"

#include <algorithm>

#include "core/error.h"

namespace r1 {

KvBlockManager::KvBlockManager(const ModelConfig& cfg, int64_t blocks, KvType type)
    : block_bytes_(kv_block_bytes(cfg, type)), meta_(size_t(blocks)), block_tokens_(size_t(blocks)),
      block_parent_(size_t(blocks)) {
  if (blocks <= 0) fail("the KV cache needs at least one block, got {}", blocks);
  pool_ = ZeroedBuffer(size_t(blocks * block_bytes_));
  free_.reserve(size_t(blocks));
  for (int64_t b = blocks - 1; b >= 0; --b) free_.push_back(int32_t(b));
}

// SplitMix64-style mixing of the parent hash with each token: cheap, and well spread in 64 bits.
uint64_t KvBlockManager::chain_hash(uint64_t parent, std::span<const int32_t> tokens) {
  uint64_t h = parent ^ 0x9e3779b97f4a7c15ull;
  for (int32_t t : tokens) {
    h ^= uint64_t(uint32_t(t)) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
  }
  return h;
}

void KvBlockManager::lru_remove(int32_t b) {
  Meta& m = meta_[size_t(b)];
  (m.lru_prev == kNone ? lru_head_ : meta_[size_t(m.lru_prev)].lru_next) = m.lru_next;
  (m.lru_next == kNone ? lru_tail_ : meta_[size_t(m.lru_next)].lru_prev) = m.lru_prev;
  m.lru_prev = m.lru_next = kNone;
  --cached_;
}

void KvBlockManager::lru_push_back(int32_t b) {
  Meta& m = meta_[size_t(b)];
  m.lru_prev = lru_tail_;
  m.lru_next = kNone;
  (lru_tail_ == kNone ? lru_head_ : meta_[size_t(lru_tail_)].lru_next) = b;
  lru_tail_ = b;
  ++cached_;
}

void KvBlockManager::acquire(int32_t b) {
  Meta& m = meta_[size_t(b)];
  if (m.refs == 0) {
    if (m.published) lru_remove(b);
    ++used_;
  }
  ++m.refs;
}

int32_t KvBlockManager::take_block() {
  int32_t b = kNone;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (lru_head_ != kNone) {  // evict the least recently used cached prefix block
    b = lru_head_;
    lru_remove(b);
    Meta& m = meta_[size_t(b)];
    published_.erase(m.key);
    m.published = false;
    block_tokens_[size_t(b)].clear();
  } else {
    return kNone;
  }
  meta_[size_t(b)].refs = 1;
  ++used_;
  return b;
}

int64_t KvBlockManager::attach_prefix(std::span<const int32_t> prompt, KvCache& cache, Holding& h) {
  if (!h.blocks.empty()) fail("internal: attach_prefix on a sequence that already holds blocks");
  lookup_tokens_ += int64_t(prompt.size());
  const int64_t usable = (int64_t(prompt.size()) - 1) / kKvBlockTokens;  // keep the last token to compute
  uint64_t chain = 0;
  for (int64_t i = 0; i < usable; ++i) {
    const auto tokens = prompt.subspan(size_t(i * kKvBlockTokens), size_t(kKvBlockTokens));
    const uint64_t key = chain_hash(chain, tokens);
    const auto it = published_.find(key);
    if (it == published_.end()) break;
    const int32_t b = it->second;
    if (block_parent_[size_t(b)] != chain || !std::equal(tokens.begin(), tokens.end(), block_tokens_[size_t(b)].begin())) {
      break;  // a hash collision: treat as a miss
    }
    acquire(b);
    cache.attach_block(i, pool_.data() + int64_t(b) * block_bytes_);
    h.blocks.push_back(b);
    chain = key;
  }
  h.published = h.blocks.size();
  h.chain = chain;
  const int64_t filled = int64_t(h.blocks.size()) * kKvBlockTokens;
  hit_tokens_ += filled;
  cache.set_length(filled);
  return filled;
}

bool KvBlockManager::reserve(KvCache& cache, Holding& h, int64_t positions) {
  const int64_t need = (positions + kKvBlockTokens - 1) / kKvBlockTokens;
  if (need > cache.block_count()) fail("internal: {} positions exceed the cache's capacity {}", positions, cache.capacity());
  const int64_t more = need - int64_t(h.blocks.size());
  if (more <= 0) return true;
  if (more > available_blocks()) return false;
  for (int64_t i = 0; i < more; ++i) {
    const int32_t b = take_block();
    cache.attach_block(int64_t(h.blocks.size()), pool_.data() + int64_t(b) * block_bytes_);
    h.blocks.push_back(b);
  }
  return true;
}

void KvBlockManager::publish(std::span<const int32_t> tokens, int64_t computed, Holding& h) {
  const size_t full = size_t(std::min<int64_t>(computed, int64_t(tokens.size())) / kKvBlockTokens);
  for (size_t i = h.published; i < full && i < h.blocks.size(); ++i) {
    const auto block_tokens = tokens.subspan(i * size_t(kKvBlockTokens), size_t(kKvBlockTokens));
    const uint64_t key = chain_hash(h.chain, block_tokens);
    const int32_t b = h.blocks[i];
    Meta& m = meta_[size_t(b)];
    if (!published_.contains(key) && !m.published) {  // else an identical block is already cached
      published_.emplace(key, b);
      m.published = true;
      m.key = key;
      block_tokens_[size_t(b)].assign(block_tokens.begin(), block_tokens.end());
      block_parent_[size_t(b)] = h.chain;
    }
    h.chain = key;
    h.published = i + 1;
  }
}

void KvBlockManager::release(Holding& h) {
  for (int32_t b : h.blocks) {
    Meta& m = meta_[size_t(b)];
    if (--m.refs > 0) continue;
    --used_;
    if (m.published) lru_push_back(b);
    else free_.push_back(b);
  }
  h = Holding{};
}

}  // namespace r1
