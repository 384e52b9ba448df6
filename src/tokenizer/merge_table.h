// BPE merge ranks keyed by the pair of token ids. BPE looks a pair up for nearly every byte of every
// new word, and the table is larger than the CPU's L2 cache, so a lookup is mostly one cache miss:
//   * each entry is packed into 8 bytes (left id, right id, rank: 21 + 21 + 22 bits) in an
//     open-addressing table at most two thirds full (DeepSeek-V3, Qwen: 2 MiB; Llama-3's 280k merges:
//     4 MiB);
//   * about two thirds of the lookups find no merge (the pairs left when a word is done), and a
//     blocked Bloom filter of 10-21 bits per merge (two bits in one 64-bit word; 256-512 KiB, stays
//     in L2) answers most of those without touching the table.
#pragma once

#include <cstdint>
#include <vector>

namespace r1::tok {

class MergeTable {
 public:
  static constexpr int32_t kNoMerge = INT32_MAX;
  static constexpr int64_t kMaxId = (int64_t(1) << 21) - 1;    // ids must fit 21 bits
  static constexpr int64_t kMaxRank = (int64_t(1) << 22) - 2;  // all ones marks an empty slot

  explicit MergeTable(size_t merges = 0) {
    size_t capacity = 64;
    while (capacity * 2 < merges * 3) capacity *= 2;  // at most two thirds full
    slots_.assign(capacity, kEmpty);
    mask_ = capacity - 1;
    size_t words = 64;
    while (words * 6 < merges) words *= 2;  // at least 10 bits per merge: ~2% false positives
    filter_.assign(words, 0);
    filter_shift_ = 64 - __builtin_ctzll(words);
  }

  // Adds pair -> rank; the first rank given for a pair wins, as in Hugging Face tokenizers. Ids and
  // ranks must be within kMaxId / kMaxRank (the caller checks).
  void add(int32_t left, int32_t right, int32_t rank) {
    const uint64_t key = key_of(left, right);
    for (uint64_t i = slot_of(key);; i = (i + 1) & mask_) {
      if ((slots_[i] >> kRankBits) == key) return;
      if (slots_[i] == kEmpty) {
        slots_[i] = (key << kRankBits) | uint64_t(rank);
        const uint64_t h = filter_hash(key);
        filter_[h >> filter_shift_] |= filter_bits(h);
        return;
      }
    }
  }

  // The rank of merging `left` and `right`, or kNoMerge.
  int32_t rank(int32_t left, int32_t right) const {
    if (left < 0 || right < 0) return kNoMerge;
    const uint64_t key = key_of(left, right);
    const uint64_t h = filter_hash(key);
    if ((filter_[h >> filter_shift_] & filter_bits(h)) != filter_bits(h)) return kNoMerge;
    for (uint64_t i = slot_of(key);; i = (i + 1) & mask_) {
      const uint64_t s = slots_[i];
      if ((s >> kRankBits) == key && s != kEmpty) return int32_t(s & kRankMask);
      if (s == kEmpty) return kNoMerge;
    }
  }

 private:
  static constexpr int kRankBits = 22;
  static constexpr uint64_t kRankMask = (uint64_t(1) << kRankBits) - 1;
  static constexpr uint64_t kEmpty = ~uint64_t(0);

  static uint64_t key_of(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 21) | uint32_t(right); }
  uint64_t slot_of(uint64_t key) const { return ((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  // The filter word comes from the top bits of a second hash, the two bits from its low 12 bits.
  static uint64_t filter_hash(uint64_t key) { return (key ^ (key >> 29)) * 0xBF58476D1CE4E5B9ull; }
  static uint64_t filter_bits(uint64_t h) { return (uint64_t(1) << (h & 63)) | (uint64_t(1) << ((h >> 6) & 63)); }

  std::vector<uint64_t> slots_;
  uint64_t mask_ = 0;
  std::vector<uint64_t> filter_;
  int filter_shift_ = 64;
};

}  // namespace r1::tok
