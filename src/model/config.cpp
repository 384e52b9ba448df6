#include "model/config.h"

#include <cmath>

#include "core/error.h"

namespace r1 {

namespace {

// Typed, validated access to config.json fields with one-line errors naming the file and field.
class Fields {
 public:
  static constexpr int64_t kMaxInt = int64_t(1) << 30;

  Fields(const nlohmann::json& j, const std::string& src) : j_(j), src_(src) {}

  bool present(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  int64_t integer(const char* key, int64_t min_value = 1) const {
    if (!present(key)) fail("{}: missing field '{}'", src_, key);
    return check_int(j_.at(key), key, min_value);
  }
  int64_t integer_or(const char* key, int64_t fallback, int64_t min_value = 0) const {
    return present(key) ? check_int(j_.at(key), key, min_value) : fallback;
  }
  double number_or(const nlohmann::json& obj, const char* key, double fallback, const char* where) const {
    if (!obj.contains(key) || obj.at(key).is_null()) return fallback;
    if (!obj.at(key).is_number()) fail("{}: field '{}{}': expected a number", src_, where, key);
    const double v = obj.at(key).get<double>();
    if (!std::isfinite(v)) fail("{}: field '{}{}': expected a finite number", src_, where, key);
    return v;
  }
  double number_or(const char* key, double fallback) const { return number_or(j_, key, fallback, ""); }
  bool boolean_or(const char* key, bool fallback) const {
    if (!present(key)) return fallback;
    if (!j_.at(key).is_boolean()) fail("{}: field '{}': expected true or false", src_, key);
    return j_.at(key).get<bool>();
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    if (!present(key)) return fallback;
    if (!j_.at(key).is_string()) fail("{}: field '{}': expected a string", src_, key);
    return j_.at(key).get<std::string>();
  }

 private:
  int64_t check_int(const nlohmann::json& v, const char* key, int64_t min_value) const {
    if (!v.is_number_integer()) fail("{}: field '{}': expected an integer", src_, key);
    const int64_t n = v.get<int64_t>();
    if (n < min_value) fail("{}: field '{}': expected an integer >= {}, got {}", src_, key, min_value, n);
    // Small enough that products of two or three dimensions (computed before the weights' shapes
    // are checked against them) cannot overflow int64.
    if (n > kMaxInt) fail("{}: field '{}': value {} is implausibly large (expected at most {})", src_, key, n, kMaxInt);
    return n;
  }

  const nlohmann::json& j_;
  const std::string& src_;
};

double yarn_get_mscale(double factor, double mscale) { return factor <= 1.0 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0; }

void parse_rope_scaling(const nlohmann::json& j, const Fields& f, const std::string& src, ModelConfig& c) {
  RopeConfig& r = c.rope;
  if (!j.contains("rope_scaling") || j.at("rope_scaling").is_null()) return;
  const nlohmann::json& rs = j.at("rope_scaling");
  if (!rs.is_object()) fail("{}: field 'rope_scaling': expected an object or null", src);
  std::string type;
  for (const char* key : {"type", "rope_type"}) {
    if (rs.contains(key) && rs.at(key).is_string()) type = rs.at(key).get<std::string>();
  }
  if (type.empty() || type == "default") return;
  r.factor = f.number_or(rs, "factor", 1.0, "rope_scaling.");
  const double original = f.number_or(rs, "original_max_position_embeddings", double(c.max_position_embeddings), "rope_scaling.");
  if (!(original >= 1 && original <= double(Fields::kMaxInt))) {
    fail("{}: field 'rope_scaling.original_max_position_embeddings': expected a number in [1, {}], got {}", src,
         Fields::kMaxInt, original);
  }
  r.original_max_position_embeddings = int64_t(original);
  if (type == "yarn" && c.is_mla) {
    r.scaling = RopeScaling::Yarn;
    r.beta_fast = f.number_or(rs, "beta_fast", 32.0, "rope_scaling.");
    r.beta_slow = f.number_or(rs, "beta_slow", 1.0, "rope_scaling.");
    r.mscale = f.number_or(rs, "mscale", 1.0, "rope_scaling.");
    r.mscale_all_dim = f.number_or(rs, "mscale_all_dim", 0.0, "rope_scaling.");
  } else if (type == "llama3" && !c.is_mla) {
    r.scaling = RopeScaling::Llama3;
    r.low_freq_factor = f.number_or(rs, "low_freq_factor", 1.0, "rope_scaling.");
    r.high_freq_factor = f.number_or(rs, "high_freq_factor", 4.0, "rope_scaling.");
    if (!(r.high_freq_factor > r.low_freq_factor)) {
      fail("{}: field 'rope_scaling': high_freq_factor must exceed low_freq_factor", src);
    }
  } else {
    fail("{}: field 'rope_scaling.type': '{}' is not supported for {} (supported: {})", src, type, c.arch_name,
         c.is_mla ? "yarn" : "llama3");
  }
  if (!(r.factor >= 1.0)) fail("{}: field 'rope_scaling.factor': expected >= 1, got {}", src, r.factor);
  if (r.original_max_position_embeddings <= 0) fail("{}: field 'rope_scaling.original_max_position_embeddings': expected > 0", src);
}

void parse_mla_and_moe(const Fields& f, const std::string& src, ModelConfig& c) {
  c.is_mla = true;
  c.q_lora_rank = f.integer_or("q_lora_rank", 0, 0);
  c.kv_lora_rank = f.integer("kv_lora_rank");
  c.qk_nope_head_dim = f.integer("qk_nope_head_dim");
  c.qk_rope_head_dim = f.integer("qk_rope_head_dim");
  c.v_head_dim = f.integer("v_head_dim");
  if (c.qk_rope_head_dim % 2) fail("{}: field 'qk_rope_head_dim': must be even, got {}", src, c.qk_rope_head_dim);
  c.num_kv_heads = c.num_heads;

  c.n_routed_experts = f.integer_or("n_routed_experts", 0, 0);
  if (c.n_routed_experts > 0) {
    if (c.n_routed_experts > kMaxExperts) fail("{}: field 'n_routed_experts': {} exceeds the supported {}", src, c.n_routed_experts, kMaxExperts);
    c.n_shared_experts = f.integer_or("n_shared_experts", 0, 0);
    c.num_experts_per_tok = f.integer("num_experts_per_tok");
    c.moe_intermediate_size = f.integer("moe_intermediate_size");
    c.first_k_dense_replace = f.integer_or("first_k_dense_replace", 0, 0);
    c.moe_layer_freq = f.integer_or("moe_layer_freq", 1, 1);
    c.n_group = f.integer_or("n_group", 1, 1);
    c.topk_group = f.integer_or("topk_group", 1, 1);
    if (c.n_group > kMaxExpertGroups) fail("{}: field 'n_group': {} exceeds the supported {}", src, c.n_group, kMaxExpertGroups);
    const bool v3 = c.arch == Arch::DeepseekV3;
    const std::string method = f.string_or("topk_method", v3 ? "noaux_tc" : "greedy");
    if (method == "greedy") c.router = Router::Greedy;
    else if (method == "group_limited_greedy") c.router = Router::GroupLimitedGreedy;
    else if (method == "noaux_tc") c.router = Router::NoauxTC;
    else fail("{}: field 'topk_method': '{}' is not one of greedy, group_limited_greedy, noaux_tc", src, method);
    const std::string scoring = f.string_or("scoring_func", v3 ? "sigmoid" : "softmax");
    if (scoring == "softmax") c.scoring = Scoring::Softmax;
    else if (scoring == "sigmoid") c.scoring = Scoring::Sigmoid;
    else fail("{}: field 'scoring_func': '{}' is not one of softmax, sigmoid", src, scoring);
    c.norm_topk_prob = f.boolean_or("norm_topk_prob", false);
    c.routed_scaling_factor = f.number_or("routed_scaling_factor", 1.0);

    if (c.num_experts_per_tok > c.n_routed_experts) {
      fail("{}: field 'num_experts_per_tok': {} exceeds n_routed_experts {}", src, c.num_experts_per_tok, c.n_routed_experts);
    }
    if (c.router != Router::Greedy) {
      if (c.n_routed_experts % c.n_group) fail("{}: field 'n_group': {} does not divide n_routed_experts {}", src, c.n_group, c.n_routed_experts);
      if (c.topk_group > c.n_group) fail("{}: field 'topk_group': {} exceeds n_group {}", src, c.topk_group, c.n_group);
      if (c.num_experts_per_tok > c.topk_group * (c.n_routed_experts / c.n_group)) {
        fail("{}: field 'num_experts_per_tok': {} exceeds the experts in topk_group groups", src, c.num_experts_per_tok);
      }
      if (c.router == Router::NoauxTC && c.n_routed_experts / c.n_group < 2) {
        fail("{}: field 'n_group': noaux_tc ranks groups by their top-2 scores, so groups need >= 2 experts", src);
      }
    }
    if (c.router == Router::NoauxTC && c.scoring != Scoring::Sigmoid) {
      fail("{}: field 'scoring_func': noaux_tc routing needs sigmoid scoring", src);
    }
  }
  c.num_nextn_predict_layers = f.integer_or("num_nextn_predict_layers", 0, 0);
}

}  // namespace

std::string_view arch_label(Arch a) {
  switch (a) {
    case Arch::DeepseekV2: return "DeepseekV2ForCausalLM";
    case Arch::DeepseekV3: return "DeepseekV3ForCausalLM";
    case Arch::Qwen2: return "Qwen2ForCausalLM";
    case Arch::Llama: return "LlamaForCausalLM";
    case Arch::Qwen3: return "Qwen3ForCausalLM";
  }
  return "?";
}

std::string_view router_label(Router r) {
  switch (r) {
    case Router::Greedy: return "greedy";
    case Router::GroupLimitedGreedy: return "group_limited_greedy";
    case Router::NoauxTC: return "noaux_tc";
  }
  return "?";
}

ModelConfig parse_model_config(const nlohmann::json& j, const std::string& src) {
  if (!j.is_object()) fail("{}: expected a JSON object", src);
  const Fields f(j, src);
  ModelConfig c;

  if (!j.contains("architectures") || !j.at("architectures").is_array() || j.at("architectures").empty() ||
      !j.at("architectures")[0].is_string()) {
    fail("{}: field 'architectures': expected a list with the model class name", src);
  }
  c.arch_name = j.at("architectures")[0].get<std::string>();
  bool known = false;
  for (Arch a : {Arch::DeepseekV2, Arch::DeepseekV3, Arch::Qwen2, Arch::Llama, Arch::Qwen3}) {
    if (c.arch_name == arch_label(a)) {
      c.arch = a;
      known = true;
    }
  }
  if (!known) {
    fail("{}: field 'architectures': '{}' is not supported (supported: DeepseekV3ForCausalLM, DeepseekV2ForCausalLM, "
         "Qwen2ForCausalLM, LlamaForCausalLM, Qwen3ForCausalLM)", src, c.arch_name);
  }

  c.vocab_size = f.integer("vocab_size");
  c.hidden_size = f.integer("hidden_size");
  c.intermediate_size = f.integer("intermediate_size");
  c.num_layers = f.integer("num_hidden_layers");
  c.num_heads = f.integer("num_attention_heads");
  c.max_position_embeddings = f.integer_or("max_position_embeddings", 4096, 1);
  c.rms_norm_eps = f.number_or("rms_norm_eps", 1e-6);
  if (!(c.rms_norm_eps > 0)) fail("{}: field 'rms_norm_eps': expected > 0", src);
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", false);
  c.rope.theta = f.number_or("rope_theta", 10000.0);
  if (!(c.rope.theta > 1.0)) fail("{}: field 'rope_theta': expected > 1", src);

  if (c.is_deepseek()) {
    parse_mla_and_moe(f, src, c);
    c.rope.dim = int(c.qk_rope_head_dim);
    c.rope.interleaved = true;
  } else {
    c.num_kv_heads = f.integer_or("num_key_value_heads", c.num_heads, 1);
    if (c.num_heads % c.num_kv_heads) {
      fail("{}: field 'num_key_value_heads': {} does not divide num_attention_heads {}", src, c.num_kv_heads, c.num_heads);
    }
    const int64_t default_head_dim = c.arch == Arch::Qwen3 ? 128 : c.hidden_size / c.num_heads;
    c.head_dim = f.integer_or("head_dim", default_head_dim, 2);
    if (c.arch != Arch::Qwen3 && !f.present("head_dim") && c.hidden_size % c.num_heads) {
      fail("{}: field 'num_attention_heads': {} does not divide hidden_size {}", src, c.num_heads, c.hidden_size);
    }
    if (c.head_dim % 2) fail("{}: field 'head_dim': must be even, got {}", src, c.head_dim);
    if (c.arch == Arch::Qwen2) {
      c.attention_bias = true;  // Qwen2 always has q/k/v biases and no o_proj bias
    } else {
      c.attention_bias = c.o_proj_bias = f.boolean_or("attention_bias", false);
    }
    if (f.boolean_or("mlp_bias", false)) fail("{}: field 'mlp_bias': true is not supported", src);
    c.qk_norm = c.arch == Arch::Qwen3;
    c.rope.dim = int(c.head_dim);
    c.rope.interleaved = false;
  }
  parse_rope_scaling(j, f, src, c);

  if (c.is_mla) {
    c.softmax_scale = 1.0 / std::sqrt(double(c.qk_nope_head_dim + c.qk_rope_head_dim));
    if (c.rope.scaling == RopeScaling::Yarn && c.rope.mscale_all_dim != 0.0) {
      const double m = yarn_get_mscale(c.rope.factor, c.rope.mscale_all_dim);
      c.softmax_scale *= m * m;
    }
  } else {
    c.softmax_scale = 1.0 / std::sqrt(double(c.head_dim));
  }

  if (j.contains("quantization_config") && !j.at("quantization_config").is_null()) {
    const auto& q = j.at("quantization_config");
    const std::string method = q.is_object() && q.contains("quant_method") && q.at("quant_method").is_string()
                                   ? q.at("quant_method").get<std::string>() : "";
    if (method != "fp8") fail("{}: field 'quantization_config.quant_method': '{}' is not supported (expected fp8)", src, method);
    c.fp8 = true;
    if (q.contains("weight_block_size")) {
      const auto& b = q.at("weight_block_size");
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer() ||
          b[0].get<int64_t>() < 1 || b[1].get<int64_t>() < 1 || b[0].get<int64_t>() > Fields::kMaxInt ||
          b[1].get<int64_t>() > Fields::kMaxInt) {
        fail("{}: field 'quantization_config.weight_block_size': expected two positive integers (at most {})", src,
             Fields::kMaxInt);
      }
      c.fp8_block_rows = b[0].get<int64_t>();
      c.fp8_block_cols = b[1].get<int64_t>();
    }
    c.fp8_ue8m0 = q.contains("scale_fmt") && q.at("scale_fmt") == "ue8m0";
  }

  c.bos_token_id = f.integer_or("bos_token_id", -1, -1);
  if (f.present("eos_token_id")) {
    const auto& e = j.at("eos_token_id");
    if (e.is_number_integer()) c.eos_token_ids.push_back(e.get<int64_t>());
    else if (e.is_array()) {
      for (const auto& x : e) {
        if (!x.is_number_integer()) fail("{}: field 'eos_token_id': expected integers", src);
        c.eos_token_ids.push_back(x.get<int64_t>());
      }
    } else {
      fail("{}: field 'eos_token_id': expected an integer or a list of integers", src);
    }
  }
  return c;
}

}  // namespace r1
