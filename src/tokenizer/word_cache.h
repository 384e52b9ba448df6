// The per-word BPE cache: raw word bytes -> ids. Text repeats words constantly and BPE is the costly
// step, so encode() looks every word up here first. Open addressing over one flat array with keys and
// ids in two arenas keeps a lookup to about one cache miss; when half full it is simply cleared.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace r1::tok {

class WordCache {
 public:
  WordCache() = default;  // the table is allocated on first insert: tokenizers that never encode stay small

  static uint64_t hash(std::string_view s) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 31;
    }
    uint64_t w = 0;
    std::memcpy(&w, s.data() + i, s.size() - i);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    return h | 1;  // 0 marks an empty slot
  }

  // The cached ids of `word` (with hash `h`), or false.
  bool find(std::string_view word, uint64_t h, const int32_t*& ids, size_t& n) const {
    if (slots_.empty()) return false;
    for (size_t i = h & kMask;; i = (i + 1) & kMask) {
      const Slot& s = slots_[i];
      if (s.hash == 0) return false;
      if (s.hash == h && s.key_len == word.size() && std::memcmp(keys_.data() + s.key, word.data(), word.size()) == 0) {
        ids = ids_.data() + s.ids;
        n = s.ids_len;
        return true;
      }
    }
  }

  void insert(std::string_view word, uint64_t h, const int32_t* ids, size_t n) {
    if (slots_.empty() || used_ >= kSlots / 2) clear();
    size_t i = h & kMask;
    while (slots_[i].hash != 0) i = (i + 1) & kMask;
    slots_[i] = {h, uint32_t(keys_.size()), uint32_t(word.size()), uint32_t(ids_.size()), uint32_t(n)};
    keys_.append(word);
    ids_.insert(ids_.end(), ids, ids + n);
    ++used_;
  }

  void clear() {
    slots_.assign(kSlots, Slot{});
    keys_.clear();
    ids_.clear();
    used_ = 0;
  }

 private:
  static constexpr size_t kSlots = size_t(1) << 17, kMask = kSlots - 1;
  struct Slot {
    uint64_t hash = 0;
    uint32_t key = 0, key_len = 0, ids = 0, ids_len = 0;
  };
  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<int32_t> ids_;
  size_t used_ = 0;
};

}  // namespace r1::tok
