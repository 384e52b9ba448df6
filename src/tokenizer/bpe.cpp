#include "tokenizer/bpe.h"

#include <algorithm>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"

namespace r1::tok {

Bpe::Bpe(const nlohmann::json& model, const std::string& where) {
  if (!model.is_object()) fail("{}: expected an object", where);
  const nlohmann::json type = model.value("type", nlohmann::json("BPE"));
  if (type != "BPE") fail("{}.type: {} is not supported (expected \"BPE\")", where, type.dump());
  if (model.contains("dropout") && model["dropout"].is_number() && model["dropout"].get<double>() > 0) {
    fail("{}.dropout: BPE dropout is training-only and not supported", where);
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty()) {
      fail("{}.{}: not supported for byte-level BPE (expected null or \"\")", where, key);
    }
  }
  if (model.contains("ignore_merges") && model["ignore_merges"].is_boolean()) {
    ignore_merges_ = model["ignore_merges"].get<bool>();
  }

  if (!model.contains("vocab") || !model["vocab"].is_object()) fail("{}.vocab: expected an object token -> id", where);
  const auto& vocab = model["vocab"];
  vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > kMaxId) {
      fail("{}.vocab[\"{}\"]: expected an id in 0..{}", where, it.key(), kMaxId);
    }
    const int32_t id = it.value().get<int32_t>();
    vocab_.emplace(it.key(), id);
    if (size_t(id) >= tokens_.size()) tokens_.resize(size_t(id) + 1);
    tokens_[size_t(id)] = it.key();
  }
  for (int b = 0; b < 256; ++b) {
    std::string s;
    s = bytes_to_byte_level(std::string_view(reinterpret_cast<const char*>(&b), 1));
    auto it = vocab_.find(s);
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
  if (ignore_merges_) {
    raw_vocab_.reserve(vocab_.size());
    for (const auto& [token, id] : vocab_) {
      if (auto raw = byte_level_to_bytes(token)) raw_vocab_.emplace(std::move(*raw), id);
    }
  }

  if (!model.contains("merges") || !model["merges"].is_array()) fail("{}.merges: expected an array", where);
  const auto& merges = model["merges"];
  size_t capacity = 64;
  while (capacity < merges.size() * 2) capacity *= 2;
  merge_table_.assign(capacity, MergeSlot{});
  merge_mask_ = capacity - 1;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& m = merges[rank];
    std::string a, b;
    if (m.is_string()) {  // "a b" (tokenizers < 0.20)
      const std::string& s = m.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) fail("{}.merges[{}]: expected \"left right\", got \"{}\"", where, rank, s);
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["a", "b"]
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      fail("{}.merges[{}]: expected \"left right\" or [\"left\", \"right\"]", where, rank);
    }
    const auto ia = vocab_.find(a), ib = vocab_.find(b), im = vocab_.find(a + b);
    if (ia == vocab_.end() || ib == vocab_.end() || im == vocab_.end()) {
      fail("{}.merges[{}]: \"{}\" + \"{}\" uses a token missing from the vocab", where, rank, a, b);
    }
    add_merge(pair_key(ia->second, ib->second), Merge{int32_t(rank), im->second});
  }
}

void Bpe::add_merge(uint64_t key, Merge m) {
  for (uint64_t i = slot_of(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    if (merge_table_[i].key == key) return;  // the first occurrence of a pair wins, as in tokenizers
    if (merge_table_[i].key == ~uint64_t(0)) {
      merge_table_[i] = {key, m};
      return;
    }
  }
}

const Bpe::Merge* Bpe::find_merge(int32_t a, int32_t b) const {
  if (a < 0 || b < 0) return nullptr;
  const uint64_t key = pair_key(a, b);
  for (uint64_t i = slot_of(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    const MergeSlot& s = merge_table_[i];
    if (s.key == key) return &s.merge;
    if (s.key == ~uint64_t(0)) return nullptr;
  }
}

void Bpe::encode_word(std::string_view raw, std::vector<int32_t>& out) const {
  if (raw.empty()) return;
  if (raw.size() == 1) {
    if (int32_t id = byte_ids_[static_cast<unsigned char>(raw[0])]; id >= 0) out.push_back(id);
    return;
  }
  if (ignore_merges_) {
    if (auto it = raw_vocab_.find(raw); it != raw_vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  // Symbols as a doubly linked list over an array; merged-away symbols get id -2.
  struct Symbol {
    int32_t id, prev, next;
  };
  thread_local std::vector<Symbol> sym;  // scratch reused across words
  sym.resize(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    sym[i] = {byte_ids_[static_cast<unsigned char>(raw[i])], int32_t(i) - 1, i + 1 < raw.size() ? int32_t(i + 1) : -1};
  }
  // Candidate merges ordered by (rank, position); stale ones are skipped when popped.
  struct Candidate {
    int32_t rank, pos, merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  // A binary min-heap in a reused vector (std::priority_queue would allocate for every word).
  thread_local std::vector<Candidate> heap;
  heap.clear();
  auto consider = [&](int32_t pos) {
    const int32_t next = sym[size_t(pos)].next;
    if (next < 0) return;
    if (const Merge* m = find_merge(sym[size_t(pos)].id, sym[size_t(next)].id)) {
      heap.push_back({m->rank, pos, m->merged});
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
  };
  for (int32_t i = 0; i + 1 < int32_t(raw.size()); ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = sym[size_t(c.pos)];
    if (left.id == -2 || left.next < 0) continue;
    const Merge* m = find_merge(left.id, sym[size_t(left.next)].id);
    if (!m || m->merged != c.merged || m->rank != c.rank) continue;  // the pair changed since it was queued
    Symbol& right = sym[size_t(left.next)];
    left.id = c.merged;
    right.id = -2;
    left.next = right.next;
    if (left.next >= 0) sym[size_t(left.next)].prev = c.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = sym[size_t(i)].next) {
    if (sym[size_t(i)].id >= 0) out.push_back(sym[size_t(i)].id);
  }
}

}  // namespace r1::tok
