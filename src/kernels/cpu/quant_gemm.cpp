#include "kernels/cpu/quant_gemm.h"

#include <cassert>

namespace r1::quant {

namespace {
// The implementation for `isa` (one place maps instruction sets to GEMMs); nulls where there is none.
struct GemmImpl {
  bool (*has)(DType) = nullptr;
  void (*run)(std::span<const GemmArgs>, ThreadPool&) = nullptr;
  int group_tokens = 0;  // its policy's kLanes
};
GemmImpl gemm_impl([[maybe_unused]] Isa isa) {
#if defined(R1_X86_KERNELS)
  if (isa == Isa::Avx512Vnni) return {gemm_avx512vnni_has, gemm_avx512vnni, 16};
  if (isa == Isa::AvxVnni) return {gemm_avxvnni_has, gemm_avxvnni, 8};
  if (isa == Isa::Avx2 || isa == Isa::Avx512) return {gemm_avx2_has, gemm_avx2, 8};  // AVX-512 CPUs have AVX2
#endif
  return {};
}
}  // namespace

bool gemm_supported(DType type, Isa isa) {
  const GemmImpl g = gemm_impl(isa);
  return g.has != nullptr && g.has(type);
}

int gemm_group_tokens(Isa isa) { return gemm_impl(isa).group_tokens; }

void gemm(std::span<const GemmArgs> jobs, ThreadPool& pool, Isa isa) {
  for ([[maybe_unused]] const GemmArgs& j : jobs) assert(gemm_supported(j.type, isa));
  if (!jobs.empty()) gemm_impl(isa).run(jobs, pool);
}

}  // namespace r1::quant
