// The optimizer side of a training step: AdamW, global gradient-norm clipping, learning-rate schedules.
// Everything is deterministic: fixed summation orders, no threads, no randomness.
#pragma once

#include <cstdint>
#include <span>

namespace r1::train {

// AdamW (Loshchilov & Hutter), the decoupled form PyTorch and llm.c use. For step t = 1, 2, …:
//   m ← β1·m + (1−β1)·g          v ← β2·v + (1−β2)·g²
//   m̂ = m/(1−β1^t)               v̂ = v/(1−β2^t)
//   θ ← θ − lr·( m̂/(sqrt(v̂)+eps) + weight_decay·θ )
// Defaults: DeepSeek-V3's β1 = 0.9, β2 = 0.95, weight decay 0.1 (r1-training.md §5). Norms, biases and
// the router bias usually get weight_decay = 0: the caller chooses per tensor.
struct AdamW {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
};

// One update of n master weights θ (fp32 in training) with their moments m, v (zero before step 1).
template <class F>
void adamw_step(const AdamW& opt, int64_t step, double lr, F* param, const F* grad, F* m, F* v, int64_t n);

// sqrt(Σ g²) over all the gradient tensors, summed in double in the order given.
double grad_norm(std::span<const std::span<float>> grads);
double grad_norm(std::span<const std::span<double>> grads);

// Scales every gradient by max_norm/(norm + 1e-6) when the global norm exceeds max_norm (PyTorch's
// clip_grad_norm_). Returns the norm before clipping, for the log.
double clip_grad_norm(std::span<const std::span<float>> grads, double max_norm);
double clip_grad_norm(std::span<const std::span<double>> grads, double max_norm);

// Linear warm-up then cosine decay, llm.c's convention with 0-based steps:
//   step < warmup:  lr_max·(step+1)/warmup
//   then:           lr_min + (lr_max − lr_min)·(1 + cos(π·(step − warmup)/(total − warmup)))/2
//   step ≥ total:   lr_min
struct CosineSchedule {
  double lr_max = 0, lr_min = 0;
  int64_t warmup = 0, total = 0;
  double at(int64_t step) const;
};

// Warm-up, stable, decay (WSD): the warm-up above, lr_max for `stable` steps, then a linear decay to
// lr_min over `decay` steps, and lr_min after. The stable phase can be extended without knowing the
// final step count in advance; DeepSeek-V3's schedule has this shape (constant, then decay).
struct WsdSchedule {
  double lr_max = 0, lr_min = 0;
  int64_t warmup = 0, stable = 0, decay = 0;
  double at(int64_t step) const;
};

}  // namespace r1::train
