#!/usr/bin/env bash
# GGUF benchmarks for issue 4, on the files bench/make_models.sh writes: pp512 and tg128 at 1 and 2
# threads, and for the MLA model tg128 at context depths 8k and 16k. One JSON line per test (tokens/s,
# % of the read-bandwidth roofline measured in the same run, peak RSS).
#   bench/run_gguf.sh [MODELS_DIR]  >> results.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
r1=${R1:-build/src/r1}
dir=${1:-${R1_CACHE:-$HOME/.cache/r1}/bench}
P=${P:-512} N=${N:-128} THREADS=${THREADS:-"1 2"}
for m in r1-distill-qwen-1.5b-q8_0 r1-distill-qwen-1.5b-q4_k_m v2-lite-8l-q8_0 v2-lite-8l-q4_k_m; do
  f="$dir/$m.gguf"
  [ -f "$f" ] || { echo "missing $f (run bench/make_models.sh)" >&2; continue; }
  depth=0
  case $m in v2-lite*) depth=0,8192,16384 ;; esac
  for t in $THREADS; do
    "$r1" bench "$f" -p "$P" -n "$N" -t "$t" -d "$depth" --json
  done
done
