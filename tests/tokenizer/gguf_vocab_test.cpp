// The tokenizer from GGUF metadata and back (gguf_vocab.h), on small hand-made vocabularies; the real
// ones are checked line by line by check_gguf_vocab.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "small_tokenizer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/split_patterns.h"

namespace r1::tok {
namespace {

// 256 byte tokens, merges building "hello" and "Ġworld", then a CONTROL, a USER_DEFINED and an
// UNUSED token.
GgufVocab small_vocab(const std::string& pre) {
  GgufVocab v;
  v.model = "gpt2";
  v.pre = pre;
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(bytes_to_byte_level(std::string(1, char(b))));
    v.token_types.push_back(kGgufNormal);
  }
  const char* merges[][2] = {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"},
                             {"o", "r"}, {"Ġw", "or"}, {"l", "d"}, {"Ġwor", "ld"}};
  for (auto& m : merges) {
    v.tokens.push_back(std::string(m[0]) + m[1]);
    v.token_types.push_back(kGgufNormal);
    v.merges.push_back(std::string(m[0]) + " " + m[1]);
  }
  v.tokens.push_back("<|begin|>");
  v.token_types.push_back(kGgufControl);
  v.tokens.push_back("<think>");
  v.token_types.push_back(kGgufUserDefined);
  v.tokens.push_back("[PAD267]");
  v.token_types.push_back(kGgufUnused);
  v.bos_id = 265;
  v.add_bos = true;
  return v;
}

std::string error_of(const GgufVocab& v) {
  try {
    tokenizer_from_gguf(v);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(TokenizerGguf, EncodesWithAddedTokensAndBos) {
  const Tokenizer t = tokenizer_from_gguf(small_vocab("llama-bpe"));
  const int32_t hello = 259, world = 264, begin = 265, think = 266;
  EXPECT_EQ(t.encode("hello world"), (std::vector<int32_t>{hello, world}));
  EXPECT_EQ(t.encode("hello<think> world<|begin|>", true), (std::vector<int32_t>{begin, hello, think, world, begin}));
  EXPECT_TRUE(t.is_special(begin));
  EXPECT_FALSE(t.is_special(think));
  EXPECT_TRUE(t.is_added(think));
  EXPECT_EQ(t.bos_id(), begin);
  EXPECT_EQ(t.decode(std::vector<int32_t>{hello, think, begin}, true), "hello<think>");
  EXPECT_EQ(t.decode(std::vector<int32_t>{hello, 267}), "hello");  // the UNUSED padding row is no token
  EXPECT_EQ(t.vocab_size(), 267);
}

TEST(TokenizerGguf, UnknownModelOrPreIsAnErrorNamingTheField) {
  GgufVocab v = small_vocab("falcon");
  EXPECT_NE(error_of(v).find("tokenizer.ggml.pre: \"falcon\" is not supported"), std::string::npos) << error_of(v);
  v = small_vocab("default");
  EXPECT_NE(error_of(v).find("tokenizer.ggml.pre: \"default\""), std::string::npos) << error_of(v);
  v = small_vocab("deepseek-v3");
  v.model = "llama";
  EXPECT_NE(error_of(v).find("tokenizer.ggml.model: \"llama\""), std::string::npos) << error_of(v);
}

TEST(TokenizerGguf, InconsistentMetadataIsAnError) {
  GgufVocab v = small_vocab("qwen2");
  v.token_types[3] = 9;
  EXPECT_NE(error_of(v).find("tokenizer.ggml.token_type[3]: 9"), std::string::npos) << error_of(v);
  v = small_vocab("qwen2");
  v.bos_id = 267;  // the UNUSED row
  EXPECT_NE(error_of(v).find("tokenizer.ggml.bos_token_id: 267"), std::string::npos) << error_of(v);
  v = small_vocab("qwen2");
  v.token_types.pop_back();
  EXPECT_NE(error_of(v).find("tokenizer.ggml.token_type: 267 entries for 268 tokens"), std::string::npos)
      << error_of(v);
  v = small_vocab("qwen2");
  v.merges.push_back("x nope");
  EXPECT_NE(error_of(v).find("merges[9]"), std::string::npos) << error_of(v);
}

class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("r1_gguf_vocab_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }

 private:
  std::filesystem::path path_;
};

TEST(TokenizerGguf, FromDirRoundTrip) {
  // The small test tokenizer with Qwen2's pre-tokenizer and normalizer, so that it is a known "pre".
  nlohmann::json tj = testing::small_tokenizer_json();
  tj["pre_tokenizer"] = {{"type", "Sequence"},
                         {"pretokenizers",
                          nlohmann::json::array({{{"type", "Split"},
                                                  {"pattern", {{"Regex", std::string(patterns::kQwen2)}}},
                                                  {"behavior", "Isolated"},
                                                  {"invert", false}},
                                                 {{"type", "ByteLevel"},
                                                  {"add_prefix_space", false},
                                                  {"trim_offsets", false},
                                                  {"use_regex", false}}})}};
  tj["normalizer"] = {{"type", "NFC"}};
  for (auto& a : tj["added_tokens"]) a["lstrip"] = a["rstrip"] = a["single_word"] = false;  // GGUF has no such flags
  const TempDir dir;
  dir.write("tokenizer.json", tj.dump());
  nlohmann::json config = nlohmann::json::parse(testing::small_tokenizer_config());
  config["chat_template"] = nlohmann::json::array({{{"name", "tool_use"}, {"template", "T"}},
                                                   {{"name", "default"}, {"template", "D"}}});
  dir.write("tokenizer_config.json", config.dump());
  dir.write("config.json", R"({"vocab_size": 300})");

  const GgufVocab v = gguf_vocab_from_dir(dir.path());
  EXPECT_EQ(v.model, "gpt2");
  EXPECT_EQ(v.pre, "qwen2");
  ASSERT_EQ(v.tokens.size(), 300u);  // padded to the embedding rows
  EXPECT_EQ(v.tokens[299], "[PAD299]");
  EXPECT_EQ(v.token_types[299], kGgufUnused);
  EXPECT_EQ(v.merges.size(), 10u);
  EXPECT_EQ(v.merges[0], "h e");
  EXPECT_EQ(v.chat_template, "D");
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);

  const Tokenizer direct = Tokenizer::from_dir(dir.path()), via_gguf = tokenizer_from_gguf(v);
  ASSERT_TRUE(v.bos_id.has_value());
  EXPECT_EQ(v.token_types[size_t(*v.bos_id)], kGgufControl);
  const int32_t think = direct.token_to_id("<think>").value();
  EXPECT_EQ(v.token_types[size_t(think)], kGgufUserDefined);
  for (std::string text : {"hello world", "<s>a <think> 12 word</s>", "  x\r\n\ty ", "e\u0301 안녕", ""}) {
    for (bool special : {false, true}) {
      EXPECT_EQ(via_gguf.encode(text, special), direct.encode(text, special)) << text;
      EXPECT_EQ(via_gguf.decode(direct.encode(text, special), true), direct.decode(direct.encode(text, special), true));
    }
  }
}

TEST(TokenizerGguf, FromDirRejectsAddedTokenFlagsGgufCannotCarry) {
  nlohmann::json tj = testing::small_tokenizer_json();
  tj["pre_tokenizer"] = {{"type", "Sequence"},
                         {"pretokenizers", nlohmann::json::array({{{"type", "Split"},
                                                                   {"pattern", {{"Regex", std::string(patterns::kLlama3)}}},
                                                                   {"behavior", "Isolated"}},
                                                                  {{"type", "ByteLevel"},
                                                                   {"add_prefix_space", false},
                                                                   {"use_regex", false}}})}};
  tj["model"]["ignore_merges"] = true;
  const TempDir dir;
  dir.write("tokenizer.json", tj.dump());
  try {
    gguf_vocab_from_dir(dir.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("added token \"<L>\" has \"lstrip\": true"), std::string::npos) << e.what();
  }
}

TEST(TokenizerGguf, FromDirWithAnUnknownPreTokenizerNamesTheFile) {
  const TempDir dir;
  dir.write("tokenizer.json", testing::small_tokenizer_json().dump());  // a GPT-2-like split: no GGUF name
  try {
    gguf_vocab_from_dir(dir.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json: pre_tokenizer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("deepseek-v3, qwen2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace r1::tok
