// What the vpdpbusd rate survives: 16 independent vpdpbusd chains per loop iteration, alone and with other
// instructions mixed in (shuffles, permutes, stores, broadcast loads), each loop a fixed-register asm block
// so that no compiler choice moves the mix. The best of three runs of 2M iterations, in G vpdpbusd/s per
// thread. These numbers shaped the Q8 attention's value pass (kernels/cpu/latent_q8_avx512vnni.cpp): its
// 4 × 4 byte transposition by vpermt2b in registers rather than by shuffles through stored scratch, as
// stores are what vpdpbusd tolerates worst. Results: bench/RESULTS.md.
//
//   r1_bench_vnni_mix          (x86-64 with AVX-512 VNNI and VBMI; elsewhere it says so and exits)
#include <algorithm>
#include <chrono>
#include <cstdio>

#if defined(__x86_64__)

#define DP16                                                                                                   \
  "vpdpbusd %%zmm1, %%zmm0, %%zmm2\n vpdpbusd %%zmm1, %%zmm0, %%zmm3\n vpdpbusd %%zmm1, %%zmm0, %%zmm4\n"      \
  "vpdpbusd %%zmm1, %%zmm0, %%zmm5\n vpdpbusd %%zmm1, %%zmm0, %%zmm6\n vpdpbusd %%zmm1, %%zmm0, %%zmm7\n"      \
  "vpdpbusd %%zmm1, %%zmm0, %%zmm8\n vpdpbusd %%zmm1, %%zmm0, %%zmm9\n vpdpbusd %%zmm1, %%zmm0, %%zmm10\n"     \
  "vpdpbusd %%zmm1, %%zmm0, %%zmm11\n vpdpbusd %%zmm1, %%zmm0, %%zmm12\n vpdpbusd %%zmm1, %%zmm0, %%zmm13\n"   \
  "vpdpbusd %%zmm1, %%zmm0, %%zmm14\n vpdpbusd %%zmm1, %%zmm0, %%zmm15\n vpdpbusd %%zmm1, %%zmm0, %%zmm16\n"   \
  "vpdpbusd %%zmm1, %%zmm0, %%zmm17\n"
#define PSHUFB4 "vpshufb %%zmm1, %%zmm20, %%zmm21\n vpshufb %%zmm1, %%zmm22, %%zmm23\n vpshufb %%zmm1, %%zmm24, %%zmm25\n vpshufb %%zmm1, %%zmm26, %%zmm27\n"
#define SHUF4                                                                                                  \
  "vshufi32x4 $0x44, %%zmm20, %%zmm22, %%zmm21\n vshufi32x4 $0x44, %%zmm22, %%zmm24, %%zmm23\n"                \
  "vshufi32x4 $0x88, %%zmm24, %%zmm26, %%zmm25\n vshufi32x4 $0xdd, %%zmm26, %%zmm20, %%zmm27\n"
// Eight vpermt2b (each after a register copy of its table, as the value pass's transposition does).
#define PERM8                                                                                                  \
  "vmovdqa64 %%zmm20, %%zmm21\n vpermt2b %%zmm22, %%zmm1, %%zmm21\n vmovdqa64 %%zmm24, %%zmm23\n"              \
  "vpermt2b %%zmm26, %%zmm1, %%zmm23\n vmovdqa64 %%zmm20, %%zmm25\n vpermt2b %%zmm22, %%zmm28, %%zmm25\n"      \
  "vmovdqa64 %%zmm24, %%zmm27\n vpermt2b %%zmm26, %%zmm28, %%zmm27\n vmovdqa64 %%zmm21, %%zmm29\n"             \
  "vpermt2b %%zmm23, %%zmm1, %%zmm29\n vmovdqa64 %%zmm21, %%zmm30\n vpermt2b %%zmm23, %%zmm28, %%zmm30\n"      \
  "vmovdqa64 %%zmm25, %%zmm31\n vpermt2b %%zmm27, %%zmm1, %%zmm31\n vmovdqa64 %%zmm25, %%zmm19\n"              \
  "vpermt2b %%zmm27, %%zmm28, %%zmm19\n"
#define STORE4 "vmovdqu64 %%zmm21, (%1)\n vmovdqu64 %%zmm23, 64(%1)\n vmovdqu64 %%zmm25, 128(%1)\n vmovdqu64 %%zmm27, 192(%1)\n"
// 16 weight words broadcast from memory, each into the unsigned operand of one vpdpbusd (the value pass's
// pattern: one broadcast per head and row quad).
#define BCAST_DP(i, acc) "vpbroadcastd " #i "(%1), %%zmm18\n vpdpbusd %%zmm0, %%zmm18, %%zmm" #acc "\n"
#define BCAST_DP16                                                                                             \
  BCAST_DP(0, 2) BCAST_DP(4, 3) BCAST_DP(8, 4) BCAST_DP(12, 5) BCAST_DP(16, 6) BCAST_DP(20, 7) BCAST_DP(24, 8) \
  BCAST_DP(28, 9) BCAST_DP(32, 10) BCAST_DP(36, 11) BCAST_DP(40, 12) BCAST_DP(44, 13) BCAST_DP(48, 14)        \
  BCAST_DP(52, 15) BCAST_DP(56, 16) BCAST_DP(60, 17)
#define LOOP(body) asm volatile("1:\n" body "dec %0\n jnz 1b" : "+r"(n) : "r"(buf) : "memory")

alignas(64) static char buf[4096];

// G vpdpbusd per second of mix k (16 per iteration).
__attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi"))) static double rate(int k) {
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    long n = 2000000;
    const auto t0 = std::chrono::steady_clock::now();
    switch (k) {
      case 0: LOOP(DP16); break;
      case 1: LOOP(DP16 PSHUFB4); break;
      case 2: LOOP(DP16 SHUF4 SHUF4); break;
      case 3: LOOP(DP16 PERM8); break;
      case 4: LOOP(DP16 STORE4); break;
      case 5: LOOP(DP16 PSHUFB4 SHUF4 SHUF4 STORE4); break;
      case 6: LOOP(BCAST_DP16); break;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2000000.0 * 16 / s / 1e9);
  }
  return best;
}

int main() {
  if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512vbmi")) {
    std::printf("this CPU lacks AVX-512 VNNI or VBMI: nothing to measure\n");
    return 0;
  }
  const char* mixes[] = {"16 vpdpbusd",
                         "+ 4 vpshufb",
                         "+ 8 vshufi32x4",
                         "+ 8 vpermt2b (and 8 register copies)",
                         "+ 4 64-byte stores",
                         "+ the old transposition of a run: 4 vpshufb, 8 vshufi32x4, 4 stores",
                         "16 x (broadcast load -> vpdpbusd)"};
  for (int k = 0; k < 7; ++k) std::printf("%-72s %.2f G vpdpbusd/s\n", mixes[k], rate(k));
  return 0;
}

#else
int main() {
  std::printf("x86-64 only: nothing to measure\n");
  return 0;
}
#endif
