#!/usr/bin/env bash
# llama.cpp's per-type mat-vec speed beside r1's, alternately, on this machine: the pinned node-llama-cpp
# build (tests/compat/fetch_llama_cpp.sh), its CPU library for VARIANT (default icelake: AVX-512 VNNI;
# haswell for AVX2 machines), timed by bench/llama_cpp_matvec.c; then r1_bench_quant on the same shape.
#
#   bash bench/llama_cpp_matvec.sh [BUILD_DIR] [VARIANT] [ROUNDS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
variant="${2:-icelake}"
rounds="${3:-2}"
cache="$(bash "$here/../tests/compat/fetch_llama_cpp.sh" | tail -1)"
lib="$cache/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-$variant.so"
exe="$(mktemp -d)/llama_cpp_matvec"
gcc -O2 -Wall "$here/llama_cpp_matvec.c" -o "$exe" -ldl
for round in $(seq "$rounds"); do
  echo "== round $round: llama.cpp ($variant)"
  "$exe" "$lib" 160
  echo "== round $round: r1"
  "$build/tests/r1_bench_quant" --types Q4_K,IQ2_XXS,IQ2_XS,IQ2_S,IQ3_XXS,IQ3_S,IQ1_S,IQ1_M --shapes 4096x4096 \
    --threads 1 --isa best --footprint-mb 160 --layouts standard,groups
done
