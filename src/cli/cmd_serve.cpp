// r1 serve: the OpenAI-compatible HTTP server (src/server/) over one model, with continuous batching
// (runtime/scheduler.h). Binds 127.0.0.1 unless --host says otherwise; logs no prompt text unless
// --log-prompts. SIGINT / SIGTERM stop it cleanly.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "runtime/model_text.h"
#include "runtime/scheduler.h"
#include "server/completion.h"
#include "server/http_server.h"
#include "server/json_constraint.h"

namespace r1::cli {

namespace {

// The name clients use in "model": the directory's or file's name without .gguf.
std::string default_model_id(const std::string& path) {
  std::filesystem::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  std::string name = p.filename().string();
  if (name.size() > 5 && name.ends_with(".gguf")) name.resize(name.size() - 5);
  return name.empty() ? "r1" : name;
}

}  // namespace

Runner add_serve(CLI::App& app) {
  struct Opts {
    std::string model, alias;
    server::ServerOptions http;
    SchedulerOptions sched;
    int threads = 0;
    double max_body_mb = 8;
  };
  auto o = std::make_shared<Opts>();
  o->sched.parallel = 4;
  add_model_argument(app, o->model, "Model directory (with tokenizer.json and a chat template), or a .gguf file");
  app.add_option("--host", o->http.host, "Address to listen on (default 127.0.0.1: this machine only)");
  app.add_option("--port", o->http.port, "Port (0: any free port; the chosen one is printed)")->check(CLI::Range(0, 65535));
  app.add_option("--parallel", o->sched.parallel, "Sequences decoded together (slots)")->check(CLI::Range(1, 1024));
  app.add_option("-c,--ctx", o->sched.context, "Context length per sequence")->check(CLI::Range(2, 1 << 24));
  add_cache_type_option(app, o->sched.cache_type);
  add_mla_prefill_option(app, o->sched.mla_prefill);
  app.add_option("--queue", o->sched.queue, "Requests that may wait for a slot; more get 429")->check(CLI::Range(0, 1 << 20));
  app.add_option("--batch", o->sched.batch_tokens, "Tokens per batched step (prompt chunks share it)")->check(CLI::Range(1, 1 << 16));
  app.add_option("--kv-blocks", o->sched.kv_blocks, "KV cache blocks of 16 positions (default: every slot at full context)")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--api-key", o->http.api_key, "Require 'Authorization: Bearer KEY' on /v1/* and /metrics (or set R1_API_KEY)");
  app.add_option("--alias", o->alias, "Model id clients use (default: the model's directory or file name)");
  app.add_option("--cors-origin", o->http.cors_origin, "Allow browser pages from this origin (default: none)");
  app.add_flag("--log-prompts", o->http.log_prompts, "Log request and response text (off by default)");
  app.add_option("--timeout", o->http.request_timeout_s, "Seconds a generation may run")->check(CLI::Range(1, 1 << 24));
  app.add_option("--idle-timeout", o->http.idle_timeout_s, "Seconds an idle connection stays open")->check(CLI::Range(1, 3600));
  app.add_option("--max-body-mb", o->max_body_mb, "Largest request body accepted (MiB)")->check(CLI::Range(0.001, 1024.0));
  app.add_option("-t,--threads", o->threads, "Compute threads (default: all cores)");
  return [o] {
    if (o->model.empty()) o->model = default_model_dir();
    if (o->http.api_key.empty()) {
      if (const char* k = std::getenv("R1_API_KEY")) o->http.api_key = k;
    }
    o->http.max_body_bytes = size_t(o->max_body_mb * 1024 * 1024);
    // Signals go to one waiting thread, not to whichever thread happens to run: block them before any
    // thread starts (threads inherit the mask).
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a client that went away is a failed write, not a dead server

    const tok::Tokenizer tokenizer = load_tokenizer(o->model);
    server::ServedModel served;
    served.id = o->alias.empty() ? default_model_id(o->model) : o->alias;
    served.tokenizer = &tokenizer;
    try {
      const chat::ChatTemplateSource source = load_chat_template_for(o->model);
      served.tool_format = chat::tool_format_for_template(source.source);
      served.chat_template.emplace(source);
    } catch (const Error& e) {
      std::fprintf(stderr, "r1 serve: no chat template (%s); only /v1/completions will work\n", e.what());
    }
    auto model = load_model(o->model);
    if (tokenizer.vocab_size() > model->config().vocab_size) {
      fail("{}: the tokenizer has {} ids but the model only {} embedding rows", o->model, tokenizer.vocab_size(),
           model->config().vocab_size);
    }
    served.model = model.get();
    for (int64_t id : model->config().eos_token_ids) served.stop_tokens.push_back(int32_t(id));
    if (const auto eos = tokenizer.eos_id()) served.stop_tokens.push_back(*eos);
    served.close_reasoning = tokenizer.encode("</think>", false);
    served.json_vocab = std::make_shared<server::TokenVocabulary>(tokenizer);
    served.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();

    ThreadPool pool(o->threads);
    Scheduler scheduler(*model, pool, o->sched);
    served.context = scheduler.context();
    server::HttpServer http(served, scheduler, o->sched.parallel, o->sched.queue, o->http);
    const int port = http.bind();
    std::atomic<bool> signalled{false};
    std::thread stopper([&] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      signalled.store(true);
      std::fprintf(stderr, "r1 serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
      // End the running generations first: the HTTP server's stop waits for its handlers, and a handler
      // streaming a long answer would otherwise keep it up until the answer is done.
      scheduler.shutdown();
      http.stop();
    });
    std::printf("r1 serve: listening on http://%s:%d (model '%s', %d slots, context %lld)\n", o->http.host.c_str(), port,
                served.id.c_str(), o->sched.parallel, (long long)served.context);
    std::fflush(stdout);
    http.run();
    // run() also returns when the socket fails; wake the signal thread so it can be joined.
    if (!signalled.load()) pthread_kill(stopper.native_handle(), SIGTERM);
    stopper.join();
    return 0;
  };
}

}  // namespace r1::cli
