// The hand-written split patterns (split_patterns.h) must find exactly the matches PCRE2 finds for the
// regexes they stand for, and the character class table must be PCRE2's.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/utf8.h"
#include "tokenizer/char_classes.h"
#include "tokenizer/regex.h"
#include "tokenizer/split_patterns.h"

namespace r1::tok {
namespace {

// All matches of a pattern in `s`, found the way the Split pre-tokenizer iterates (none of these
// patterns can match empty).
template <typename Finder>
std::vector<std::pair<size_t, size_t>> all_matches(const Finder& f, std::string_view s) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t pos = 0, b = 0, e = 0;
  while (pos < s.size() && f.find(s, pos, b, e)) {
    out.emplace_back(b, e);
    if (e == b) break;
    pos = e;
  }
  return out;
}

std::string utf8(std::u32string_view cps) {
  std::string s;
  for (char32_t c : cps) utf8_append(s, c);
  return s;
}

// Code points on which the patterns' branches and classes turn: ASCII letters, digits, every ASCII
// punctuation, CR/LF/tab/space, Unicode spaces (NBSP, NEL, ideographic space), case-folding traps
// (ſ, Kelvin sign), combining marks, numbers of other kinds (Arabic digits, superscripts, Roman
// numerals), CJK and kana range edges, symbols, emoji and joiners, controls, private use, unassigned.
const std::u32string kInteresting =
    U"aAsStTrReEvVmMlLdDzZ09'\"!#$%&()*+,-./:;<=>?@[\\]^_`{|}~ \t\r\n\v\f"
    U"\u00A0\u0085\u1680\u2028\u3000\u017F\u212A\u0301\u0308\u20DD\u0660\u00B2\u2167\u0E51"
    U"\u4E00\u9FA5\u9FA6\u4DFF\u3040\u3041\u309F\u30A0\u30FF\u3100\u3005\uAC00\u00E9\u0416"
    U"\u00A9\u20AC\u2014\u00BF\U0001F600\u200D\uFE0F\U0001F3FB\u0000\u001F\u007F\u00AD\uE000\u0378"
    U"\U000E0001\U0010FFFF\U0002A6D6\U00010400";

std::string random_text(std::mt19937& rng) {
  std::u32string cps;
  const int n = int(rng() % 24);
  for (int k = 0; k < n; ++k) {
    const uint32_t pick = rng() % 10;
    if (pick < 8) {
      cps += kInteresting[rng() % kInteresting.size()];
    } else {  // any scalar value
      char32_t c = char32_t(rng() % 0x110000);
      if (c >= 0xD800 && c <= 0xDFFF) c = U'x';
      cps += c;
    }
  }
  return utf8(cps);
}

// PCRE2 behind the SplitPattern interface, with its default split_isolated().
class Pcre2Pattern final : public SplitPattern {
 public:
  explicit Pcre2Pattern(std::string_view pattern) : re_(std::string(pattern), false, "test") {}
  bool find(std::string_view s, size_t from, size_t& b, size_t& e) const override { return re_.find(s, from, b, e); }

 private:
  Regex re_;
};

std::vector<std::string_view> isolated_pieces(const SplitPattern& p, std::string_view s) {
  std::vector<std::string_view> out;
  p.split_isolated(s, out);
  return out;
}

const std::string_view kAllKnown[] = {patterns::kDeepSeekDigits, patterns::kDeepSeekCjk, patterns::kDeepSeekWords,
                                      patterns::kQwen2, patterns::kLlama3};

TEST(TokenizerSplitPatterns, KnownPatternsAreHandWritten) {
  for (std::string_view p : kAllKnown) EXPECT_NE(hand_written_split_pattern(p), nullptr) << p;
  EXPECT_EQ(hand_written_split_pattern(R"(\p{L}+)"), nullptr);
}

TEST(TokenizerSplitPatterns, SameMatchesAsPcre2) {
  std::mt19937 rng(1234);
  std::vector<std::string> texts = {
      "", "Hello world", "it's I'LL we'Re 'ſ 'KK", "  x\r\n\ty  \n\n ", "a  \u3000b", "1234567 ٣٤٥ ²³",
      "你好世界こんにちはカタカナ한국어", "café ñ e\u0301 \u0301x", "foo.bar(baz)->qux; /* c */ #include <x>",
      "  !!?\r\n\r\nend", "\u0085\u0085x\u00A0", "emoji 😀👍🏻 done", "\"quoted\" ,comma .Period",
  };
  for (int k = 0; k < 20000; ++k) texts.push_back(random_text(rng));
  for (std::string_view pattern : kAllKnown) {
    const auto fast = hand_written_split_pattern(pattern);
    const Pcre2Pattern pcre2(pattern);
    for (const std::string& t : texts) {
      ASSERT_EQ(all_matches(*fast, t), all_matches(pcre2, t)) << "pattern " << pattern << "\ntext " << t;
      ASSERT_EQ(isolated_pieces(*fast, t), isolated_pieces(pcre2, t)) << "pattern " << pattern << "\ntext " << t;
      // Searching from the middle of the text too (the Split steps resume after each match).
      if (t.size() > 2) {
        size_t from = t.size() / 2;
        while ((static_cast<unsigned char>(t[from]) & 0xC0) == 0x80) --from;
        size_t b1 = 0, e1 = 0, b2 = 0, e2 = 0;
        const bool f1 = fast->find(t, from, b1, e1), f2 = pcre2.find(t, from, b2, e2);
        ASSERT_EQ(f1, f2) << t;
        if (f1) {
          ASSERT_EQ(std::make_pair(b1, e1), std::make_pair(b2, e2)) << t;
        }
      }
    }
  }
}

TEST(TokenizerSplitPatterns, FusedDeepSeekSplitsEqualTheSequence) {
  std::mt19937 rng(99);
  const Pcre2Pattern digits(patterns::kDeepSeekDigits), cjk(patterns::kDeepSeekCjk), words(patterns::kDeepSeekWords);
  const DeepSeekV3Splitter fused_splitter;
  for (int k = 0; k < 20000; ++k) {
    const std::string t = k == 0 ? "abc 123456 你好12世界 カタ・カナ ゛ x1y 3.14" : random_text(rng);
    std::vector<std::string_view> pieces{t};
    for (const Pcre2Pattern* step : {&digits, &cjk, &words}) {
      std::vector<std::string_view> next;
      for (std::string_view p : pieces) step->split_isolated(p, next);
      pieces.swap(next);
    }
    std::vector<std::string_view> fused;
    fused_splitter.split(t, fused);
    ASSERT_EQ(fused, pieces) << t;
  }
}

TEST(TokenizerSplitPatterns, CharClassesArePcre2s) {
  const CharClasses& table = CharClasses::get();
  const struct {
    const char* pattern;
    CharClass bit;
  } kClasses[] = {{R"(\p{L})", kLetter}, {R"(\p{M})", kMark},   {R"(\p{N})", kNumber},
                  {R"(\p{P})", kPunct},  {R"(\p{S})", kSymbol}, {R"(\s)", kSpace}};
  for (const auto& [pattern, bit] : kClasses) {
    const Regex re(pattern, false, "test");
    // Every code point below U+3400 and a stride through the rest (every one would take seconds).
    for (char32_t cp = 0; cp <= 0x10FFFF; cp += cp < 0x3400 ? 1 : 7) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      const std::string s = utf8(std::u32string(1, cp));
      size_t b = 0, e = 0;
      ASSERT_EQ(re.find(s, 0, b, e), (table.of(cp) & bit) != 0) << pattern << " U+" << std::hex << uint32_t(cp);
    }
  }
  for (char32_t c = 0; c < 0x80; ++c) {  // the digit split's eight-bytes-at-a-time skip relies on this
    EXPECT_EQ((table.of(c) & kNumber) != 0, c >= '0' && c <= '9') << uint32_t(c);
  }
  EXPECT_EQ(table.ascii_fold(U'S'), 's');
  EXPECT_EQ(table.ascii_fold(U'\u017F'), 's');
  EXPECT_EQ(table.ascii_fold(U'\u212A'), 'k');
  EXPECT_EQ(table.ascii_fold(U'1'), 0);
  EXPECT_EQ(table.ascii_fold(U'é'), 0);
}

}  // namespace
}  // namespace r1::tok
