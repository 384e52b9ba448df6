#include "kernels/cpu/quant_gemm.h"

namespace r1::quant {

bool gemm_supported([[maybe_unused]] DType type, Isa isa) {
#if defined(R1_X86_KERNELS)
  if (isa == Isa::Avx512Vnni) return gemm_avx512vnni_has(type);
  if (isa == Isa::Avx2 || isa == Isa::Avx512) return gemm_avx2_has(type);  // AVX-512 CPUs have AVX2
#endif
  return false;
}

void gemm([[maybe_unused]] const GemmArgs& args, [[maybe_unused]] ThreadPool& pool, Isa isa) {
#if defined(R1_X86_KERNELS)
  if (isa == Isa::Avx512Vnni) return gemm_avx512vnni(args, pool);
  if (isa == Isa::Avx2 || isa == Isa::Avx512) return gemm_avx2(args, pool);
#endif
}

}  // namespace r1::quant
