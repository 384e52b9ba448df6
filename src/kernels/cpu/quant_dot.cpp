#include "kernels/cpu/quant_dot.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "kernels/cpu/quant_blocks.h"
#include "kernels/cpu/quant_fit.h"
#include "kernels/cpu/quants.h"

namespace r1::quant {

ActFormat act_format(DType weight_type) {
  return dtype_block_elems(weight_type) == kQK ? ActFormat::Q8_K : ActFormat::Q8_32;
}

size_t act_row_bytes(ActFormat f, int64_t n) {
  return f == ActFormat::Q8_K ? size_t(n / kQK) * sizeof(BlockQ8_K) : size_t(n / kQ) * sizeof(ActBlock32);
}

void quantize_activations(ActFormat f, const float* x, void* dst, int64_t n) {
  if (f == ActFormat::Q8_K) {
    quantize_row(DType::Q8_K, x, dst, n);
    return;
  }
  auto* blocks = static_cast<ActBlock32*>(dst);
  for (int64_t b = 0; b < n / kQ; ++b) {
    ActBlock32& a = blocks[b];
    a.d = quantize_absmax127(x + b * kQ, kQ, a.qs);
    a.sum = 0;
    for (int j = 0; j < kQ; ++j) a.sum += a.qs[j];
  }
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Vnni: return "avx512vnni";
  }
  return "?";
}

#if defined(R1_X86_KERNELS)
namespace {
// CPUID leaf 1, ECX bit 29. (clang 14's __builtin_cpu_supports does not know "f16c".)
bool cpu_has_f16c() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
}
}  // namespace
#endif

namespace {
bool probe_isa(Isa isa) {
#if defined(R1_X86_KERNELS)
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case Isa::Avx512:
      return probe_isa(Isa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
    case Isa::Avx512Vnni: return probe_isa(Isa::Avx512) && __builtin_cpu_supports("avx512vnni");
  }
  return false;
#else
  return isa == Isa::Scalar;
#endif
}
}  // namespace

bool isa_supported(Isa isa) {
  // Probed once: CPUID traps to the hypervisor in a VM (microseconds), and every matmul asks.
  static const bool supported[4] = {probe_isa(Isa::Scalar), probe_isa(Isa::Avx2), probe_isa(Isa::Avx512),
                                    probe_isa(Isa::Avx512Vnni)};
  return supported[size_t(isa)];
}

Isa best_isa() {
  Isa cap = Isa::Avx512Vnni;
  if (const char* env = std::getenv("R1_ISA")) {
    for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni}) {
      if (std::string_view(env) == isa_name(i)) cap = i;
    }
  }
  for (Isa i : {Isa::Avx512Vnni, Isa::Avx512, Isa::Avx2}) {
    if (i <= cap && isa_supported(i)) return i;
  }
  return Isa::Scalar;
}

namespace {
// The kernel for `w` from the table of `isa` (in Isa's order: scalar, AVX2, AVX-512, AVX-512 VNNI), or
// nullptr where this build or this CPU has none.
template <class Kernel>
Kernel pick(DType w, Isa isa, Kernel (*scalar)(DType), [[maybe_unused]] Kernel (*avx2)(DType),
            [[maybe_unused]] Kernel (*avx512)(DType), [[maybe_unused]] Kernel (*avx512vnni)(DType)) {
  if (!isa_supported(isa)) return nullptr;
  switch (isa) {
    case Isa::Scalar: return scalar(w);
#if defined(R1_X86_KERNELS)
    case Isa::Avx2: return avx2(w);
    case Isa::Avx512: return avx512(w);
    case Isa::Avx512Vnni: return avx512vnni(w);
#else
    default: return nullptr;
#endif
  }
  return nullptr;
}

#if defined(R1_X86_KERNELS)
#define R1_ISA_TABLES(name) name##_scalar, name##_avx2, name##_avx512, name##_avx512vnni
#else
#define R1_ISA_TABLES(name) name##_scalar, nullptr, nullptr, nullptr
#endif
}  // namespace

VecDot vec_dot(DType w, Isa isa) { return pick<VecDot>(w, isa, R1_ISA_TABLES(vec_dot)); }
VecDotRows vec_dot_rows(DType w, Isa isa) { return pick<VecDotRows>(w, isa, R1_ISA_TABLES(vec_dot_rows)); }
MatVec mat_vec(DType w, Isa isa) { return pick<MatVec>(w, isa, R1_ISA_TABLES(mat_vec)); }

}  // namespace r1::quant
