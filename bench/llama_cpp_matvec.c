// llama.cpp's own CPU mat-vec kernels (ggml_vec_dot_<type>_q8_K of the pinned node-llama-cpp build), timed
// the way r1_bench_quant times r1's: one matrix (4096 x 4096 unless given) times one token, one thread, the matrix
// replicated over a footprint and walked copy by copy, best of five passes. For the r1 / llama.cpp
// per-type ratios in bench/RESULTS.md; run by bench/llama_cpp_matvec.sh.
//
//   llama_cpp_matvec LIBGGML_CPU.so [FOOTPRINT_MB] [ROWSxCOLS]     (default 4096x4096)
//
// Weights are random blocks with a small fp16 scale in bytes 0-1 (Q4_K: d and dmin); the kernels' speed
// does not depend on the values.
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*vec_dot_fn)(int n, float* s, size_t bs, const void* vx, size_t bx, const void* vy, size_t by, int nrc);
typedef void (*quantize_fn)(const float* x, void* y, int64_t k);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s LIBGGML_CPU.so [FOOTPRINT_MB] [ROWSxCOLS]\n", argv[0]);
    return 2;
  }
  void* lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  const size_t footprint = (size_t)(argc > 2 ? atoi(argv[2]) : 160) << 20;
  static const struct { const char* name; int bytes; } types[] = {
      {"q4_K", 144}, {"q6_K", 210}, {"iq2_xxs", 66}, {"iq2_xs", 74}, {"iq2_s", 82}, {"iq3_xxs", 98},
      {"iq3_s", 110}, {"iq1_s", 50},  {"iq1_m", 56}};
  int rows = 4096, cols = 4096;
  if (argc > 3 && (sscanf(argv[3], "%dx%d", &rows, &cols) != 2 || rows <= 0 || cols <= 0 || cols % 256)) {
    fprintf(stderr, "%s: expected ROWSxCOLS with COLS a multiple of 256, got %s\n", argv[0], argv[3]);
    return 2;
  }
  quantize_fn quantize_q8_k = (quantize_fn)dlsym(lib, "quantize_row_q8_K");
  if (!quantize_q8_k) {
    fprintf(stderr, "%s: no quantize_row_q8_K\n", argv[1]);
    return 1;
  }
  float* x = malloc(sizeof(float) * cols);
  for (int i = 0; i < cols; ++i) x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  void* act = malloc((size_t)cols / 256 * 292);
  quantize_q8_k(x, act, cols);
  float* y = malloc(sizeof(float) * rows);
  printf("| type | engine | threads | us per call |\n|---|---|---:|---:|\n");
  for (size_t t = 0; t < sizeof types / sizeof types[0]; ++t) {
    char symbol[64];
    snprintf(symbol, sizeof symbol, "ggml_vec_dot_%s_q8_K", types[t].name);
    vec_dot_fn dot = (vec_dot_fn)dlsym(lib, symbol);
    if (!dot) {
      fprintf(stderr, "no %s\n", symbol);
      continue;
    }
    const size_t row_bytes = (size_t)cols / 256 * (size_t)types[t].bytes, matrix = row_bytes * (size_t)rows;
    const size_t copies = footprint / matrix > 0 ? footprint / matrix : 1;
    uint8_t* w = malloc(matrix * copies);
    srand(1);
    for (size_t i = 0; i < matrix * copies; ++i) w[i] = (uint8_t)rand();
    for (size_t b = 0; b < matrix * copies; b += (size_t)types[t].bytes) {
      w[b] = 0x1f, w[b + 1] = 0x20;  // fp16 0x201f = 0.0079
      if (t == 0) w[b + 2] = 0x1f, w[b + 3] = 0x20;
    }
    double best = 1e30;
    for (int pass = 0; pass < 5; ++pass) {
      const double t0 = now();
      for (size_t c = 0; c < copies; ++c) {
        for (int r = 0; r < rows; ++r) dot(cols, y + r, 0, w + c * matrix + (size_t)r * row_bytes, 0, act, 0, 1);
      }
      const double us = (now() - t0) / (double)copies * 1e6;
      if (us < best) best = us;
    }
    printf("| %s | llama.cpp | 1 | %.0f |\n", types[t].name, best);
    free(w);
  }
  return 0;
}
