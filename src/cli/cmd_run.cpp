#include <fmt/format.h>

#include <cstdio>
#include <optional>

#include "cli/commands.h"
#include "chat/chat_template.h"
#include "chat/reasoning.h"
#include "cli/common.h"
#include "runtime/model_text.h"
#include "core/error.h"
#include "runtime/generate.h"
#include "tokenizer/stream.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

Runner add_run(CLI::App& app) {
  struct Opts {
    std::string model, prompt, tokens;
    GenerateOptions gen;
    int64_t context = 4096;
    KvType cache_type = KvType::F32;
    MlaPrefill mla_prefill = MlaPrefill::Absorbed;
    int threads = 0;
    bool ids_only = false, ignore_eos = false, quiet = false, show_special = false, chat = false;
  };
  auto o = std::make_shared<Opts>();
  o->gen.sampling.temperature = 0.6f;  // DeepSeek's recommendation for R1
  add_model_argument(app, o->model, "Model directory or .gguf file");
  app.add_option("-p,--prompt", o->prompt, "Prompt text (needs the model's tokenizer)");
  app.add_option("--tokens", o->tokens, "Prompt as comma-separated token ids");
  app.add_option("-n,--max-tokens", o->gen.max_tokens, "Maximum tokens to generate")->check(CLI::NonNegativeNumber);
  add_sampling_options(app, o->gen.sampling);
  app.add_option("--stop", o->gen.stop_strings, "Stop when this text is generated (repeatable)");
  app.add_option("-c,--ctx", o->context, "Context length")->check(CLI::PositiveNumber);
  add_cache_type_option(app, o->cache_type);
  add_mla_prefill_option(app, o->mla_prefill);
  app.add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  app.add_flag("--ignore-eos", o->ignore_eos, "Keep generating past the end-of-sequence token");
  app.add_flag("--ids-only", o->ids_only, "Print only the generated ids, as one JSON array");
  app.add_flag("--show-special", o->show_special, "With --prompt: print special tokens in the output text too");
  app.add_flag("-q,--quiet", o->quiet, "No timing summary on stderr");
  app.add_flag("--chat", o->chat, "Send --prompt as a user message through the model's chat template (on with the default model)");
  return [o] {
    if (o->model.empty()) {
      o->model = default_model_dir();
      o->chat = true;  // the default model is a chat model: a raw prompt means nothing to it
    }
    if (o->chat && o->prompt.empty()) fail("--chat needs --prompt");
    if (o->prompt.empty() == o->tokens.empty()) fail("give exactly one of --prompt and --tokens");
    // The tokenizer (when the model has one) encodes --prompt, prints the output as text, and matches
    // --stop strings; --tokens keeps printing ids, which the numeric tests rely on.
    std::optional<tok::Tokenizer> tokenizer;
    if (!o->prompt.empty() || !o->gen.stop_strings.empty()) tokenizer = find_tokenizer(o->model);
    if (tokenizer) {
      o->gen.piece = [&t = *tokenizer](int32_t id) { return std::string(t.id_to_bytes(id)); };
    } else if (!o->prompt.empty()) {
      fail("{}: no tokenizer (tokenizer.json, or GGUF tokenizer metadata), so --prompt cannot be encoded; pass --tokens", o->model);
    }
    const bool text_out = !o->prompt.empty() && !o->ids_only;
    validate(o->gen.sampling);
    std::vector<int32_t> prompt;
    if (o->chat) {  // the template writes the special tokens (BOS) itself
      chat::ChatRequest request;
      request.add_generation_prompt = true;
      request.messages.push_back({{"role", "user"}, {"content", o->prompt}});
      const std::string text = chat::ChatTemplate(load_chat_template_for(o->model)).render(request);
      prompt = tokenizer->encode(text, false);
      if (text_out && chat::starts_in_reasoning(text)) std::printf("<think>");  // the template opened the thought
    } else {
      prompt = o->prompt.empty() ? parse_token_list(o->tokens) : tokenizer->encode(o->prompt, true);
    }
    std::optional<tok::StreamDecoder> stream;
    if (text_out) stream.emplace(*tokenizer, !o->show_special);
    auto model = load_model(o->model, o->quiet || o->ids_only);
    ThreadPool pool(o->threads);
    Session session(*model, pool, {.context = o->context, .batch = 256, .cache_type = o->cache_type, .mla_prefill = o->mla_prefill});
    if (!o->ignore_eos) {
      for (int64_t id : model->config().eos_token_ids) o->gen.stop_tokens.push_back(int32_t(id));
    }
    if (int64_t(prompt.size()) > session.context()) {
      fail("the prompt has {} tokens but the context length is {}", prompt.size(), session.context());
    }
    const GenerateResult r = generate(session, prompt, o->gen, [&](int32_t token) {
      if (stream) {
        const std::string delta = stream->push(token);
        std::fwrite(delta.data(), 1, delta.size(), stdout);
        std::fflush(stdout);
      } else if (!o->ids_only) {
        std::printf("%d ", token);
        std::fflush(stdout);
      }
      return true;
    });
    if (o->ids_only) {
      std::string out = "[";
      for (size_t i = 0; i < r.tokens.size(); ++i) out += fmt::format("{}{}", i ? "," : "", r.tokens[i]);
      std::printf("%s]\n", out.c_str());
    } else {
      if (stream) {
        const std::string rest = stream->finish();
        std::fwrite(rest.data(), 1, rest.size(), stdout);
      }
      std::printf("\n");
    }
    std::fflush(stdout);  // the text ends before the summary on stderr begins
    if (!o->quiet) {
      std::fprintf(stderr, "prompt %zu tokens in %.3f s (%.1f tok/s), generated %zu tokens in %.3f s (%.1f tok/s), stop: %s\n",
                   prompt.size(), r.prefill_seconds, double(prompt.size()) / std::max(1e-9, r.prefill_seconds),
                   r.tokens.size(), r.decode_seconds, double(r.tokens.size()) / std::max(1e-9, r.decode_seconds),
                   std::string(stop_reason_name(r.reason)).c_str());
    }
    return 0;
  };
}

}  // namespace r1::cli
