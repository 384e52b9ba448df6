#!/usr/bin/env bash
# Synthesizes the real-shape benchmark models (random weights: content does not change speed).
#   bench/make_models.sh [OUT_DIR]    default: ${R1_CACHE:-$HOME/.cache/r1}/bench
set -euo pipefail
cd "$(dirname "$0")/.."
r1=${R1:-build/src/r1}
out=${1:-${R1_CACHE:-$HOME/.cache/r1}/bench}
mkdir -p "$out"
make() {  # name preset args...
  local name=$1; shift
  if [ -f "$out/$name/config.json" ]; then echo "have $out/$name"; return; fi
  "$r1" synth "$@" "$out/$name" --seed 1
}
make r1-distill-qwen-1.5b-bf16 r1-distill-qwen-1.5b --dtype bf16
make v2-lite-8l-bf16 v2-lite --layers 8 --dtype bf16
make v3-4l-fp8 v3 --layers 4 --mtp-layers 0 --dtype fp8
