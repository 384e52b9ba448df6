#include "tokenizer/split_patterns.h"

#include <cstring>

#include "tokenizer/char_classes.h"
#include "tokenizer/regex.h"

namespace r1::tok {

void SplitPattern::split_isolated(std::string_view s, std::vector<std::string_view>& out) const {
  for_each_span(*this, s, [&](size_t b, size_t e, bool) {
    if (e > b) out.push_back(s.substr(b, e - b));
  });
}

namespace {

constexpr size_t kNoMatch = std::string_view::npos;

class RegexPattern final : public SplitPattern {
 public:
  RegexPattern(const std::string& pattern, bool literal, const std::string& what) : re_(pattern, literal, what) {}
  bool find(std::string_view s, size_t from, size_t& begin, size_t& end) const override {
    return re_.find(s, from, begin, end);
  }

 private:
  Regex re_;
};

// Reads code points of one subject. Each helper is one regex construct, with PCRE2's greedy and
// backtracking behaviour worked out for it (the comments give the construct).
class Scanner {
 public:
  Scanner(const CharClasses& table, std::string_view s) : table_(table), s_(s) {}

  size_t size() const { return s_.size(); }
  CodePoint at(size_t i) const { return code_point_at(table_, s_, i); }
  // The code point at i has one of `classes` (false at the end).
  bool is(size_t i, uint8_t classes) const { return i < s_.size() && (at(i).classes & classes); }
  bool is_newline(size_t i) const { return i < s_.size() && (s_[i] == '\r' || s_[i] == '\n'); }

  // X* from i, where X is a code point `accept`ed by its classes.
  template <typename Accept>
  size_t run(size_t i, Accept accept) const {
    while (i < s_.size()) {
      const auto byte = static_cast<unsigned char>(s_[i]);
      if (byte < 0x80) {  // ASCII: no decoding
        if (!accept(table_.of(byte))) break;
        ++i;
        continue;
      }
      const CodePoint c = at(i);
      if (!accept(c.classes)) break;
      i += c.len;
    }
    return i;
  }
  size_t run_of(size_t i, uint8_t classes) const {
    return run(i, [classes](uint8_t c) { return (c & classes) != 0; });
  }
  // [\r\n]* from i.
  size_t newlines(size_t i) const {
    while (is_newline(i)) ++i;
    return i;
  }

  // \s*[\r\n]+|\s+(?!\S)|\s+ at i, where the code point at i is whitespace.
  size_t whitespace(size_t i) const {
    const size_t end = run_of(i, kSpace);
    // \s*[\r\n]+ : \s* gives back code points until [\r\n]+ can start, i.e. the match ends just after
    // the run's last CR or LF. (Both are ASCII, so a byte scan finds them in multi-byte whitespace too.)
    for (size_t k = end; k > i; --k) {
      if (s_[k - 1] == '\r' || s_[k - 1] == '\n') return k;
    }
    // \s+(?!\S) : the whole run at the end of the subject, else all but its last code point.
    if (end == s_.size()) return end;
    size_t last = end - 1;
    while ((static_cast<unsigned char>(s_[last]) & 0xC0) == 0x80) --last;
    if (last > i) return last;
    return end;  // \s+
  }

 private:
  const CharClasses& table_;
  std::string_view s_;
};

// A pattern that matches at a position or not, searched leftmost-first like a regex. `Derived`
// provides `size_t match_at(const Scanner&, size_t i, CodePoint c) const` (the end of the match at i,
// where the code point is c, or kNoMatch), called directly: this runs once per code point of the text.
template <typename Derived>
class PositionalPattern : public SplitPattern {
 public:
  bool find(std::string_view s, size_t from, size_t& begin, size_t& end) const override {
    const Scanner scan(classes_, s);
    for (size_t i = from; i < s.size();) {
      const CodePoint c = scan.at(i);
      const size_t e = static_cast<const Derived*>(this)->match_at(scan, i, c);
      if (e != kNoMatch) {
        begin = i;
        end = e;
        return true;
      }
      i += c.len;
    }
    return false;
  }

  void split_isolated(std::string_view s, std::vector<std::string_view>& out) const override {
    const Scanner scan(classes_, s);
    size_t gap = 0;  // start of the text before the next match
    for (size_t i = 0; i < s.size();) {
      const CodePoint c = scan.at(i);
      const size_t e = static_cast<const Derived*>(this)->match_at(scan, i, c);
      if (e == kNoMatch) {
        i += c.len;
        continue;
      }
      if (gap != i) out.push_back(s.substr(gap, i - gap));
      out.push_back(s.substr(i, e - i));  // never empty
      i = gap = e;
    }
    if (gap != s.size()) out.push_back(s.substr(gap));
  }

 protected:
  const CharClasses& classes_ = CharClasses::get();  // built now, not during the first encode
};

// Whether eight bytes hold an ASCII digit (the only ASCII \p{N}) or a non-ASCII byte: per byte,
// adding 0x50 sets the top bit from '0' up, adding 0x46 from ':' up (no carries below 0x80).
bool ascii_digit_or_beyond(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  constexpr uint64_t kTop = 0x8080808080808080ull, kEach = 0x0101010101010101ull;
  if (x & kTop) return true;
  return ((x + 0x50 * kEach) & ~(x + 0x46 * kEach) & kTop) != 0;
}

// The characters of DeepSeek-V3's CJK split: U+4E00..U+9FA5 and U+3040..U+30FF.
bool deepseek_cjk(char32_t cp) { return (cp >= 0x4E00 && cp <= 0x9FA5) || (cp >= 0x3040 && cp <= 0x30FF); }

// \p{N}{1,3} at i, where the code point at i is a number.
size_t digit_group(const Scanner& scan, size_t i) {
  for (int k = 0; k < 3 && scan.is(i, kNumber); ++k) i += scan.at(i).len;
  return i;
}

// \p{N}{1,3}  (DeepSeek-V3's first split)
class DigitGroups final : public SplitPattern {
 public:
  bool find(std::string_view s, size_t from, size_t& begin, size_t& end) const override {
    const Scanner scan(classes_, s);
    size_t i = from;
    while (i < s.size()) {
      if (i + 8 <= s.size() && !ascii_digit_or_beyond(s.data() + i)) {
        i += 8;
        continue;
      }
      const auto byte = static_cast<unsigned char>(s[i]);
      if (byte < 0x80) {  // most text: no decoding
        if (classes_.of(byte) & kNumber) break;
        ++i;
        continue;
      }
      const CodePoint c = scan.at(i);
      if (c.classes & kNumber) break;
      i += c.len;
    }
    if (i >= s.size()) return false;
    begin = i;
    end = digit_group(scan, i);
    return true;
  }

 private:
  const CharClasses& classes_ = CharClasses::get();  // built now, not during the first encode
};

// [一-龥぀-ゟ゠-ヿ]+  (DeepSeek-V3's second split: CJK ideographs U+4E00..U+9FA5, kana U+3040..U+30FF,
// all three bytes long with a lead byte E3..E9)
class CjkRuns final : public SplitPattern {
 public:
  bool find(std::string_view s, size_t from, size_t& begin, size_t& end) const override {
    size_t i = from;
    while (i < s.size()) {
      // Eight ASCII bytes at a time: most text has long runs without any CJK.
      uint64_t eight;
      if (i + 8 <= s.size() && (std::memcpy(&eight, s.data() + i, 8), (eight & 0x8080808080808080ull) == 0)) {
        i += 8;
        continue;
      }
      if (cjk(s, i)) break;
      i += utf8_length(static_cast<unsigned char>(s[i]));
    }
    if (i >= s.size()) return false;
    begin = i;
    while (i < s.size() && cjk(s, i)) i += 3;
    end = i;
    return true;
  }

 private:
  static size_t utf8_length(unsigned char lead) { return 1 + (lead >= 0xC0) + (lead >= 0xE0) + (lead >= 0xF0); }
  static bool cjk(std::string_view s, size_t i) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0xE3 || lead > 0xE9) return false;
    return deepseek_cjk((char32_t(lead & 0x0F) << 12) | (char32_t(static_cast<unsigned char>(s[i + 1]) & 0x3F) << 6) |
                        (static_cast<unsigned char>(s[i + 2]) & 0x3F));
  }
};

// [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
//  ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+  (DeepSeek-V3's third split)
class DeepSeekWords final : public PositionalPattern<DeepSeekWords> {
 public:
  [[gnu::always_inline]] size_t match_at(const Scanner& scan, size_t i, CodePoint c) const {
    const size_t next = i + c.len;
    // [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+ : ASCII punctuation, then ASCII letters.
    if (c.cp < 0x80 && ascii_punct(char(c.cp)) && next < scan.size() && ascii_letter(scan.at(next).cp)) {
      size_t e = next;
      while (e < scan.size() && ascii_letter(scan.at(e).cp)) ++e;
      return e;
    }
    // [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+ : with the optional prefix when letters follow it, else without.
    if (!(c.classes & (kLetter | kPunct | kSymbol)) && !scan.is_newline(i) && scan.is(next, kLetter | kMark)) {
      return scan.run_of(next, kLetter | kMark);
    }
    if (c.classes & (kLetter | kMark)) return scan.run_of(i, kLetter | kMark);
    //  ?[\p{P}\p{S}]+[\r\n]*
    if (c.cp == ' ' && scan.is(next, kPunct | kSymbol)) return scan.newlines(scan.run_of(next, kPunct | kSymbol));
    if (c.classes & (kPunct | kSymbol)) return scan.newlines(scan.run_of(i, kPunct | kSymbol));
    if (c.classes & kSpace) return scan.whitespace(i);
    return kNoMatch;  // a number, control, format or unassigned code point not followed by a letter
  }
  static bool ascii_letter(char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  static bool ascii_punct(char c) {
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
  }
};

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+  (Qwen2 with max = 1, Llama-3 with max = 3). Some branch matches
// at every position.
class Gpt4Words final : public PositionalPattern<Gpt4Words> {
 public:
  explicit Gpt4Words(int max_digits) : max_digits_(max_digits) {}

  [[gnu::always_inline]] size_t match_at(const Scanner& scan, size_t i, CodePoint c) const {
    const size_t next = i + c.len;
    if (c.cp == '\'') {
      if (const size_t e = contraction(scan, next); e != kNoMatch) return e;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!(c.classes & (kLetter | kNumber)) && !scan.is_newline(i) && scan.is(next, kLetter)) {
      return scan.run_of(next, kLetter);
    }
    if (c.classes & kLetter) return scan.run_of(i, kLetter);
    // \p{N}{1,max}
    if (c.classes & kNumber) {
      size_t e = next;
      for (int k = 1; k < max_digits_ && scan.is(e, kNumber); ++k) e += scan.at(e).len;
      return e;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    const auto other = [](uint8_t classes) { return !(classes & (kSpace | kLetter | kNumber)); };
    if (c.cp == ' ' && next < scan.size() && other(scan.at(next).classes)) {
      return scan.newlines(scan.run(next, other));
    }
    if (other(c.classes)) return scan.newlines(scan.run(i, other));
    return scan.whitespace(i);
  }

 private:
  // (?i:s|t|re|ve|m|ll|d) at i (just after the apostrophe), tried in that order.
  size_t contraction(const Scanner& scan, size_t i) const {
    for (std::string_view suffix : {"s", "t", "re", "ve", "m", "ll", "d"}) {
      size_t e = i;
      bool matched = true;
      for (char letter : suffix) {
        if (e >= scan.size() || classes_.ascii_fold(scan.at(e).cp) != letter) {
          matched = false;
          break;
        }
        e += scan.at(e).len;
      }
      if (matched) return e;
    }
    return kNoMatch;
  }

  int max_digits_;
};

}  // namespace

DeepSeekV3Splitter::DeepSeekV3Splitter() : words_(std::make_unique<DeepSeekWords>()) {}
DeepSeekV3Splitter::~DeepSeekV3Splitter() = default;

void DeepSeekV3Splitter::split(std::string_view s, std::vector<std::string_view>& out) const {
  const auto& words = static_cast<const DeepSeekWords&>(*words_);
  const Scanner scan(CharClasses::get(), s);
  // The digit and CJK splits cut s into digit groups, CJK runs and the text between them; the word
  // split then runs on each of these pieces as its own subject. It leaves a digit group whole (no
  // branch matches at a number not followed by a letter), and no CJK character is a number, so digit
  // groups go out as they are.
  const auto word_split = [&](size_t b, size_t e) {
    if (e > b) words.split_isolated(s.substr(b, e - b), out);
  };
  size_t gap = 0;  // start of the text between digit groups and CJK runs
  for (size_t i = 0; i < s.size();) {
    if (i + 8 <= s.size() && !ascii_digit_or_beyond(s.data() + i)) {
      i += 8;
      continue;
    }
    const CodePoint c = scan.at(i);
    if (c.classes & kNumber) {
      word_split(gap, i);
      const size_t e = digit_group(scan, i);
      out.push_back(s.substr(i, e - i));
      i = gap = e;
    } else if (deepseek_cjk(c.cp)) {
      word_split(gap, i);
      size_t e = i;
      while (e < s.size() && deepseek_cjk(scan.at(e).cp)) e += 3;  // all three bytes long
      word_split(i, e);
      i = gap = e;
    } else {
      i += c.len;
    }
  }
  word_split(gap, s.size());
}

std::unique_ptr<SplitPattern> hand_written_split_pattern(std::string_view pattern) {
  if (pattern == patterns::kDeepSeekDigits) return std::make_unique<DigitGroups>();
  if (pattern == patterns::kDeepSeekCjk) return std::make_unique<CjkRuns>();
  if (pattern == patterns::kDeepSeekWords) return std::make_unique<DeepSeekWords>();
  if (pattern == patterns::kQwen2) return std::make_unique<Gpt4Words>(1);
  if (pattern == patterns::kLlama3) return std::make_unique<Gpt4Words>(3);
  return nullptr;
}

std::unique_ptr<SplitPattern> compile_split_pattern(const std::string& pattern, bool literal, const std::string& what) {
  if (!literal) {
    if (auto fast = hand_written_split_pattern(pattern)) return fast;
  }
  return std::make_unique<RegexPattern>(pattern, literal, what);
}

}  // namespace r1::tok
