#include "train/ops/optim.h"

#include <cmath>
#include <numbers>

namespace r1::train {

template <class F>
void adamw_step(const AdamW& opt, int64_t step, double lr, F* param, const F* grad, F* m, F* v, int64_t n) {
  // Bias corrections in double: 1 − β2^t is tiny for small t and must not lose digits.
  const double c1 = 1.0 - std::pow(opt.beta1, double(step)), c2 = 1.0 - std::pow(opt.beta2, double(step));
  const F b1 = F(opt.beta1), b2 = F(opt.beta2), eps = F(opt.eps), wd = F(opt.weight_decay);
  const F inv_c1 = F(1.0 / c1), inv_c2 = F(1.0 / c2), lr_f = F(lr);
  for (int64_t i = 0; i < n; ++i) {
    const F g = grad[i];
    m[i] = b1 * m[i] + (F(1) - b1) * g;
    v[i] = b2 * v[i] + (F(1) - b2) * g * g;
    const F m_hat = m[i] * inv_c1, v_hat = v[i] * inv_c2;
    param[i] -= lr_f * (m_hat / (std::sqrt(v_hat) + eps) + wd * param[i]);
  }
}

namespace {

template <class F>
double norm_of(std::span<const std::span<F>> grads) {
  double ss = 0;
  for (const auto& g : grads) {
    for (const F x : g) ss += double(x) * double(x);
  }
  return std::sqrt(ss);
}

template <class F>
double clip(std::span<const std::span<F>> grads, double max_norm) {
  const double norm = norm_of(grads);
  if (norm > max_norm) {
    const F scale = F(max_norm / (norm + 1e-6));
    for (const auto& g : grads) {
      for (F& x : g) x *= scale;
    }
  }
  return norm;
}

double warmup_lr(double lr_max, int64_t warmup, int64_t step) { return lr_max * double(step + 1) / double(warmup); }

}  // namespace

double grad_norm(std::span<const std::span<float>> grads) { return norm_of(grads); }
double grad_norm(std::span<const std::span<double>> grads) { return norm_of(grads); }
double clip_grad_norm(std::span<const std::span<float>> grads, double max_norm) { return clip(grads, max_norm); }
double clip_grad_norm(std::span<const std::span<double>> grads, double max_norm) { return clip(grads, max_norm); }

double CosineSchedule::at(int64_t step) const {
  if (step < warmup) return warmup_lr(lr_max, warmup, step);
  if (step >= total) return lr_min;
  const double ratio = double(step - warmup) / double(total - warmup);
  return lr_min + (lr_max - lr_min) * 0.5 * (1.0 + std::cos(std::numbers::pi * ratio));
}

double WsdSchedule::at(int64_t step) const {
  if (step < warmup) return warmup_lr(lr_max, warmup, step);
  if (step < warmup + stable) return lr_max;
  if (step >= warmup + stable + decay) return lr_min;
  const double ratio = double(step - warmup - stable) / double(decay);
  return lr_max + (lr_min - lr_max) * ratio;
}

#define R1_INSTANTIATE(F) template void adamw_step<F>(const AdamW&, int64_t, double, F*, const F*, F*, F*, int64_t);
R1_INSTANTIATE(float)
R1_INSTANTIATE(double)
#undef R1_INSTANTIATE

}  // namespace r1::train
