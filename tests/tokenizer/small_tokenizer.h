// A small, fixed byte-level BPE tokenizer.json for unit tests and the fuzz target: all 256 byte
// tokens, a few merges, added tokens with every flag, a Split + ByteLevel pre-tokenizer.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"

namespace r1::tok::testing {

inline nlohmann::json small_tokenizer_json() {
  using nlohmann::json;
  json vocab = json::object();
  int id = 0;
  for (int b = 0; b < 256; ++b) {
    const char c = char(b);
    vocab[bytes_to_byte_level(std::string(1, c))] = id++;
  }
  // Merges build "hello", "Ġworld" and "12".
  const char* merges[][2] = {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"o", "r"},
                             {"Ġw", "or"}, {"l", "d"}, {"Ġwor", "ld"}, {"1", "2"}};
  json merge_list = json::array();
  for (auto& m : merges) {
    vocab[std::string(m[0]) + m[1]] = id++;
    merge_list.push_back(std::string(m[0]) + " " + m[1]);
  }
  auto added = [&](const char* content, bool special, bool lstrip, bool rstrip, bool single_word) {
    return json{{"id", id++},         {"content", content},   {"special", special},          {"lstrip", lstrip},
                {"rstrip", rstrip},   {"normalized", false},  {"single_word", single_word}};
  };
  json added_tokens = json::array();
  added_tokens.push_back(added("<s>", true, false, false, false));
  added_tokens.push_back(added("</s>", true, false, false, false));
  added_tokens.push_back(added("<think>", false, false, false, false));
  added_tokens.push_back(added("<think>long", false, false, false, false));
  added_tokens.push_back(added("<L>", true, true, false, false));
  added_tokens.push_back(added("<R>", true, false, true, false));
  added_tokens.push_back(added("word", false, false, false, true));
  return json{
      {"version", "1.0"},
      {"added_tokens", added_tokens},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"},
                       {"pattern", {{"Regex", R"( ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}}},
                       {"behavior", "Isolated"},
                       {"invert", false}},
                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}},
  };
}

inline std::string small_tokenizer_config() {
  return R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>", "add_bos_token": true})";
}

}  // namespace r1::tok::testing
