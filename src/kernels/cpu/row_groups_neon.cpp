// The row-group kernels for plain NEON (every AArch64 CPU; widening multiplies, no sdot).
#include "kernels/cpu/row_groups_neon.h"

namespace r1::quant {

MatVecGroups mat_vec_groups_neon(DType t) { return RowGroupKernels<NeonRows<false>>::table(t); }

}  // namespace r1::quant
