#include <fmt/format.h>

#include <cstdio>
#include <iterator>

#include "cli/commands.h"
#include "cli/common.h"
#include "runtime/session.h"

namespace r1::cli {

Runner add_logits(CLI::App& app) {
  struct Opts {
    std::string model, tokens;
    bool incremental = false;
    int64_t batch = 0;
    int threads = 0;
    KvType cache_type = KvType::F32;
    MlaPrefill mla_prefill = MlaPrefill::Absorbed;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("model", o->model, "Model directory or .gguf file")->required();
  app.add_option("--tokens", o->tokens, "Comma-separated token ids")->required();
  app.add_flag("--incremental", o->incremental, "Feed tokens one at a time through the KV cache");
  app.add_option("--batch", o->batch, "Tokens per forward pass without --incremental (default: all of them)")
      ->check(CLI::PositiveNumber);
  app.add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  add_cache_type_option(app, o->cache_type);
  add_mla_prefill_option(app, o->mla_prefill);
  return [o] {
    const std::vector<int32_t> ids = parse_token_list(o->tokens);
    auto model = load_model(o->model, true);
    ThreadPool pool(o->threads);
    SessionOptions so;
    so.context = int64_t(ids.size());
    so.batch = o->incremental ? 1 : o->batch > 0 ? o->batch : int64_t(ids.size());
    so.cache_type = o->cache_type;
    so.mla_prefill = o->mla_prefill;
    Session session(*model, pool, so);
    std::vector<float> logits;
    const size_t V = size_t(model->config().vocab_size);
    if (o->incremental) {
      logits.resize(ids.size() * V);
      for (size_t i = 0; i < ids.size(); ++i) {
        const float* l = session.feed({&ids[i], 1});
        std::copy(l, l + V, logits.begin() + long(i * V));
      }
    } else {
      session.feed_all_logits(ids, logits);
    }
    // One buffer for the whole answer: a string per value (fmt::format) cost seconds for a 128k vocabulary.
    fmt::memory_buffer out;
    auto put = std::back_inserter(out);
    fmt::format_to(put, "{{\"tokens\":[");
    for (size_t i = 0; i < ids.size(); ++i) fmt::format_to(put, "{}{}", i ? "," : "", ids[i]);
    fmt::format_to(put, "],\"logits\":[");
    for (size_t i = 0; i < ids.size(); ++i) {
      fmt::format_to(put, "{}", i ? ",[" : "[");
      for (size_t v = 0; v < V; ++v) fmt::format_to(put, "{}{:.9g}", v ? "," : "", logits[i * V + v]);
      fmt::format_to(put, "]");
    }
    fmt::format_to(put, "]}}\n");
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  };
}

}  // namespace r1::cli
