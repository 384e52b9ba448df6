#include "tokenizer/bpe.h"

#include <algorithm>
#include <climits>
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
    for (const auto& [token, id] : vocab_) {  // the byte-level map is one-to-one: no two tokens collide
      if (auto raw = byte_level_to_bytes(token)) raw_vocab_.insert(*raw, id);
    }
  }

  if (!model.contains("merges") || !model["merges"].is_array()) fail("{}.merges: expected an array", where);
  const auto& merges = model["merges"];
  if (int64_t(merges.size()) > MergeTable::kMaxRank) fail("{}.merges: more than {} merges", where, MergeTable::kMaxRank);
  merges_ = MergeTable(merges.size());
  merged_by_rank_.resize(merges.size());
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
    merges_.add(ia->second, ib->second, int32_t(rank));
    merged_by_rank_[rank] = im->second;
  }
  merged_id_minus_rank_ = merged_by_rank_.empty() ? 0 : merged_by_rank_[0];
  for (size_t rank = 0; rank < merged_by_rank_.size(); ++rank) {
    if (merged_by_rank_[rank] - int32_t(rank) != merged_id_minus_rank_) merged_id_minus_rank_.reset();
    if (!merged_id_minus_rank_) break;
  }
  byte_pair_rank_.resize(256 * 256);
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) byte_pair_rank_[size_t(a) << 8 | size_t(b)] = merges_.rank(byte_ids_[a], byte_ids_[b]);
  }
}

void Bpe::encode_word(std::string_view raw, std::vector<int32_t>& out) const {
  if (raw.empty()) return;
  if (raw.size() == 1) {
    if (int32_t id = byte_ids_[static_cast<unsigned char>(raw[0])]; id >= 0) out.push_back(id);
    return;
  }
  if (ignore_merges_) {
    if (const int32_t id = raw_vocab_.find(raw); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (raw.size() <= kShortWord) {
    merge_short(raw, out);
  } else {
    merge_long(raw, out);
  }
}

// Short words: the symbols as a linked list over arrays indexed by byte position, with the rank of
// merging each symbol with the next. Each step finds the lowest rank by a scan over all positions
// (removed ones hold kNone) that the compiler vectorizes, takes its first position (the leftmost
// pair: positions stay in text order), merges, and looks up only the two pairs around the merge.
void Bpe::merge_short(std::string_view raw, std::vector<int32_t>& out) const {
  constexpr int32_t kNone = MergeTable::kNoMerge;
  const size_t n = raw.size();
  int32_t ids[kShortWord], ranks[kShortWord], next[kShortWord], prev[kShortWord];
  for (size_t k = 0; k < n; ++k) {
    ids[k] = byte_ids_[static_cast<unsigned char>(raw[k])];
    next[k] = int32_t(k + 1);
    prev[k] = int32_t(k) - 1;
  }
  for (size_t k = 0; k + 1 < n; ++k) {
    ranks[k] = byte_pair_rank(static_cast<unsigned char>(raw[k]), static_cast<unsigned char>(raw[k + 1]));
  }
  ranks[n - 1] = kNone;
  for (;;) {
    int32_t lowest = kNone;
    for (size_t k = 0; k < n; ++k) lowest = std::min(lowest, ranks[k]);
    if (lowest == kNone) break;
    size_t best = 0;
    while (ranks[best] != lowest) ++best;
    const auto right = size_t(next[best]), after = size_t(next[right]);
    ids[best] = merged_of(lowest);
    ranks[right] = kNone;  // the right symbol is gone
    next[best] = int32_t(after);
    if (after < n) prev[after] = int32_t(best);
    ranks[best] = after < n ? merges_.rank(ids[best], ids[after]) : kNone;
    if (prev[best] >= 0) ranks[prev[best]] = merges_.rank(ids[prev[best]], ids[best]);
  }
  for (size_t k = 0; k < n; k = size_t(next[k])) {
    if (ids[k] >= 0) out.push_back(ids[k]);
  }
}

// Long words: the symbols as a doubly linked list over an array and the candidate merges in a min-heap
// ordered by (rank, position), so a word of any length costs O(n log n).
void Bpe::merge_long(std::string_view raw, std::vector<int32_t>& out) const {
  // Merged-away symbols get id -2.
  struct Symbol {
    int32_t id, prev, next;
  };
  thread_local std::vector<Symbol> sym;  // scratch reused across words
  sym.resize(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    sym[i] = {byte_ids_[static_cast<unsigned char>(raw[i])], int32_t(i) - 1, i + 1 < raw.size() ? int32_t(i + 1) : -1};
  }
  // A candidate remembers the pair it was made for; it is stale (skipped when popped) once either
  // symbol has changed.
  struct Candidate {
    int32_t rank, pos, left_id, right, right_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  // A binary min-heap in a reused vector (std::priority_queue would allocate for every word).
  thread_local std::vector<Candidate> heap;
  heap.clear();
  auto consider = [&](int32_t pos) {
    const int32_t next = sym[size_t(pos)].next;
    if (next < 0) return;
    const int32_t a = sym[size_t(pos)].id, b = sym[size_t(next)].id;
    if (const int32_t rank = merges_.rank(a, b); rank != MergeTable::kNoMerge) {
      heap.push_back({rank, pos, a, next, b});
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
  };
  for (int32_t i = 0; i + 1 < int32_t(raw.size()); ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = sym[size_t(c.pos)];
    if (left.id != c.left_id || left.next != c.right || sym[size_t(c.right)].id != c.right_id) continue;
    Symbol& right = sym[size_t(c.right)];
    left.id = merged_of(c.rank);
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
