// The int8 kernels for AVX-512 F/BW/VL without VNNI (compiled with those enabled; chosen at run time).
#include "kernels/cpu/quant_dot_avx512.h"

namespace r1::quant {

VecDot vec_dot_avx512(DType t) { return SimdKernels<Avx512<false>>::table(t); }
VecDotRows vec_dot_rows_avx512(DType t) { return SimdKernels<Avx512<false>>::table_rows(t); }
MatVec mat_vec_avx512(DType t) { return SimdKernels<Avx512<false>>::table_mat_vec(t); }

}  // namespace r1::quant
