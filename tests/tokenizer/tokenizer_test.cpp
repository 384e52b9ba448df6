// Unit tests of the tokenizer parts that need no downloaded files: the byte map, UTF-8 repair, the
// added-token splitter, BPE merges, the regex semantics, the streaming detokenizer and load errors.
// (Exactness on the real vocabularies is check_exact.py, against the npm oracle.)
#include <gtest/gtest.h>

#include <deque>
#include <random>

#include "core/error.h"
#include "small_tokenizer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/stream.h"
#include "tokenizer/tokenizer.h"
#include "core/utf8.h"

namespace r1::tok {
namespace {

Tokenizer small() {
  return Tokenizer::from_json(testing::small_tokenizer_json().dump(), testing::small_tokenizer_config(), "small");
}

int32_t id_of(const Tokenizer& t, const std::string& piece) {
  auto id = t.token_to_id(piece);
  EXPECT_TRUE(id.has_value()) << piece;
  return id.value_or(-1);
}

TEST(TokenizerByteMap, Gpt2Mapping) {
  EXPECT_EQ(byte_to_unicode(' '), U'Ġ');
  EXPECT_EQ(byte_to_unicode('\n'), U'Ċ');
  EXPECT_EQ(byte_to_unicode('\t'), U'ĉ');
  EXPECT_EQ(byte_to_unicode('A'), U'A');
  EXPECT_EQ(byte_to_unicode(0xE9), U'é');  // printable Latin-1 maps to itself
  EXPECT_EQ(byte_to_unicode(0x00), char32_t(0x100));
  EXPECT_EQ(byte_to_unicode(0xAD), char32_t(0x143));  // soft hyphen is the last remapped byte
  for (int b = 0; b < 256; ++b) EXPECT_EQ(unicode_to_byte(byte_to_unicode(uint8_t(b))), uint8_t(b));
  EXPECT_FALSE(unicode_to_byte(U'｜').has_value());
  EXPECT_EQ(bytes_to_byte_level("你好"), "ä½łå¥½");
  EXPECT_EQ(byte_level_to_bytes("ä½łå¥½").value(), "你好");
  EXPECT_FALSE(byte_level_to_bytes("<｜User｜>").has_value());
}

TEST(TokenizerUtf8, LossyReplacesMaximalSubparts) {
  EXPECT_TRUE(utf8_valid("héllo 你好 😀"));
  EXPECT_FALSE(utf8_valid("\xC0\xAF"));      // overlong
  EXPECT_FALSE(utf8_valid("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(utf8_valid("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_EQ(utf8_lossy("a\xFF" "b"), "a\uFFFD" "b");
  EXPECT_EQ(utf8_lossy("\xE4\xBD"), "\uFFFD");          // truncated: one U+FFFD for the subpart
  EXPECT_EQ(utf8_lossy("\xE4\xBD" "A"), "\uFFFD" "A");
  EXPECT_EQ(utf8_lossy("\xC0\xAF"), "\uFFFD\uFFFD");     // C0 is never valid: two subparts
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(utf8_lossy("\xF0\x9F\x98"), "\uFFFD");
  EXPECT_EQ(utf8_complete_prefix("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(utf8_complete_prefix("ab\xFF"), 3u);  // invalid, not incomplete: nothing to wait for
  EXPECT_EQ(utf8_complete_prefix("ab\xE4\xBD\xA0"), 5u);
}

TEST(TokenizerRegex, UnicodeClassesAndLookahead) {
  size_t b = 0, e = 0;
  Regex ws(R"(\s+(?!\S)|\s+)", false, "test");
  ASSERT_TRUE(ws.find("a\xC2\x85" "b", 0, b, e));  // U+0085 NEL is \s, as in Oniguruma (HF tokenizers)
  EXPECT_EQ(b, 1u);
  EXPECT_EQ(e, 3u);
  ASSERT_TRUE(ws.find("x   y", 0, b, e));  // all but the last space: it goes with the next word
  EXPECT_EQ(e - b, 2u);
  Regex letters(R"(\p{L}+)", false, "test");
  ASSERT_TRUE(letters.find("12안녕3", 0, b, e));
  EXPECT_EQ(b, 2u);
  EXPECT_EQ(e, 8u);
  Regex ci(R"((?i:'s|'ll))", false, "test");
  ASSERT_TRUE(ci.find("IT'S", 0, b, e));
  EXPECT_EQ(b, 2u);
  EXPECT_THROW(Regex("(", false, "tokenizer.json: pattern"), Error);
}

TEST(TokenizerEncode, MergesAndRoundTrip) {
  const Tokenizer t = small();
  EXPECT_EQ(t.encode("hello world"), (std::vector<int32_t>{id_of(t, "hello"), id_of(t, "Ġworld")}));
  EXPECT_EQ(t.encode("123"), (std::vector<int32_t>{id_of(t, "12"), id_of(t, "3")}));
  for (std::string s : {"hello world", "  x\r\n\ty ", "안녕하세요 😀👨‍👩‍👧", "", "<think>hello</think>"}) {
    EXPECT_EQ(t.decode(t.encode(s)), s) << s;
  }
}

TEST(TokenizerEncode, AddedTokensSplitFirstLongestMatch) {
  const Tokenizer t = small();
  const int32_t think = id_of(t, "<think>"), think_long = id_of(t, "<think>long");
  const auto ids = t.encode("a<think>longer<think>");
  // Longest match wins: "<think>long" rather than "<think>", then "er", then "<think>".
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_EQ(ids[0], id_of(t, "a"));
  EXPECT_EQ(ids[1], think_long);
  EXPECT_EQ(ids[4], think);
  EXPECT_EQ(t.decode(ids), "a<think>longer<think>");
}

TEST(TokenizerEncode, AddedTokenFlags) {
  const Tokenizer t = small();
  const int32_t L = id_of(t, "<L>"), R = id_of(t, "<R>"), word = id_of(t, "word");
  // lstrip swallows spaces on the left, rstrip on the right.
  EXPECT_EQ(t.encode("a  <L>"), (std::vector<int32_t>{id_of(t, "a"), L}));
  EXPECT_EQ(t.encode("<R>  b"), (std::vector<int32_t>{R, id_of(t, "b")}));
  // single_word: only a match with no letter or digit around it counts.
  EXPECT_EQ(t.encode("word"), (std::vector<int32_t>{word}));
  EXPECT_EQ(t.encode("a word."), (std::vector<int32_t>{id_of(t, "a"), id_of(t, "Ġ"), word, id_of(t, ".")}));
  const auto inside = t.encode("swordfish");
  EXPECT_EQ(std::find(inside.begin(), inside.end(), word), inside.end());
}

TEST(TokenizerEncode, SpecialTokensAndBos) {
  const Tokenizer t = small();
  const int32_t bos = id_of(t, "<s>"), eos = id_of(t, "</s>");
  EXPECT_EQ(t.bos_id(), bos);
  EXPECT_EQ(t.eos_id(), eos);
  EXPECT_TRUE(t.is_special(bos));
  EXPECT_FALSE(t.is_special(id_of(t, "<think>")));
  EXPECT_EQ(t.encode("hello", true), (std::vector<int32_t>{bos, id_of(t, "hello")}));
  EXPECT_EQ(t.encode("<s>hello"), (std::vector<int32_t>{bos, id_of(t, "hello")}));  // recognised in text
  EXPECT_EQ(t.decode(std::vector<int32_t>{bos, id_of(t, "hello"), eos}, true), "hello");
  EXPECT_EQ(t.decode(std::vector<int32_t>{bos, id_of(t, "hello"), eos}, false), "<s>hello</s>");
  EXPECT_EQ(t.decode(std::vector<int32_t>{99999, -1}), "");  // unknown ids (embedding padding) decode to nothing
}

TEST(TokenizerEncode, InvalidUtf8IsRepairedLikeFromUtf8Lossy) {
  const Tokenizer t = small();
  EXPECT_EQ(t.encode("a\xFF" "b"), t.encode("a\uFFFD" "b"));
  EXPECT_EQ(t.encode("\xE4\xBD"), t.encode("\uFFFD"));
  EXPECT_EQ(t.decode(t.encode("x\xC0\xAFy")), "x\uFFFD\uFFFDy");
}

TEST(TokenizerStream, DeltasNeverSplitCharactersAndMatchDecode) {
  const Tokenizer t = small();
  const std::string text = "<s>héllo 你好 <think>😀👨‍👩‍👧 world</s>\xE4\xBD";
  const std::vector<int32_t> ids = t.encode(text);
  for (bool skip : {false, true}) {
    StreamDecoder stream(t, skip);
    std::string all;
    for (int32_t id : ids) {
      const std::string delta = stream.push(id);
      EXPECT_TRUE(utf8_valid(delta));
      all += delta;
    }
    all += stream.finish();
    EXPECT_EQ(all, t.decode(ids, skip)) << "skip_special=" << skip;
    EXPECT_EQ(all, stream.text());
  }
  // Byte tokens of one character: nothing until the last byte arrives.
  StreamDecoder s(t);
  const std::vector<int32_t> bytes = t.encode("你");
  ASSERT_EQ(bytes.size(), 3u);
  EXPECT_EQ(s.push(bytes[0]), "");
  EXPECT_EQ(s.push(bytes[1]), "");
  EXPECT_EQ(s.push(bytes[2]), "你");
}

TEST(TokenizerStream, RandomIdsMatchDecode) {
  const Tokenizer t = small();
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<int32_t> ids(rng() % 20);
    for (auto& id : ids) id = int32_t(rng() % uint32_t(t.vocab_size() + 3));
    StreamDecoder s(t, round % 2);
    std::string all;
    for (int32_t id : ids) all += s.push(id);
    all += s.finish();
    EXPECT_EQ(all, t.decode(ids, round % 2));
  }
}

std::vector<std::string> pre_split(const nlohmann::json& config, const std::string& text) {
  bool byte_level = false;
  auto p = make_pre_tokenizer(config, "test", byte_level);
  std::vector<std::string_view> pieces{text};
  std::deque<std::string> storage;
  p->split(pieces, storage);
  return {pieces.begin(), pieces.end()};
}

TEST(TokenizerPreTokenizer, SplitBehaviorsAsTokenizersDefines) {
  using V = std::vector<std::string>;
  auto split = [](const char* behavior, bool invert, const nlohmann::json& pattern) {
    return nlohmann::json{{"type", "Split"}, {"pattern", pattern}, {"behavior", behavior}, {"invert", invert}};
  };
  const nlohmann::json dash = {{"String", "-"}};
  // The examples of tokenizers' SplitDelimiterBehavior docs, on "the-final--countdown".
  const std::string text = "the-final--countdown";
  EXPECT_EQ(pre_split(split("Removed", false, dash), text), (V{"the", "final", "countdown"}));
  EXPECT_EQ(pre_split(split("Isolated", false, dash), text), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pre_split(split("MergedWithPrevious", false, dash), text), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pre_split(split("MergedWithNext", false, dash), text), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pre_split(split("Contiguous", false, dash), text), (V{"the", "-", "final", "--", "countdown"}));
  // invert: the pattern describes the pieces to keep.
  EXPECT_EQ(pre_split(split("Removed", true, {{"Regex", "[a-z]+"}}), "ab, cd!"), (V{"ab", "cd"}));
  // Digits and ByteLevel's prefix space / GPT-2 regex.
  EXPECT_EQ(pre_split({{"type", "Digits"}, {"individual_digits", true}}, "a12"), (V{"a", "1", "2"}));
  EXPECT_EQ(pre_split({{"type", "Digits"}, {"individual_digits", false}}, "a12b"), (V{"a", "12", "b"}));
  EXPECT_EQ(pre_split({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}, "hello world's"),
            (V{" hello", " world", "'s"}));
}

TEST(TokenizerLoad, MalformedFilesAreOneClearError) {
  auto message = [](const std::string& json) {
    try {
      Tokenizer::from_json(json, "", "tokenizer.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("{").find("tokenizer.json: not valid JSON"), std::string::npos);
  EXPECT_NE(message("[]").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(message("{}").find("missing \"model\""), std::string::npos);
  auto j = testing::small_tokenizer_json();
  j["model"]["merges"][0] = "nospace";
  EXPECT_NE(message(j.dump()).find("merges[0]"), std::string::npos);
  j = testing::small_tokenizer_json();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(";
  EXPECT_NE(message(j.dump()).find("does not compile"), std::string::npos);
  j = testing::small_tokenizer_json();
  j["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_NE(message(j.dump()).find("unsupported normalizer type \"Lowercase\""), std::string::npos);
  j = testing::small_tokenizer_json();
  j["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"h", "e"})});  // new [a, b] format
  EXPECT_EQ(message(j.dump()), "no error");
}

TEST(TokenizerLoad, NfcNormalizer) {
  auto j = testing::small_tokenizer_json();
  j["normalizer"] = {{"type", "NFC"}};
  const Tokenizer t = Tokenizer::from_json(j.dump(), "", "nfc");
  EXPECT_EQ(t.encode("e\u0301"), t.encode("\u00e9"));
  EXPECT_EQ(t.decode(t.encode("e\u0301")), "\u00e9");
  EXPECT_EQ(t.normalize("e\u0301<think>"), "\u00e9<think>");
}

}  // namespace
}  // namespace r1::tok
