// r1 chat: an interactive conversation in the terminal. Each turn renders the whole history with the
// model's chat template, reuses the KV cache for the unchanged prefix, and streams the answer; the
// reasoning (<think>...</think>) is shown dimmed. Ctrl-C stops the current answer; /reset clears the
// history; /exit or end of input quits.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "chat/chat_template.h"
#include "chat/reasoning.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "runtime/model_text.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "runtime/generate.h"
#include "tokenizer/stream.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

namespace {

std::atomic<bool> g_generating{false};
std::atomic<bool> g_interrupted{false};

void on_sigint(int) {
  if (!g_generating.load()) {
    signal(SIGINT, SIG_DFL);
    raise(SIGINT);
  }
  g_interrupted.store(true);
}

}  // namespace

Runner add_chat(CLI::App& app) {
  struct Opts {
    std::string model, system, load, save;
    std::vector<std::string> vars;
    GenerateOptions gen;
    int64_t context = 4096;
    KvType cache_type = KvType::F32;
    MlaPrefill mla_prefill = MlaPrefill::Absorbed;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  o->gen.sampling.temperature = 0.6f;  // DeepSeek's recommendation for R1
  o->gen.sampling.top_p = 0.95f;
  o->gen.max_tokens = 2048;
  add_model_argument(app, o->model, "Model directory (with tokenizer.json and a chat template), or a .gguf file");
  app.add_option("--system", o->system, "System prompt");
  app.add_option("--load", o->load, "Start from the conversation in this JSON file (an array of messages)");
  app.add_option("--save", o->save, "Write the conversation to this JSON file after every turn");
  app.add_option("--var", o->vars, "Template variable NAME=VALUE (JSON value or string), e.g. thinking=true");
  app.add_option("-n,--max-tokens", o->gen.max_tokens, "Maximum tokens per answer")->check(CLI::PositiveNumber);
  add_sampling_options(app, o->gen.sampling);
  app.add_option("-c,--ctx", o->context, "Context length")->check(CLI::PositiveNumber);
  add_cache_type_option(app, o->cache_type);
  add_mla_prefill_option(app, o->mla_prefill);
  app.add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  return [o] {
    if (o->model.empty()) o->model = default_model_dir();
    validate(o->gen.sampling);
    std::optional<tok::Tokenizer> found = find_tokenizer(o->model);
    if (!found) fail("{}: no tokenizer (tokenizer.json, or GGUF tokenizer metadata); r1 chat needs it", o->model);
    const tok::Tokenizer tokenizer = std::move(*found);
    const chat::ChatTemplate tmpl(load_chat_template_for(o->model));
    chat::ChatRequest request;
    request.add_generation_prompt = true;
    for (const std::string& v : o->vars) {
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) fail("--var: '{}' is not NAME=VALUE", v);
      const std::string value = v.substr(eq + 1);
      request.vars[v.substr(0, eq)] = nlohmann::ordered_json::accept(value) ? nlohmann::ordered_json::parse(value)
                                                                              : nlohmann::ordered_json(value);
    }
    auto model = load_model(o->model);
    if (tokenizer.vocab_size() > model->config().vocab_size) {
      fail("{}: the tokenizer has {} ids but the model only {} embedding rows", o->model, tokenizer.vocab_size(),
           model->config().vocab_size);
    }
    ThreadPool pool(o->threads);
    Session session(*model, pool, {.context = o->context, .batch = 256, .cache_type = o->cache_type, .mla_prefill = o->mla_prefill});
    for (int64_t id : model->config().eos_token_ids) o->gen.stop_tokens.push_back(int32_t(id));
    if (const auto eos = tokenizer.eos_id()) o->gen.stop_tokens.push_back(*eos);

    const bool tty = isatty(STDOUT_FILENO);
    const char* dim = tty ? "\x1b[2m" : "";
    const char* plain = tty ? "\x1b[0m" : "";
    std::vector<int32_t> cached;  // the tokens whose K/V are in the session, in order
    auto reset = [&] {
      request.messages = nlohmann::ordered_json::array();
      if (!o->system.empty()) request.messages.push_back({{"role", "system"}, {"content", o->system}});
      session.reset();
      cached.clear();
    };
    reset();
    if (!o->load.empty()) {
      nlohmann::ordered_json loaded;
      try {
        loaded = nlohmann::ordered_json::parse(read_text_file(o->load));
      } catch (const nlohmann::json::exception& e) {
        fail("{}: not valid JSON: {}", o->load, e.what());
      }
      if (!loaded.is_array()) fail("{}: expected a JSON array of messages", o->load);
      for (const auto& m : loaded) {
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) fail("{}: every message needs a string 'role'", o->load);
        request.messages.push_back(m);
      }
    }
    auto save = [&] {
      if (o->save.empty()) return;
      std::ofstream out(o->save);
      out << request.messages.dump(2) << "\n";
      if (!out) fail("{}: cannot write the conversation", o->save);
    };
    signal(SIGINT, on_sigint);
    std::fprintf(stderr, "r1 chat: %s (%s). /reset clears the history, /exit quits, Ctrl-C stops an answer.\n",
                 o->model.c_str(), model->config().arch_name.c_str());

    std::string line;
    for (;;) {
      if (tty) std::printf("\n> ");
      std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
      if (line == "/exit" || line == "/quit") break;
      if (line == "/reset") {
        reset();
        std::printf("(history cleared)\n");
        continue;
      }
      if (line.empty()) continue;
      request.messages.push_back({{"role", "user"}, {"content", line}});
      const std::string prompt_text = tmpl.render(request);
      std::vector<int32_t> prompt = tokenizer.encode(prompt_text, false);

      // Reuse the cached prefix; prefill only what changed.
      size_t common = 0;
      while (common < cached.size() && common < prompt.size() && cached[common] == prompt[common]) ++common;
      if (common == prompt.size()) --common;  // at least one token must go through to get logits
      session.truncate(int64_t(common));
      cached.resize(common);
      const std::vector<int32_t> fresh(prompt.begin() + long(common), prompt.end());
      if (session.position() + int64_t(fresh.size()) >= session.context()) {
        std::printf("(the conversation no longer fits in the %lld-token context; /reset to start over)\n",
                    (long long)session.context());
        request.messages.erase(request.messages.end() - 1);
        continue;
      }

      // R1-style templates end the prompt inside <think>: the answer then starts with reasoning.
      chat::ReasoningParser::Options ro;
      ro.starts_in_reasoning = chat::starts_in_reasoning(prompt_text);
      chat::ReasoningParser reasoning(ro);
      tok::StreamDecoder decoder(tokenizer, /*skip_special=*/true);
      std::string answer;
      bool in_dim = false;
      auto show = [&](const chat::ReasoningDelta& d) {
        for (const bool is_reasoning : {true, false}) {
          const std::string& text = is_reasoning ? d.reasoning : d.content;
          if (text.empty()) continue;
          if (is_reasoning != in_dim) {
            if (!is_reasoning && tty) std::fputs("\n", stdout);  // on a terminal the answer starts on its own line
            std::fputs(is_reasoning ? dim : plain, stdout);
            in_dim = is_reasoning;
          }
          std::fputs(text.c_str(), stdout);
          if (!is_reasoning) answer += text;
        }
        std::fflush(stdout);
      };
      g_interrupted.store(false);
      g_generating.store(true);
      const GenerateResult r = generate(session, fresh, o->gen, [&](int32_t id) {
        show(reasoning.feed(decoder.push(id)));
        return !g_interrupted.load();
      });
      g_generating.store(false);
      show(reasoning.feed(decoder.finish()));
      show(reasoning.finish());
      if (in_dim) std::fputs(plain, stdout);
      if (r.reason == StopReason::Cancelled) std::printf(" [stopped]");
      std::printf("\n");
      cached.insert(cached.end(), fresh.begin(), fresh.end());
      cached.insert(cached.end(), r.tokens.begin(), r.tokens.end());
      // The cache now holds the generated tokens too, except the last one sampled (never fed).
      if (!r.tokens.empty() && int64_t(cached.size()) > session.position()) cached.resize(size_t(session.position()));
      request.messages.push_back({{"role", "assistant"}, {"content", answer}});
      save();
    }
    return 0;
  };
}

}  // namespace r1::cli
