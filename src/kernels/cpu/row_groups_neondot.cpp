// The row-group kernels for NEON with the dot-product extension (sdot; chosen at run time where the CPU
// reports it).
#include "kernels/cpu/row_groups_neon.h"

namespace r1::quant {

MatVecGroups mat_vec_groups_neondot(DType t) { return RowGroupKernels<NeonRows<true>>::table(t); }

}  // namespace r1::quant
