// The int8 kernels for AVX-512 F/BW/VL + VNNI (vpdpbusd, vpdpwssd; chosen at run time).
#include "kernels/cpu/quant_dot_avx512.h"

namespace r1::quant {

VecDot vec_dot_avx512vnni(DType t) { return SimdKernels<Avx512<true>>::table(t); }
VecDotRows vec_dot_rows_avx512vnni(DType t) { return SimdKernels<Avx512<true>>::table_rows(t); }
MatVec mat_vec_avx512vnni(DType t) { return SimdKernels<Avx512<true>>::table_mat_vec(t); }

}  // namespace r1::quant
