#include "kernels/cpu/quant_dot.h"

#if defined(R1_X86_KERNELS)
#include <cpuid.h>
#elif defined(R1_ARM_KERNELS)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include <array>
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
    case Isa::AvxVnni: return "avxvnni";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Vnni: return "avx512vnni";
    case Isa::Neon: return "neon";
    case Isa::NeonDot: return "neondot";
  }
  return "?";
}

namespace {
#if defined(R1_X86_KERNELS)
// CPUID leaf 1, ECX bit 29. (clang 14's __builtin_cpu_supports does not know "f16c".)
bool cpu_has_f16c() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
}
// AVX-VNNI: CPUID leaf 7, sub-leaf 1, EAX bit 4 (GCC 12's __builtin_cpu_supports has no name for it).
bool cpu_has_avx_vnni() {
  unsigned a, b, c, d;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4)) != 0;
}
#endif

bool probe_isa(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return true;
#if defined(R1_X86_KERNELS)
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case Isa::AvxVnni: return probe_isa(Isa::Avx2) && cpu_has_avx_vnni();
    case Isa::Avx512:
      return probe_isa(Isa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
    case Isa::Avx512Vnni: return probe_isa(Isa::Avx512) && __builtin_cpu_supports("avx512vnni");
#elif defined(R1_ARM_KERNELS)
    case Isa::Neon: return true;  // Advanced SIMD is part of AArch64
    case Isa::NeonDot: return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
    default: return false;
  }
}

// Fastest first, per family: best_isa takes the first supported one at or after the cap. (No CPU has
// AVX-VNNI and AVX-512 without AVX512-VNNI.)
#if defined(R1_X86_KERNELS)
constexpr Isa kFastestFirst[] = {Isa::Avx512Vnni, Isa::Avx512, Isa::AvxVnni, Isa::Avx2, Isa::Scalar};
#elif defined(R1_ARM_KERNELS)
constexpr Isa kFastestFirst[] = {Isa::NeonDot, Isa::Neon, Isa::Scalar};
#else
constexpr Isa kFastestFirst[] = {Isa::Scalar};
#endif
}  // namespace

bool isa_supported(Isa isa) {
  // Probed once: CPUID traps to the hypervisor in a VM (microseconds), and every matmul asks.
  static const auto supported = [] {
    std::array<bool, std::size(kAllIsas)> s{};
    for (Isa i : kAllIsas) s[size_t(i)] = probe_isa(i);
    return s;
  }();
  return supported[size_t(isa)];
}

Isa best_isa() {
  size_t from = 0;
  if (const char* env = std::getenv("R1_ISA")) {
    for (size_t k = 0; k < std::size(kFastestFirst); ++k) {
      if (std::string_view(env) == isa_name(kFastestFirst[k])) from = k;
    }
  }
  for (size_t k = from; k < std::size(kFastestFirst); ++k) {
    if (isa_supported(kFastestFirst[k])) return kFastestFirst[k];
  }
  return Isa::Scalar;
}

namespace {
// The kernel for `w` from the table of `isa` (tables in kAllIsas' order), or nullptr where this build
// or this CPU has none.
template <class Kernel>
Kernel pick(DType w, Isa isa, const std::array<Kernel (*)(DType), std::size(kAllIsas)>& tables) {
  if (!isa_supported(isa) || tables[size_t(isa)] == nullptr) return nullptr;
  return tables[size_t(isa)](w);
}

#if defined(R1_X86_KERNELS)
#define R1_ISA_TABLES(name) \
  {name##_scalar, name##_avx2, name##_avxvnni, name##_avx512, name##_avx512vnni, nullptr, nullptr}
#elif defined(R1_ARM_KERNELS)
#define R1_ISA_TABLES(name) {name##_scalar, nullptr, nullptr, nullptr, nullptr, name##_neon, name##_neondot}
#else
#define R1_ISA_TABLES(name) {name##_scalar, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr}
#endif
}  // namespace

VecDot vec_dot(DType w, Isa isa) { return pick<VecDot>(w, isa, R1_ISA_TABLES(vec_dot)); }
VecDotRows vec_dot_rows(DType w, Isa isa) { return pick<VecDotRows>(w, isa, R1_ISA_TABLES(vec_dot_rows)); }
MatVec mat_vec(DType w, Isa isa) { return pick<MatVec>(w, isa, R1_ISA_TABLES(mat_vec)); }

}  // namespace r1::quant
