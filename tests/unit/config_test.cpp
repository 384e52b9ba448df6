// parse_model_config: valid configs of each family parse; every invalid one throws r1::Error with a
// one-line message naming the file and the field.
#include "model/config.h"

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"

namespace r1 {
namespace {

const std::string kSrc = "models/x/config.json";

nlohmann::json v3_config() {
  return nlohmann::json::parse(R"({
    "architectures": ["DeepseekV3ForCausalLM"], "vocab_size": 512, "hidden_size": 192, "intermediate_size": 320,
    "moe_intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 4,
    "q_lora_rank": 144, "kv_lora_rank": 80, "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 24,
    "n_routed_experts": 16, "num_experts_per_tok": 4, "first_k_dense_replace": 1, "n_shared_experts": 1,
    "n_group": 4, "topk_group": 2, "topk_method": "noaux_tc", "scoring_func": "sigmoid", "norm_topk_prob": true,
    "routed_scaling_factor": 2.5, "max_position_embeddings": 163840, "rms_norm_eps": 1e-6, "rope_theta": 10000,
    "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                     "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
    "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]},
    "bos_token_id": 0, "eos_token_id": 1
  })");
}

nlohmann::json qwen2_config() {
  return nlohmann::json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "vocab_size": 512, "hidden_size": 128, "intermediate_size": 288,
    "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 32768,
    "rope_theta": 1000000.0, "tie_word_embeddings": true, "eos_token_id": [1, 2]
  })");
}

std::string error_of(const nlohmann::json& j) {
  try {
    parse_model_config(j, kSrc);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const nlohmann::json& j, std::initializer_list<const char*> parts) {
  const std::string m = error_of(j);
  ASSERT_FALSE(m.empty()) << "parsed, expected an error: " << j.dump();
  EXPECT_EQ(m.rfind(kSrc + ": ", 0), 0u) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  for (const char* p : parts) EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' not in: " << m;
}

TEST(ModelConfig, ValidConfigsParse) {
  const ModelConfig v3 = parse_model_config(v3_config(), kSrc);
  EXPECT_EQ(v3.arch, Arch::DeepseekV3);
  EXPECT_TRUE(v3.is_mla);
  EXPECT_EQ(v3.router, Router::NoauxTC);
  EXPECT_EQ(v3.rope.scaling, RopeScaling::Yarn);
  EXPECT_EQ(v3.rope.original_max_position_embeddings, 4096);
  EXPECT_TRUE(v3.fp8);
  const ModelConfig q = parse_model_config(qwen2_config(), kSrc);
  EXPECT_EQ(q.arch, Arch::Qwen2);
  EXPECT_EQ(q.head_dim, 32);
  EXPECT_EQ(q.num_kv_heads, 2);
  EXPECT_EQ(q.eos_token_ids, (std::vector<int64_t>{1, 2}));
}

TEST(ModelConfig, NotAnObject) {
  expect_error(nlohmann::json::array({1, 2}), {"expected a JSON object"});
  expect_error(nlohmann::json("text"), {"expected a JSON object"});
}

TEST(ModelConfig, Architecture) {
  auto j = v3_config();
  j["architectures"] = {"DeepseekV9ForCausalLM"};
  expect_error(j, {"field 'architectures'", "'DeepseekV9ForCausalLM' is not supported", "DeepseekV3ForCausalLM"});
  for (const char* bad : {"[]", "\"DeepseekV3ForCausalLM\"", "[3]", "null"}) {
    j["architectures"] = nlohmann::json::parse(bad);
    expect_error(j, {"field 'architectures'", "expected a list"});
  }
  j.erase("architectures");
  expect_error(j, {"field 'architectures'"});
}

TEST(ModelConfig, RequiredIntegerFields) {
  for (const char* field : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
                            "v_head_dim", "num_experts_per_tok", "moe_intermediate_size"}) {
    SCOPED_TRACE(field);
    auto j = v3_config();
    j.erase(field);
    expect_error(j, {"missing field", field});
    j[field] = "abc";
    expect_error(j, {field, "expected an integer"});
    j[field] = 12.5;
    expect_error(j, {field, "expected an integer"});
    j[field] = -7;
    expect_error(j, {field, "expected an integer >= 1, got -7"});
    j[field] = 0;
    expect_error(j, {field, "expected an integer >= 1, got 0"});
    j[field] = int64_t(1) << 50;
    expect_error(j, {field, "implausibly large"});
    j[field] = nlohmann::json::array();
    expect_error(j, {field, "expected an integer"});
  }
}

TEST(ModelConfig, OptionalFieldsWrongType) {
  auto q = qwen2_config();
  q["rms_norm_eps"] = "small";
  expect_error(q, {"field 'rms_norm_eps'", "expected a number"});
  q = qwen2_config();
  q["rms_norm_eps"] = 0;
  expect_error(q, {"field 'rms_norm_eps'", "expected > 0"});
  q = qwen2_config();
  q["tie_word_embeddings"] = "yes";
  expect_error(q, {"field 'tie_word_embeddings'", "expected true or false"});
  q = qwen2_config();
  q["rope_theta"] = 0.5;
  expect_error(q, {"field 'rope_theta'", "expected > 1"});
  q = qwen2_config();
  q["eos_token_id"] = "</s>";
  expect_error(q, {"field 'eos_token_id'", "expected an integer"});
  q["eos_token_id"] = {1, "x"};
  expect_error(q, {"field 'eos_token_id'", "expected integers"});
  q = qwen2_config();
  q["mlp_bias"] = true;
  expect_error(q, {"field 'mlp_bias'"});
  auto v = v3_config();
  v["topk_method"] = "random";
  expect_error(v, {"field 'topk_method'", "'random'", "noaux_tc"});
  v = v3_config();
  v["scoring_func"] = "relu";
  expect_error(v, {"field 'scoring_func'", "'relu'", "sigmoid"});
  v = v3_config();
  v["topk_method"] = 3;
  expect_error(v, {"field 'topk_method'", "expected a string"});
}

TEST(ModelConfig, InconsistentValues) {
  auto v = v3_config();
  v["n_group"] = 3;
  expect_error(v, {"field 'n_group'", "3 does not divide n_routed_experts 16"});
  v = v3_config();
  v["topk_group"] = 5;
  expect_error(v, {"field 'topk_group'", "exceeds n_group 4"});
  v = v3_config();
  v["num_experts_per_tok"] = 17;
  expect_error(v, {"field 'num_experts_per_tok'", "exceeds n_routed_experts 16"});
  v = v3_config();
  v["n_group"] = 16;
  v["topk_group"] = 4;
  expect_error(v, {"field 'n_group'", ">= 2 experts"});
  v = v3_config();
  v["scoring_func"] = "softmax";
  expect_error(v, {"field 'scoring_func'", "sigmoid"});
  v = v3_config();
  v["n_routed_experts"] = 5000;
  expect_error(v, {"field 'n_routed_experts'", "exceeds the supported"});
  v = v3_config();
  v["qk_rope_head_dim"] = 15;
  expect_error(v, {"field 'qk_rope_head_dim'", "even"});
  auto q = qwen2_config();
  q["num_key_value_heads"] = 3;
  expect_error(q, {"field 'num_key_value_heads'", "3 does not divide num_attention_heads 4"});
  q = qwen2_config();
  q["num_attention_heads"] = 3;
  q["num_key_value_heads"] = 1;
  expect_error(q, {"field 'num_attention_heads'", "does not divide hidden_size 128"});
  q = qwen2_config();
  q["head_dim"] = 33;
  expect_error(q, {"field 'head_dim'", "even"});
}

TEST(ModelConfig, RopeScaling) {
  auto v = v3_config();
  v["rope_scaling"] = "yarn";
  expect_error(v, {"field 'rope_scaling'", "expected an object or null"});
  v["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  expect_error(v, {"field 'rope_scaling.type'", "'dynamic'", "yarn"});
  v["rope_scaling"] = {{"type", "yarn"}, {"factor", "big"}};
  expect_error(v, {"field 'rope_scaling.factor'", "expected a number"});
  v["rope_scaling"] = {{"type", "yarn"}, {"factor", 0.5}};
  expect_error(v, {"field 'rope_scaling.factor'", "expected >= 1"});
  for (double bad : {0.0, -5.0, 1e300, 1e19}) {
    v["rope_scaling"] = {{"type", "yarn"}, {"factor", 4}, {"original_max_position_embeddings", bad}};
    expect_error(v, {"field 'rope_scaling.original_max_position_embeddings'", "expected a number in [1, "});
  }
  auto q = qwen2_config();
  q["architectures"] = {"LlamaForCausalLM"};
  q["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8}, {"low_freq_factor", 4}, {"high_freq_factor", 1}};
  expect_error(q, {"field 'rope_scaling'", "high_freq_factor"});
  q["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 8}};
  expect_error(q, {"field 'rope_scaling.type'", "llama3"});
}

TEST(ModelConfig, QuantizationConfig) {
  auto v = v3_config();
  v["quantization_config"] = {{"quant_method", "gptq"}};
  expect_error(v, {"field 'quantization_config.quant_method'", "'gptq'", "expected fp8"});
  v["quantization_config"] = "fp8";
  expect_error(v, {"field 'quantization_config.quant_method'", "expected fp8"});
  for (const char* bad : {"[128]", "[0, 128]", "[128, -1]", "[\"128\", 128]", "128", "[4294967296, 128]",
                          "[18446744073709551615, 128]"}) {
    SCOPED_TRACE(bad);
    v["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", nlohmann::json::parse(bad)}};
    expect_error(v, {"field 'quantization_config.weight_block_size'", "expected two positive integers"});
  }
}

// Every subset of fields removed, every field retyped: only r1::Error comes out (ASan/UBSan watch).
TEST(ModelConfig, RetypedFieldsOnlyThrowErrors) {
  const nlohmann::json values[] = {nullptr, true, -1, 0, 1, 3, int64_t(1) << 40, 1.5, -1e300, "x",
                                   nlohmann::json::array(), nlohmann::json::object(), {1, 2}};
  for (const auto& base : {v3_config(), qwen2_config()}) {
    for (auto it = base.begin(); it != base.end(); ++it) {
      for (const auto& value : values) {
        auto j = base;
        j[it.key()] = value;
        try {
          parse_model_config(j, kSrc);
        } catch (const Error& e) {
          EXPECT_EQ(std::string(e.what()).rfind(kSrc, 0), 0u) << e.what();
        }
      }
    }
  }
}

}  // namespace
}  // namespace r1
