// The reference int8 kernels: every recipe of quant_dot_ref.h run as written, one block at a time.
#include "kernels/cpu/quant_dot_ref.h"

namespace r1::quant {

namespace {

template <class R>
float dot_scalar(int64_t n, const void* w, const void* a) {
  return dot_row<R>(n, w, a, [](const auto& wb, const auto& ab) { return R::sums(wb, ab); });
}

template <class R>
void dot_rows_scalar(int64_t n, const void* w, const void* a, size_t stride, int tokens, float* out) {
  for (int t = 0; t < tokens; ++t) out[t] = dot_scalar<R>(n, w, static_cast<const uint8_t*>(a) + t * stride);
}

template <class R>
void mat_vec_scalar(int64_t n, const void* w, size_t row_bytes, int rows, const void* a, float* out) {
  for (int r = 0; r < rows; ++r) out[r] = dot_scalar<R>(n, static_cast<const uint8_t*>(w) + size_t(r) * row_bytes, a);
}

}  // namespace

MatVec mat_vec_scalar(DType t) {
  return with_recipe(t, [](auto recipe) -> MatVec { return mat_vec_scalar<decltype(recipe)>; }, MatVec(nullptr));
}

VecDotRows vec_dot_rows_scalar(DType t) {
  return with_recipe(t, [](auto recipe) -> VecDotRows { return dot_rows_scalar<decltype(recipe)>; }, VecDotRows(nullptr));
}

VecDot vec_dot_scalar(DType t) {
  return with_recipe(t, [](auto recipe) -> VecDot { return dot_scalar<decltype(recipe)>; }, VecDot(nullptr));
}

}  // namespace r1::quant
