// The per-word BPE cache: raw word bytes -> ids. Text repeats words constantly and BPE is the costly
// step, so encode() looks every word up here first. Open addressing over one flat array of 32-byte
// slots; a word of up to 12 bytes and 3 ids (nearly all of them) lives in its slot, so a lookup is
// one cache miss. Longer words keep their bytes and ids in two arenas. When half full the cache is
// simply cleared.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/byte_hash.h"

namespace r1::tok {

class WordCache {
 public:
  WordCache() = default;  // the table is allocated on first insert: tokenizers that never encode stay small

  // Words longer than this are not cached (they are rare, and slot lengths stay 16-bit).
  static constexpr size_t kMaxWordBytes = 256;

  static uint64_t hash(std::string_view s) { return hash_bytes(s); }

  // The cached ids of `word` (with hash `h`), or false.
  bool find(std::string_view word, uint64_t h, const int32_t*& ids, size_t& n) const {
    if (slots_.empty()) return false;
    const uint32_t check = check_of(h);
    for (size_t i = h & kMask;; i = (i + 1) & kMask) {
      const Slot& s = slots_[i];
      if (s.check == 0) return false;
      if (s.check == check && s.key_len == word.size() && bytes_equal(key_of(s), word.data(), word.size())) {
        ids = ids_of(s);
        n = s.n_ids;
        return true;
      }
    }
  }

  // Starts loading the slot where a word with hash `h` would be, so that a find() a little later
  // does not wait for memory: encode() prefetches a few words ahead.
  void prefetch(uint64_t h) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[h & kMask]);
  }

  void insert(std::string_view word, uint64_t h, const int32_t* ids, size_t n) {
    if (word.size() > kMaxWordBytes) return;
    if (slots_.empty() || used_ >= kSlots / 2) clear();
    size_t i = h & kMask;
    while (slots_[i].check != 0) i = (i + 1) & kMask;
    Slot& s = slots_[i];
    s.check = check_of(h);
    s.key_len = uint16_t(word.size());
    s.n_ids = uint16_t(n);
    if (inline_in_slot(s)) {
      std::memcpy(s.key, word.data(), word.size());
      std::memcpy(s.ids, ids, n * sizeof(int32_t));
    } else {
      const auto key_at = uint32_t(keys_.size()), ids_at = uint32_t(ids_.size());
      std::memcpy(s.key, &key_at, sizeof key_at);
      std::memcpy(s.ids, &ids_at, sizeof ids_at);
      keys_.append(word);
      ids_.insert(ids_.end(), ids, ids + n);
    }
    ++used_;
  }

  void clear() {
    slots_.assign(kSlots, Slot{});
    keys_.clear();
    ids_.clear();
    used_ = 0;
  }

 private:
  static constexpr size_t kSlots = size_t(1) << 16, kMask = kSlots - 1;  // 2 MiB; up to 32k words
  static constexpr size_t kInlineKey = 12, kInlineIds = 3;
  struct Slot {
    uint32_t check = 0;  // high hash bits, never 0 in a used slot
    uint16_t key_len = 0, n_ids = 0;
    char key[kInlineKey];      // the word, or its offset in keys_
    int32_t ids[kInlineIds];   // the ids, or their offset in ids_
  };
  static_assert(sizeof(Slot) == 32);

  static uint32_t check_of(uint64_t h) { return uint32_t(h >> 32) | 1; }
  static bool inline_in_slot(const Slot& s) { return s.key_len <= kInlineKey && s.n_ids <= kInlineIds; }
  const char* key_of(const Slot& s) const {
    if (inline_in_slot(s)) return s.key;
    uint32_t at;
    std::memcpy(&at, s.key, sizeof at);
    return keys_.data() + at;
  }
  const int32_t* ids_of(const Slot& s) const {
    if (inline_in_slot(s)) return s.ids;
    uint32_t at;
    std::memcpy(&at, s.ids, sizeof at);
    return ids_.data() + at;
  }

  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<int32_t> ids_;
  size_t used_ = 0;
};

}  // namespace r1::tok
