// An immutable-once-built byte string -> id map for hot lookups, most of which miss (BPE with
// ignore_merges asks it about every new word, and few words are whole tokens):
//   * a Bloom filter of 8 bits per key (one 64-bit hash gives two bit positions) answers most
//     misses from a table small enough to stay in cache;
//   * otherwise one open-addressing array of 16-byte slots (a check hash, the id, the key's place in
//     one byte arena), at most half full: about two cache misses, where std::unordered_map<std::string>
//     takes several (bucket, node, heap string).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/byte_hash.h"

namespace r1::tok {

class FlatStringMap {
 public:
  FlatStringMap() { resize(0); }

  // Adds key -> id unless the key is already there (the first id wins). Keys must be under 4 GiB in all.
  void insert(std::string_view key, int32_t id) {
    if ((used_ + 1) * 2 > slots_.size()) resize(used_ + 1);
    const uint64_t h = hash_bytes(key);
    size_t i = h & mask_;
    for (; slots_[i].check != 0; i = (i + 1) & mask_) {
      if (matches(slots_[i], h, key)) return;
    }
    slots_[i] = {check_of(h), id, uint32_t(keys_.size()), uint32_t(key.size())};
    keys_.append(key);
    ++used_;
    add_to_filter(h);
  }

  // The id of `key`, or -1.
  int32_t find(std::string_view key) const {
    const uint64_t h = hash_bytes(key);
    if (!in_filter(h)) return -1;
    for (size_t i = h & mask_; slots_[i].check != 0; i = (i + 1) & mask_) {
      if (matches(slots_[i], h, key)) return slots_[i].id;
    }
    return -1;
  }

 private:
  struct Slot {
    uint32_t check = 0;  // high hash bits, never 0 in a used slot
    int32_t id = 0;
    uint32_t key_at = 0, key_len = 0;
  };

  static uint32_t check_of(uint64_t h) { return uint32_t(h >> 32) | 1; }
  bool matches(const Slot& s, uint64_t h, std::string_view key) const {
    return s.check == check_of(h) && s.key_len == key.size() && bytes_equal(keys_.data() + s.key_at, key.data(), key.size());
  }
  // Bit positions from hash bits the slot index does not use.
  size_t bit_a(uint64_t h) const { return (h >> 40) & filter_mask_; }
  size_t bit_b(uint64_t h) const { return ((h >> 20) ^ (h >> 52)) & filter_mask_; }
  void add_to_filter(uint64_t h) {
    filter_[bit_a(h) >> 6] |= uint64_t(1) << (bit_a(h) & 63);
    filter_[bit_b(h) >> 6] |= uint64_t(1) << (bit_b(h) & 63);
  }
  bool in_filter(uint64_t h) const {
    return (filter_[bit_a(h) >> 6] >> (bit_a(h) & 63) & 1) && (filter_[bit_b(h) >> 6] >> (bit_b(h) & 63) & 1);
  }

  // Room for `keys` keys: slots at most half full, 8 filter bits per key; existing keys re-placed.
  void resize(size_t keys) {
    size_t slots = 16;
    while (slots < keys * 2) slots *= 2;
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(slots, Slot{});
    mask_ = slots - 1;
    filter_.assign(std::max<size_t>(1, slots * 4 / 64), 0);  // 4 bits per slot: 8 per key at half load
    filter_mask_ = filter_.size() * 64 - 1;
    for (const Slot& s : old) {
      if (s.check == 0) continue;
      const uint64_t h = hash_bytes(std::string_view(keys_.data() + s.key_at, s.key_len));
      size_t i = h & mask_;
      while (slots_[i].check != 0) i = (i + 1) & mask_;
      slots_[i] = s;
      add_to_filter(h);
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0, used_ = 0;
  std::vector<uint64_t> filter_;
  size_t filter_mask_ = 0;
  std::string keys_;
};

}  // namespace r1::tok
