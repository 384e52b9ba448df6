#include "model/synth.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/safetensors.h"
#include "tokenizer/tokenizer.h"
#include "model/config.h"
#include "model/weights.h"

namespace r1 {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

// ---- Presets: config.json contents ---------------------------------------------------------------

ordered_json yarn(double mscale) {
  return {{"type", "yarn"}, {"factor", 40}, {"original_max_position_embeddings", 4096}, {"beta_fast", 32},
          {"beta_slow", 1}, {"mscale", mscale}, {"mscale_all_dim", mscale}};
}

ordered_json deepseek(const char* arch, const char* model_type) {
  return {{"architectures", {arch}}, {"model_type", model_type}, {"torch_dtype", "bfloat16"},
          {"rms_norm_eps", 1e-6}, {"rope_theta", 10000}, {"tie_word_embeddings", false},
          {"max_position_embeddings", 163840}, {"bos_token_id", 0}, {"eos_token_id", 1}, {"moe_layer_freq", 1}};
}

ordered_json tiny_deepseek(const char* arch, const char* model_type) {
  ordered_json c = deepseek(arch, model_type);
  // Widths straddle 128 so FP8 128x128 blocks are partial at the edges.
  c.update({{"vocab_size", 512}, {"hidden_size", 192}, {"intermediate_size", 320}, {"moe_intermediate_size", 96},
            {"num_hidden_layers", 3}, {"num_attention_heads", 4}, {"num_key_value_heads", 4}, {"q_lora_rank", 144},
            {"kv_lora_rank", 80}, {"qk_nope_head_dim", 32}, {"qk_rope_head_dim", 16}, {"v_head_dim", 24},
            {"n_routed_experts", 16}, {"num_experts_per_tok", 4}, {"first_k_dense_replace", 1}});
  return c;
}

ordered_json dense(const char* arch, const char* model_type) {
  return {{"architectures", {arch}}, {"model_type", model_type}, {"torch_dtype", "bfloat16"}, {"rms_norm_eps", 1e-6},
          {"vocab_size", 512}, {"hidden_size", 128}, {"intermediate_size", 288}, {"num_hidden_layers", 3},
          {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"max_position_embeddings", 32768},
          {"bos_token_id", 0}, {"eos_token_id", 1}};
}

struct PresetDef {
  SynthPreset info;
  ordered_json (*make)();
};

const std::vector<PresetDef>& preset_defs() {
  static const std::vector<PresetDef> defs = {
      {{"tiny-v3", "DeepseekV3: q-LoRA, YaRN, noaux_tc (4 groups, top-2), 16 experts + 1 shared, 1 MTP layer"}, [] {
         ordered_json c = tiny_deepseek("DeepseekV3ForCausalLM", "deepseek_v3");
         c.update({{"n_shared_experts", 1}, {"n_group", 4}, {"topk_group", 2}, {"topk_method", "noaux_tc"},
                   {"scoring_func", "sigmoid"}, {"norm_topk_prob", true}, {"routed_scaling_factor", 2.5},
                   {"rope_scaling", yarn(1.0)}, {"num_nextn_predict_layers", 1}});
         return c;
       }},
      {{"tiny-moonlight", "DeepseekV3 shaped like Moonlight: no q-LoRA, no YaRN, noaux_tc with one group"}, [] {
         ordered_json c = tiny_deepseek("DeepseekV3ForCausalLM", "deepseek_v3");
         c.update({{"q_lora_rank", nullptr}, {"n_shared_experts", 2}, {"n_group", 1}, {"topk_group", 1},
                   {"topk_method", "noaux_tc"}, {"scoring_func", "sigmoid"}, {"norm_topk_prob", true},
                   {"routed_scaling_factor", 2.446}, {"rope_theta", 50000}, {"rope_scaling", nullptr},
                   {"max_position_embeddings", 8192}, {"num_nextn_predict_layers", 0}});
         return c;
       }},
      {{"tiny-v2", "DeepseekV2: q-LoRA, YaRN (mscale 0.707), group_limited_greedy softmax router, 2 shared"}, [] {
         ordered_json c = tiny_deepseek("DeepseekV2ForCausalLM", "deepseek_v2");
         c.update({{"n_shared_experts", 2}, {"n_group", 4}, {"topk_group", 2}, {"topk_method", "group_limited_greedy"},
                   {"scoring_func", "softmax"}, {"norm_topk_prob", false}, {"routed_scaling_factor", 16.0},
                   {"rope_scaling", yarn(0.707)}, {"bos_token_id", 0}, {"eos_token_id", 1}});
         return c;
       }},
      {{"tiny-v2-lite", "DeepseekV2 shaped like V2-Lite: no q-LoRA, greedy softmax router, YaRN (mscale 0.707)"}, [] {
         ordered_json c = tiny_deepseek("DeepseekV2ForCausalLM", "deepseek_v2");
         c.update({{"q_lora_rank", nullptr}, {"n_shared_experts", 2}, {"n_group", 1}, {"topk_group", 1},
                   {"topk_method", "greedy"}, {"scoring_func", "softmax"}, {"norm_topk_prob", false},
                   {"routed_scaling_factor", 1.0}, {"rope_scaling", yarn(0.707)}});
         return c;
       }},
      {{"tiny-qwen2", "Qwen2 (R1-Distill-Qwen): GQA 4/2, q/k/v biases, tied embeddings"}, [] {
         ordered_json c = dense("Qwen2ForCausalLM", "qwen2");
         c.update({{"rope_theta", 1000000.0}, {"tie_word_embeddings", true}, {"use_sliding_window", false}});
         return c;
       }},
      {{"tiny-llama", "Llama (R1-Distill-Llama): GQA 4/2, Llama-3 rope scaling"}, [] {
         ordered_json c = dense("LlamaForCausalLM", "llama");
         c.update({{"rope_theta", 500000.0}, {"tie_word_embeddings", false}, {"attention_bias", false}, {"mlp_bias", false},
                   {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                     {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}},
                   {"max_position_embeddings", 131072}, {"eos_token_id", {1, 2}}});
         return c;
       }},
      {{"tiny-qwen3", "Qwen3 (R1-0528-Qwen3): GQA 4/2, q/k norms, head_dim 48 != hidden/heads"}, [] {
         ordered_json c = dense("Qwen3ForCausalLM", "qwen3");
         c.update({{"head_dim", 48}, {"rope_theta", 1000000.0}, {"tie_word_embeddings", true}, {"attention_bias", false}});
         return c;
       }},
      // Widths that are multiples of 256, so the GGUF K-quant types (256-value blocks) are exercised.
      {{"tiny-v3-k", "DeepseekV3 like tiny-v3 with 256-multiple widths (GGUF K-quant tests)"}, [] {
         ordered_json c = tiny_deepseek("DeepseekV3ForCausalLM", "deepseek_v3");
         c.update({{"hidden_size", 256}, {"intermediate_size", 512}, {"moe_intermediate_size", 256}, {"q_lora_rank", 256},
                   {"kv_lora_rank", 256}, {"n_routed_experts", 8}, {"num_experts_per_tok", 2}, {"n_shared_experts", 1},
                   {"n_group", 4}, {"topk_group", 2}, {"topk_method", "noaux_tc"}, {"scoring_func", "sigmoid"},
                   {"norm_topk_prob", true}, {"routed_scaling_factor", 2.5}, {"rope_scaling", yarn(1.0)}});
         return c;
       }},
      {{"tiny-llama-k", "Llama like tiny-llama with 256-multiple widths (GGUF K-quant tests)"}, [] {
         ordered_json c = dense("LlamaForCausalLM", "llama");
         c.update({{"hidden_size", 256}, {"intermediate_size", 512}, {"rope_theta", 500000.0}, {"tie_word_embeddings", false},
                   {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                     {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}}});
         return c;
       }},
      {{"v2-lite", "DeepSeek-V2-Lite real shape (27 layers, 16B total / 2.4B active)"}, [] {
         ordered_json c = deepseek("DeepseekV2ForCausalLM", "deepseek_v2");
         c.update({{"vocab_size", 102400}, {"hidden_size", 2048}, {"intermediate_size", 10944}, {"moe_intermediate_size", 1408},
                   {"num_hidden_layers", 27}, {"num_attention_heads", 16}, {"num_key_value_heads", 16},
                   {"q_lora_rank", nullptr}, {"kv_lora_rank", 512}, {"qk_nope_head_dim", 128}, {"qk_rope_head_dim", 64},
                   {"v_head_dim", 128}, {"n_routed_experts", 64}, {"n_shared_experts", 2}, {"num_experts_per_tok", 6},
                   {"first_k_dense_replace", 1}, {"n_group", 1}, {"topk_group", 1}, {"topk_method", "greedy"},
                   {"scoring_func", "softmax"}, {"norm_topk_prob", false}, {"routed_scaling_factor", 1.0},
                   {"rope_scaling", yarn(0.707)}, {"bos_token_id", 100000}, {"eos_token_id", 100001}});
         return c;
       }},
      {{"v3", "DeepSeek-V3/R1 real shape (61 layers + 1 MTP, 671B total / 37B active)"}, [] {
         ordered_json c = deepseek("DeepseekV3ForCausalLM", "deepseek_v3");
         c.update({{"vocab_size", 129280}, {"hidden_size", 7168}, {"intermediate_size", 18432}, {"moe_intermediate_size", 2048},
                   {"num_hidden_layers", 61}, {"num_attention_heads", 128}, {"num_key_value_heads", 128},
                   {"q_lora_rank", 1536}, {"kv_lora_rank", 512}, {"qk_nope_head_dim", 128}, {"qk_rope_head_dim", 64},
                   {"v_head_dim", 128}, {"n_routed_experts", 256}, {"n_shared_experts", 1}, {"num_experts_per_tok", 8},
                   {"first_k_dense_replace", 3}, {"n_group", 8}, {"topk_group", 4}, {"topk_method", "noaux_tc"},
                   {"scoring_func", "sigmoid"}, {"norm_topk_prob", true}, {"routed_scaling_factor", 2.5},
                   {"rope_scaling", yarn(1.0)}, {"num_nextn_predict_layers", 1}});
         return c;
       }},
      {{"r1-distill-qwen-1.5b", "DeepSeek-R1-Distill-Qwen-1.5B real shape (Qwen2, 28 layers, hidden 1536)"}, [] {
         ordered_json c = dense("Qwen2ForCausalLM", "qwen2");
         c.update({{"vocab_size", 151936}, {"hidden_size", 1536}, {"intermediate_size", 8960}, {"num_hidden_layers", 28},
                   {"num_attention_heads", 12}, {"num_key_value_heads", 2}, {"max_position_embeddings", 131072},
                   {"rope_theta", 10000}, {"tie_word_embeddings", false}, {"use_sliding_window", false},
                   {"bos_token_id", 151646}, {"eos_token_id", 151643}});
         return c;
       }},
  };
  return defs;
}

// ---- Deterministic values ----------------------------------------------------------------------

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t name_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull ^ splitmix64(seed);
  for (unsigned char ch : name) h = (h ^ ch) * 0x100000001b3ull;
  return splitmix64(h);
}

// Uniform in [-1, 1), a pure function of (stream, index), so tensors can be filled in parallel.
float uniform(uint64_t stream, uint64_t index) {
  return float(double(splitmix64(stream ^ splitmix64(index)) >> 11) * 0x1.0p-52 - 1.0);
}

// What each role's values look like: large enough that tiny random models have clear argmax margins.
struct Init {
  float center, spread;
};
Init init_for(const TensorSpec& t) {
  switch (t.role) {
    case TensorRole::Embedding: return {0.0f, 1.7f};  // unit variance
    case TensorRole::Norm: return {1.0f, 0.25f};
    case TensorRole::Bias: return {0.0f, 0.1f};
    case TensorRole::RouterBias: return {0.0f, 0.05f};
    case TensorRole::Head: return {0.0f, 5.0f / std::sqrt(float(t.shape[1]))};
    case TensorRole::Router:
    case TensorRole::Linear: return {0.0f, 1.7f / std::sqrt(float(t.shape[1]))};  // unit-variance outputs
  }
  return {0.0f, 0.0f};
}

void store(DType dtype, uint8_t* dst, size_t i, float v) {
  switch (dtype) {
    case DType::F32: std::memcpy(dst + 4 * i, &v, 4); break;
    case DType::BF16: { const uint16_t h = f32_to_bf16(v); std::memcpy(dst + 2 * i, &h, 2); break; }
    case DType::F16: { const uint16_t h = f32_to_f16(v); std::memcpy(dst + 2 * i, &h, 2); break; }
    default: break;
  }
}

struct Planned {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  SafetensorsWriter::Fill fill;
  size_t bytes;
};

}  // namespace

const std::vector<SynthPreset>& synth_presets() {
  static const std::vector<SynthPreset> list = [] {
    std::vector<SynthPreset> v;
    for (const auto& d : preset_defs()) v.push_back(d.info);
    return v;
  }();
  return list;
}

size_t synthesize(const SynthOptions& o) {
  const PresetDef* def = nullptr;
  for (const auto& d : preset_defs()) {
    if (d.info.name == o.preset) def = &d;
  }
  if (!def) {
    std::string names;
    for (const auto& d : preset_defs()) names += (names.empty() ? "" : ", ") + d.info.name;
    fail("unknown preset '{}' (available: {})", o.preset, names);
  }
  ordered_json config = def->make();
  if (o.layers > 0) {
    config["num_hidden_layers"] = o.layers;
    if (config.contains("first_k_dense_replace") && config["first_k_dense_replace"].get<int64_t>() >= o.layers) {
      config["first_k_dense_replace"] = std::max<int64_t>(0, o.layers - 1);
    }
  }
  if (o.vocab > 0) config["vocab_size"] = o.vocab;
  if (o.mtp_layers >= 0) config["num_nextn_predict_layers"] = o.mtp_layers;
  if (!o.tokenizer_dir.empty()) {
    const tok::Tokenizer tokenizer = tok::Tokenizer::from_dir(o.tokenizer_dir);
    if (config["vocab_size"].get<int64_t>() < tokenizer.vocab_size()) config["vocab_size"] = tokenizer.vocab_size();
    if (tokenizer.bos_id()) config["bos_token_id"] = *tokenizer.bos_id();
    if (tokenizer.eos_id()) config["eos_token_id"] = *tokenizer.eos_id();
  }

  DType main_dtype;
  const bool fp8 = o.dtype == "fp8";
  if (o.dtype == "f32") main_dtype = DType::F32;
  else if (o.dtype == "f16") main_dtype = DType::F16;
  else if (o.dtype == "bf16" || fp8) main_dtype = DType::BF16;
  else fail("--dtype: '{}' is not one of f32, f16, bf16, fp8", o.dtype);
  if (o.ue8m0 && !fp8) fail("--ue8m0 applies to --dtype fp8 only");
  config["torch_dtype"] = main_dtype == DType::F32 ? "float32" : main_dtype == DType::F16 ? "float16" : "bfloat16";
  if (fp8) {
    config["quantization_config"] = {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"},
                                     {"weight_block_size", {128, 128}}};
    if (o.ue8m0) config["quantization_config"]["scale_fmt"] = "ue8m0";
  }
  const ModelConfig cfg = parse_model_config(nlohmann::json::parse(config.dump()), o.preset + " preset");

  ThreadPool pool(o.threads);
  std::vector<Planned> plan;
  for (const TensorSpec& t : list_tensors(cfg)) {
    const uint64_t stream = name_seed(o.seed, t.name);
    const Init init = init_for(t);
    const size_t rows = size_t(t.shape[0]), cols = t.shape.size() > 1 ? size_t(t.shape[1]) : 1;
    const bool quantize = fp8 && t.role == TensorRole::Linear;
    const DType dtype = quantize ? DType::F8_E4M3 : t.role == TensorRole::RouterBias ? DType::F32 : main_dtype;

    if (!quantize) {
      plan.push_back({t.name, dtype, t.shape, [=, &pool](uint8_t* dst, size_t) {
                        pool.parallel_for(rows, [&](size_t b, size_t e, int) {
                          for (size_t i = b * cols; i < e * cols; ++i) store(dtype, dst, i, init.center + init.spread * uniform(stream, i));
                        }, 64);
                      }, rows * cols * dtype_size(dtype)});
      continue;
    }
    // FP8 as DeepSeek ships it: the e4m3 codes span the full range and each 128x128 block has its own
    // scale (weight_scale_inv = block amax / 448), so blocks differ in magnitude. Edge blocks are partial.
    const size_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
    const uint64_t scale_stream = name_seed(o.seed, t.name + ".scale");
    auto block_scale = [=](size_t bi, size_t bj) {
      float amax = init.spread * (0.5f + 0.5f * std::fabs(uniform(scale_stream, bi * sc + bj)));
      float s = amax / 448.0f;
      if (o.ue8m0) s = std::exp2(std::ceil(std::log2(s)));
      return s;
    };
    plan.push_back({t.name, DType::F8_E4M3, t.shape, [=, &pool](uint8_t* dst, size_t) {
                      pool.parallel_for(rows * cols, [&](size_t b, size_t e, int) {
                        for (size_t i = b; i < e; ++i) dst[i] = f32_to_fp8_e4m3(448.0f * uniform(stream, i));
                      }, 1 << 16);
                    }, rows * cols});
    plan.push_back({t.name.substr(0, t.name.size() - 6) + "weight_scale_inv", DType::F32,
                    {int64_t(sr), int64_t(sc)}, [=](uint8_t* dst, size_t) {
                      for (size_t i = 0; i < sr; ++i)
                        for (size_t j = 0; j < sc; ++j) store(DType::F32, dst, i * sc + j, block_scale(i, j));
                    }, sr * sc * 4});
  }

  // Shards: consecutive tensors up to shard_mb each, named as Hugging Face names them.
  const size_t limit = size_t(std::max<int64_t>(1, o.shard_mb)) << 20;
  std::vector<std::vector<const Planned*>> shards(1);
  size_t current = 0, total = 0;
  for (const auto& p : plan) {
    if (current > 0 && current + p.bytes > limit) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(&p);
    current += p.bytes;
    total += p.bytes;
  }

  fs::create_directories(o.out_dir);
  // Remove weights of an earlier synth run into the same directory, or they would load as extra shards.
  for (const auto& entry : fs::directory_iterator(o.out_dir)) {
    const std::string n = entry.path().filename().string();
    if (n.rfind("model", 0) == 0 && (entry.path().extension() == ".safetensors" || n == "model.safetensors.index.json")) {
      fs::remove(entry.path());
    }
  }
  ordered_json weight_map = ordered_json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file = shards.size() == 1 ? "model.safetensors"
                                                : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    for (const Planned* p : shards[s]) {
      w.add(p->name, p->dtype, p->shape, p->fill);
      weight_map[p->name] = file;
    }
    w.write((fs::path(o.out_dir) / file).string());
  }
  if (shards.size() > 1) {
    ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    std::ofstream(fs::path(o.out_dir) / "model.safetensors.index.json") << index.dump(2) << "\n";
  }
  config["r1_synth"] = {{"preset", o.preset}, {"seed", o.seed}, {"dtype", o.dtype}};
  std::ofstream out(fs::path(o.out_dir) / "config.json");
  out << config.dump(2) << "\n";
  if (!out) fail("{}: cannot write config.json", o.out_dir);
  if (!o.tokenizer_dir.empty()) {
    for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
      const fs::path from = fs::path(o.tokenizer_dir) / name;
      if (fs::exists(from)) fs::copy_file(from, fs::path(o.out_dir) / name, fs::copy_options::overwrite_existing);
    }
  }
  return total;
}

}  // namespace r1
