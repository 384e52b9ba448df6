// The Q8 attention's quantization steps, its scalar kernels, and the choice of kernels (latent_q8.h).
#include "kernels/cpu/latent_q8.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/latent_q8_recipe.h"
#include "kernels/cpu/quant_fit.h"

namespace r1 {

namespace {

void scores_scalar(const LatentQ8Shape& s, const QueryQ8& q, const LatentBlockQ8* blocks, int64_t count,
                   const LatentBlockQ8*, int64_t, float scale, float* scores, int64_t ld) {
  const int64_t lg = s.latent_groups(), G = s.groups();
  for (int64_t n = 0; n < count; ++n) {
    const LatentBlockQ8& b = blocks[n];
    for (int64_t h = 0; h < s.heads; ++h) {
      const int8_t* qh = q.q + h * 4 * G;
      Ints16 latent = {}, rope = {};
      for (int64_t i = 0; i < kQ8BlockRows; ++i) {
        for (int64_t g = 0; g < G; ++g) {
          int32_t sum = 0;
          for (int k = 0; k < 4; ++k) sum += int32_t(cached(b, g, i, k)) * qh[4 * g + k];
          (g < lg ? latent : rope)[i] += sum;
        }
      }
      finish_scores(q, b, h, scale, latent, rope, scores + h * ld + n * kQ8BlockRows);
    }
  }
}

void values_scalar(const LatentQ8Shape& s, const LatentBlockQ8* blocks, int64_t count, const uint8_t* pw, const float* ws,
                   float* o, int64_t ld, uint8_t*, const LatentBlockQ8*, int64_t) {
  for (int64_t h = 0; h < s.heads; ++h) {
    for (int64_t j = 0; j < s.dc; ++j) {
      int32_t sum = 0;
      for (int64_t k = 0; k < count; ++k) {
        for (int64_t i = 0; i < kQ8BlockRows; ++i) {
          sum += int32_t(pw[h * kQ8StepRows + k * kQ8BlockRows + i]) * cached(blocks[k], j / 4, i, int(j % 4));
        }
      }
      o[h * ld + j] = std::fma(float(sum), ws[h], o[h * ld + j]);
    }
  }
}

}  // namespace

void quantize_query_q8(const LatentQ8Shape& s, const float* q_latent, int64_t latent_stride, const float* q_rope,
                       int64_t rope_stride, const QueryQ8& q) {
  const int64_t G = s.groups();
  for (int64_t h = 0; h < s.heads; ++h) {
    int8_t* qh = q.q + h * 4 * G;
    std::memset(qh, 0, size_t(4 * G));
    q.latent_scale[h] = quant::quantize_absmax127(q_latent + h * latent_stride, int(s.dc), qh);
    q.rope_scale[h] = quant::quantize_absmax127(q_rope + h * rope_stride, int(s.dr), qh + 4 * s.latent_groups());
    int32_t latent = 0, rope = 0;
    for (int64_t i = 0; i < 4 * s.latent_groups(); ++i) latent += qh[i];
    for (int64_t i = 4 * s.latent_groups(); i < 4 * G; ++i) rope += qh[i];
    q.latent_sum[h] = latent;
    q.rope_sum[h] = rope;
  }
}

void quantize_weights_q8(const float* p, const float* latent_scale, int64_t n, uint8_t* pw, float* ws) {
  constexpr int64_t kVectors = kQ8StepRows / 16;
  Lanes16 w[kVectors], lane_max = {};  // the lanes' maxima, then one reduction across them
  for (int64_t v = 0; v < kVectors; ++v) {
    w[v] = first_lanes(load16(p + 16 * v) * load16(latent_scale + 16 * v), n - 16 * v, 0.0f);  // NaN past n: replaced
    lane_max = w[v] > lane_max ? w[v] : lane_max;
  }
  const float top = max_lanes(lane_max);
  if (!(top > 0)) {
    std::memset(pw, 0, kQ8StepRows);
    *ws = 0;
    return;
  }
  constexpr float kMagic = 12582912.0f;  // adding and subtracting it rounds to the nearest integer
  typedef uint8_t Bytes16 __attribute__((vector_size(16)));
  for (int64_t v = 0; v < kVectors; ++v) {
    Lanes16 r = (w[v] * (255.0f / top) + kMagic) - kMagic;
    r = r < 0.0f ? Lanes16{} : r;
    r = r > 255.0f ? Lanes16{} + 255.0f : r;
    const Bytes16 bytes = __builtin_convertvector(__builtin_convertvector(r, Ints16), Bytes16);
    std::memcpy(pw + 16 * v, &bytes, 16);
  }
  *ws = top / 255.0f;
}

LatentQ8Kernels latent_q8_kernels_scalar() { return {scores_scalar, values_scalar, no_scratch}; }

LatentQ8Kernels latent_q8_kernels(quant::Isa isa) {
#if defined(R1_X86_KERNELS)
  using quant::Isa;
  if (quant::isa_supported(isa)) {
    if (isa == Isa::Avx512Vnni) return latent_q8_kernels_avx512vnni();
    if (isa == Isa::AvxVnni) return latent_q8_kernels_avxvnni();
    // AVX-512 without VNNI runs the AVX2 kernels: no 512-bit version of those is written.
    if (isa == Isa::Avx2 || isa == Isa::Avx512) return latent_q8_kernels_avx2();
  }
#elif defined(R1_ARM_KERNELS)
  // Plain NEON (no sdot) runs the scalar kernels: no version without the dot-product extension is written.
  if (isa == quant::Isa::NeonDot && quant::isa_supported(isa)) return latent_q8_kernels_neondot();
#endif
  (void)isa;
  return latent_q8_kernels_scalar();
}

}  // namespace r1
