#include "kernels/cpu/quant_gemm.h"

namespace r1::quant {

bool gemm_supported(DType type, Isa isa) {
#if defined(R1_X86_KERNELS)
  return isa == Isa::Avx512Vnni && gemm_avx512vnni_has(type);
#else
  (void)type;
  (void)isa;
  return false;
#endif
}

void gemm(const GemmArgs& args, ThreadPool& pool) {
#if defined(R1_X86_KERNELS)
  gemm_avx512vnni(args, pool);
#else
  (void)args;
  (void)pool;
#endif
}

}  // namespace r1::quant
