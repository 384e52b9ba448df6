// r1 tokenize MODEL_DIR "text"            ids and pieces, one token per line
// r1 tokenize MODEL_DIR --decode 1,2,3 [--skip-special]   the text of ids
// r1 tokenize MODEL_DIR --jsonl [--add-special]
//     reads one JSON string per stdin line, prints one JSON array of ids per line (the interface of
//     the exactness tests against the Hugging Face oracle)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "runtime/model_text.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {
namespace {

// Reads every JSON line first, then times only the encoding (the loader and JSON parsing are excluded).
int bench(const tok::Tokenizer& t, bool add_special) {
  std::vector<std::string> texts;
  std::string line;
  size_t bytes = 0;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    texts.push_back(nlohmann::json::parse(line).get<std::string>());
    bytes += texts.back().size();
  }
  // Wall time, and this thread's CPU time, which stays meaningful on a machine busy with other work.
  const auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
  };
  size_t tokens = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_now();
  for (const std::string& text : texts) tokens += t.encode(text, add_special).size();
  const double cpu = cpu_now() - c0;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("r1: %zu lines, %.2f MB, %zu tokens: wall %.3f s = %.1f MB/s, cpu %.3f s = %.1f MB/s\n", texts.size(),
              bytes / 1e6, tokens, seconds, bytes / 1e6 / std::max(seconds, 1e-9), cpu, bytes / 1e6 / std::max(cpu, 1e-9));
  return 0;
}

}  // namespace

Runner add_tokenize(CLI::App& app) {
  struct Opts {
    std::string dir, text, decode;
    bool jsonl = false, add_special = false, check_roundtrip = false, bench = false, skip_special = false;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("model", o->dir, "Model directory (or any directory with tokenizer.json), or a .gguf file")->required();
  app.add_option("text", o->text, "Text to tokenize");
  app.add_flag("--jsonl", o->jsonl, "Read one JSON string per stdin line, print one JSON array of ids per line");
  app.add_flag("--add-special", o->add_special, "Add BOS/EOS as the tokenizer config says");
  app.add_flag("--check-roundtrip", o->check_roundtrip,
               "With --jsonl: fail on the first line where decode(encode(x)) differs from normalize(x)");
  app.add_option("--decode", o->decode, "Print the text of these comma-separated ids instead");
  app.add_flag("--skip-special", o->skip_special, "With --decode: leave special tokens out");
  app.add_flag("--bench", o->bench,
               "With --jsonl: print nothing per line, only the encode throughput (one thread) on stderr");
  return [o] {
    const tok::Tokenizer t = load_tokenizer(o->dir);
    if (!o->decode.empty()) {
      const std::string text = t.decode(parse_token_list(o->decode), o->skip_special);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::printf("\n");
      return 0;
    }
    if (!o->jsonl) {
      const std::vector<int32_t> ids = t.encode(o->text, o->add_special);
      for (int32_t id : ids) {
        const nlohmann::json piece = t.id_to_piece(id);
        std::printf("%d\t%s\n", id, piece.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      }
      return 0;
    }
    if (o->bench) return bench(t, o->add_special);
    std::string line, out;
    for (size_t n = 1; std::getline(std::cin, line); ++n) {
      if (line.empty()) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        fail("stdin line {}: not valid JSON: {}", n, e.what());
      }
      if (!j.is_string()) fail("stdin line {}: expected a JSON string", n);
      const std::string& text = j.get_ref<const std::string&>();
      const std::vector<int32_t> ids = t.encode(text, o->add_special);
      out.clear();
      out += '[';
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(ids[i]);
      }
      out += "]\n";
      std::fwrite(out.data(), 1, out.size(), stdout);
      if (o->check_roundtrip) {
        const std::string back = t.decode(ids, false), want = t.normalize(text);
        // With --add-special the BOS/EOS text is part of the decoded string; compare without it.
        const std::string bare = o->add_special ? t.decode(t.encode(text, false), false) : back;
        if (bare != want) {
          fail("stdin line {}: decode(encode(x)) != x: got {} want {}", n,
               nlohmann::json(bare).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
               nlohmann::json(want).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        }
      }
    }
    std::fflush(stdout);
    return 0;
  };
}

}  // namespace r1::cli
