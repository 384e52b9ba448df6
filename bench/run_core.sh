#!/usr/bin/env bash
# Baseline engine benchmarks on the real-shape synthetic models (bench/make_models.sh):
# prefill pp512 and decode tg128 at 1 and 2 threads, one JSON line per test (tokens/s, % of the
# read-bandwidth roofline measured in the same run, peak RSS).
#   bench/run_core.sh [MODELS_DIR]  >> results.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
r1=${R1:-build/src/r1}
dir=${1:-${R1_CACHE:-$HOME/.cache/r1}/bench}
P=${P:-512} N=${N:-128}
for m in r1-distill-qwen-1.5b-bf16 v2-lite-8l-bf16 v3-4l-fp8; do
  [ -d "$dir/$m" ] || { echo "missing $dir/$m (run bench/make_models.sh)" >&2; continue; }
  for t in 1 2; do
    "$r1" bench "$dir/$m" -p "$P" -n "$N" -t "$t" --json
  done
done
