// The int8 kernels for NEON with the dot-product extension (sdot; chosen at run time where the CPU reports it).
#include "kernels/cpu/quant_dot_neon.h"

namespace r1::quant {

VecDot vec_dot_neondot(DType t) { return SimdKernels<Neon<true>>::table(t); }
VecDotRows vec_dot_rows_neondot(DType t) { return SimdKernels<Neon<true>>::table_rows(t); }
MatVec mat_vec_neondot(DType t) { return SimdKernels<Neon<true>>::table_mat_vec(t); }

}  // namespace r1::quant
