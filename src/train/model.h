// The trainable DeepSeek-V3-architecture model: the same model the inference engine runs -- the same
// ModelConfig, the same tensors under the same Hugging Face names (model/weights.h list_tensors), the
// same RoPE tables and router rule -- held as fp32 (or, for gradient checks, float64) parameters, with
// a forward pass that keeps its activations and a backward pass that turns them into gradients.
//
// Per sequence of T tokens:
//   x = embed(tokens); per layer: x += MLA(RMSNorm(x)); x += FFN(RMSNorm(x))   (FFN: SwiGLU, or
//   DeepSeekMoE: sigmoid router with selection bias, routed experts weighted, shared experts added);
//   loss = CE(head(RMSNorm(x)), targets)
//        + λ · CE of the MTP module (V3 §2.2: eh_proj([RMSNorm(embed(t+1)); RMSNorm(h_t)]) -> one block ->
//          shared_head.norm -> the shared head, predicting the token after next)
//        + Σ over MoE layers of the sequence-wise balance loss α·Σ f_i P_i (V3 eqs. 17-20).
// Attention runs in MLA's naive form (k, v decompressed through kv_b_proj): mathematically the absorbed
// form inference runs; tests/reference checks the two against each other.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/thread_pool.h"
#include "model/config.h"
#include "model/weights.h"

namespace r1::train {

struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  TensorRole role;
  int64_t offset = 0, size = 0;  // into the flat parameter (and gradient) buffer
};

struct LossOptions {
  double mtp_lambda = 0.3;      // weight of the MTP loss (0: the module is not run)
  double balance_alpha = 1e-4;  // weight of the sequence-wise balance loss (0: off)
};

struct Losses {
  double total = 0, main = 0, mtp = 0, balance = 0;
  int64_t counted = 0;  // targets counted in the main loss
};

template <class F>
class TrainModel {
 public:
  // Throws r1::Error for configurations training does not cover (not MLA, grouped or softmax routing,
  // more than one MTP module). max_tokens bounds the sequence length of forward().
  TrainModel(const ModelConfig& cfg, int64_t max_tokens, LossOptions options = {});
  ~TrainModel();
  TrainModel(const TrainModel&) = delete;
  TrainModel& operator=(const TrainModel&) = delete;

  const ModelConfig& config() const { return cfg_; }
  // The parameters, in list_tensors order; the MTP module's embedding and head are the main model's
  // (shared, as in V3) and are not separate parameters.
  const std::vector<ParamInfo>& params() const { return params_; }
  const ParamInfo& param_info(const std::string& name) const;
  bool has_param(const std::string& name) const { return by_name_.contains(name); }
  std::vector<F>& weights() { return w_; }  // all parameters, flat, in params() order
  std::vector<F>& grads() { return g_; }    // their gradients, same layout
  F* param(const std::string& name) { return w_.data() + param_info(name).offset; }
  F* grad(const std::string& name) { return g_.data() + param_info(name).offset; }
  void zero_grads();

  // Deterministic initialisation: N(0, std) for matrices and embeddings (std = 0.02, output projections
  // scaled by 1/sqrt(2·layers) as in GPT-2), ones for norms, zeros for router biases.
  void init(uint64_t seed, double std = 0.02);
  // Reads every parameter from a safetensors file by name (F32, F16 or BF16). Throws r1::Error.
  void load(const std::string& safetensors_path) { load(safetensors_path, w_); }
  // Writes every parameter as F32 (the Hugging Face names; loadable by Model::load beside a config.json).
  void save(const std::string& safetensors_path) const { save(safetensors_path, w_); }
  // The same for any values in the parameters' layout (the optimizer's moments, say).
  void load(const std::string& safetensors_path, std::vector<F>& values) const;
  void save(const std::string& safetensors_path, const std::vector<F>& values) const;

  // One sequence: tokens[0..T), targets[t] = the token that should follow position t (< 0: not counted).
  // forward() computes the losses and keeps the activations; backward() then adds scale · ∂total/∂θ to
  // the gradients (scale: e.g. 1 / sequences per step). logits() after forward(): [T, vocab].
  Losses forward(const int32_t* tokens, const int32_t* targets, int64_t T, ThreadPool& pool);
  void backward(double scale, ThreadPool& pool) { backward(scale, nullptr, pool); }
  // The same, but the main loss counts as Σ_t target_weights[t] · (-log p(targets[t])) instead of the
  // mean (GRPO's per-token coefficients); the MTP and balance losses still take `scale`.
  void backward(double scale, const double* target_weights, ThreadPool& pool);
  const F* logits() const;
  // log p(targets[t]) under the last forward() for each position (0 where the target is not counted).
  void target_logprobs(std::vector<double>& out) const;

  // Routed-expert load of the last forward() per MoE block (main layers, then the MTP block): how many of
  // the T·K selections each expert received. Feeds the auxiliary-loss-free bias update and the metrics.
  std::vector<std::vector<int64_t>> expert_load() const;
  // Names of the router bias of each MoE block, in expert_load() order.
  std::vector<std::string> router_bias_names() const;

 private:
  struct State;
  void block_forward(size_t block, F* x, int64_t T, ThreadPool& pool);
  void block_backward(size_t block, F* dx, int64_t T, double scale, ThreadPool& pool);

  ModelConfig cfg_;
  LossOptions o_;
  int64_t max_T_;
  std::vector<ParamInfo> params_;
  std::unordered_map<std::string, size_t> by_name_;
  std::vector<F> w_, g_;
  std::unique_ptr<State> s_;
};

extern template class TrainModel<float>;
extern template class TrainModel<double>;

}  // namespace r1::train
