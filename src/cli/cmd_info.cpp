#include <fmt/format.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"

namespace r1::cli {

Runner add_info(CLI::App& app) {
  struct Opts {
    std::string model;
    int64_t context = 4096;
    KvType cache_type = KvType::F32;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("model", o->model, "Model directory or .gguf file")->required();
  app.add_option("-c,--ctx", o->context, "Context length for the memory plan")->check(CLI::PositiveNumber);
  add_cache_type_option(app, o->cache_type);
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o] {
    auto model = Model::load(o->model);
    const ModelConfig& c = model->config();
    const ModelWeights& w = model->weights();
    std::map<std::string, std::pair<int64_t, size_t>> by_dtype;  // dtype -> tensors, bytes
    for (const auto& [name, t] : model->files().tensors()) {
      auto& e = by_dtype[std::string(dtype_name(t.dtype))];
      e.first += 1;
      e.second += t.nbytes;
    }
    const int64_t ctx = std::min(o->context, c.max_position_embeddings);
    const int64_t kv_per_token = kv_block_bytes(c, o->cache_type) / kKvBlockTokens;
    nlohmann::ordered_json j;
    j["architecture"] = c.arch_name;
    j["layers"] = c.num_layers;
    j["hidden_size"] = c.hidden_size;
    j["vocab_size"] = c.vocab_size;
    j["attention"] = c.is_mla ? fmt::format("MLA (q_lora_rank {}, kv_lora_rank {}, rope {})", c.q_lora_rank, c.kv_lora_rank, c.qk_rope_head_dim)
                              : fmt::format("GQA ({} heads, {} kv heads, head_dim {})", c.num_heads, c.num_kv_heads, c.head_dim);
    if (c.n_routed_experts > 0) {
      j["moe"] = fmt::format("{} routed (top {}) + {} shared, router {}, first {} layers dense", c.n_routed_experts,
                             c.num_experts_per_tok, c.n_shared_experts, router_label(c.router), c.first_k_dense_replace);
    }
    j["rope_scaling"] = c.rope.scaling == RopeScaling::Yarn ? "yarn" : c.rope.scaling == RopeScaling::Llama3 ? "llama3" : "none";
    j["mtp_layers"] = w.mtp.size();
    j["total_params"] = w.param_count;
    j["active_params"] = model->active_params();
    j["mtp_params"] = w.mtp_param_count;
    for (const auto& [dt, e] : by_dtype) j["dtypes"][dt] = {{"tensors", e.first}, {"bytes", e.second}};
    j["weight_files"] = model->files().files().size();
    j["weight_files_bytes"] = model->files().total_bytes();
    j["kv_bytes_per_token"] = kv_per_token;
    j["kv_cache_type"] = kv_type_name(o->cache_type);
    j["memory_plan"] = {{"context", ctx},
                        {"weights_mapped_bytes", model->files().total_bytes()},
                        {"kv_cache_bytes", kv_per_token * ctx}};
    if (o->json) {
      std::printf("%s\n", j.dump().c_str());
      return 0;
    }
    auto gib = [](double b) { return b / double(1 << 30); };
    std::printf("architecture   %s\n", c.arch_name.c_str());
    std::printf("layers         %lld (+%zu MTP), hidden %lld, vocab %lld\n", (long long)c.num_layers, w.mtp.size(),
                (long long)c.hidden_size, (long long)c.vocab_size);
    std::printf("attention      %s\n", j["attention"].get<std::string>().c_str());
    if (j.contains("moe")) std::printf("moe            %s\n", j["moe"].get<std::string>().c_str());
    std::printf("rope scaling   %s\n", j["rope_scaling"].get<std::string>().c_str());
    auto count = [](int64_t n) { return n >= 1000000000 ? fmt::format("{:.2f}B", double(n) / 1e9) : fmt::format("{:.2f}M", double(n) / 1e6); };
    std::printf("parameters     %s total, %s active per token (+%s MTP)\n", count(w.param_count - w.mtp_param_count).c_str(),
                count(model->active_params()).c_str(), count(w.mtp_param_count).c_str());
    for (const auto& [dt, e] : by_dtype) std::printf("dtype          %-8s %5lld tensors  %.3f GiB\n", dt.c_str(), (long long)e.first, gib(double(e.second)));
    std::printf("kv cache       %lld bytes per token (%s)\n", (long long)kv_per_token, std::string(kv_type_name(o->cache_type)).c_str());
    const size_t files = model->files().files().size();
    std::printf("memory plan    weights %.3f GiB mapped%s + kv cache %.3f GiB at %lld tokens\n",
                gib(double(model->files().total_bytes())), files > 1 ? fmt::format(" from {} files", files).c_str() : "",
                gib(double(kv_per_token * ctx)), (long long)ctx);
    return 0;
  };
}

}  // namespace r1::cli
