// The int8 kernels for NEON without the dot-product extension (every AArch64 CPU; vmull + vpadal).
#include "kernels/cpu/quant_dot_neon.h"

namespace r1::quant {

VecDot vec_dot_neon(DType t) { return SimdKernels<Neon<false>>::table(t); }
VecDotRows vec_dot_rows_neon(DType t) { return SimdKernels<Neon<false>>::table_rows(t); }
MatVec mat_vec_neon(DType t) { return SimdKernels<Neon<false>>::table_mat_vec(t); }

}  // namespace r1::quant
