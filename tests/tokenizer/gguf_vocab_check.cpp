// gguf_vocab_check DIR LINES.jsonl
//
// The GGUF round trip of a real vocabulary: gguf_vocab_from_dir(DIR) -> tokenizer_from_gguf() must
// encode every line of LINES.jsonl (one JSON string per line) to the same ids as
// Tokenizer::from_dir(DIR), with and without special tokens, and decode them to the same text, with
// and without skipping special tokens. Also checks that the pre-tokenizer's splits run on the
// hand-written matchers (split_patterns.h), since the real files are at hand here. Prints one
// summary line; exit code 1 and the first difference when there is one.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/split_patterns.h"
#include "tokenizer/tokenizer.h"

namespace {

using r1::tok::Tokenizer;

std::string ids_text(const std::vector<int32_t>& ids) {
  nlohmann::json list = ids;
  return list.dump();
}

// Every Split pattern of DIR/tokenizer.json must have a hand-written matcher.
bool splits_hand_written(const std::string& dir) {
  std::ifstream in(dir + "/tokenizer.json");
  const nlohmann::json root = nlohmann::json::parse(in);
  const nlohmann::json pre = root.value("pre_tokenizer", nlohmann::json());
  for (const auto& step : pre.value("pretokenizers", nlohmann::json::array())) {
    if (step.value("type", "") != "Split") continue;
    const std::string pattern = step["pattern"].value("Regex", "");
    if (!r1::tok::hand_written_split_pattern(pattern)) {
      std::printf("FAILED %s: Split pattern %s runs on PCRE2, not on a hand-written matcher\n", dir.c_str(),
                  nlohmann::json(pattern).dump().c_str());
      return false;
    }
  }
  return true;
}

int check(const std::string& dir, const std::string& lines_path) {
  const Tokenizer direct = Tokenizer::from_dir(dir);
  const r1::tok::GgufVocab vocab = r1::tok::gguf_vocab_from_dir(dir);
  const Tokenizer via_gguf = r1::tok::tokenizer_from_gguf(vocab);
  if (direct.bos_id() != via_gguf.bos_id() && direct.bos_id()) {
    std::printf("FAILED %s: BOS %d vs %d\n", dir.c_str(), direct.bos_id().value_or(-1), via_gguf.bos_id().value_or(-1));
    return 1;
  }
  std::ifstream in(lines_path);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::string text = nlohmann::json::parse(line).get<std::string>();
    ++n;
    for (bool special : {false, true}) {
      const std::vector<int32_t> want = direct.encode(text, special), got = via_gguf.encode(text, special);
      if (want != got) {
        std::printf("FAILED %s line %zu (add_special=%d): %s\n  tokenizer.json: %s\n  via GGUF:       %s\n", dir.c_str(),
                    n, int(special), nlohmann::json(text).dump().c_str(), ids_text(want).c_str(), ids_text(got).c_str());
        return 1;
      }
      for (bool skip : {false, true}) {
        if (direct.decode(want, skip) != via_gguf.decode(got, skip)) {
          std::printf("FAILED %s line %zu: decode (skip_special=%d) differs\n", dir.c_str(), n, int(skip));
          return 1;
        }
      }
    }
  }
  if (!splits_hand_written(dir)) return 1;
  std::printf("%s: pre \"%s\", %zu GGUF tokens, %zu merges; %zu lines encode and decode identically via GGUF\n",
              dir.c_str(), vocab.pre.c_str(), vocab.tokens.size(), vocab.merges.size(), n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: gguf_vocab_check DIR LINES.jsonl\n");
    return 2;
  }
  try {
    return check(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::printf("FAILED: %s\n", e.what());
    return 1;
  }
}
