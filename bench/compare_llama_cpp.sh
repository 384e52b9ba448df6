#!/usr/bin/env bash
# r1 and llama.cpp on the same GGUF files, on this machine, one engine after the other for R rounds
# (the host's speed drifts by the minute, so the rounds interleave): pp512 and tg64 with T threads, each engine's
# best of REPS runs per round after an untimed warm-up run of each test (llama-bench's default, as the anchors).
# llama.cpp is node-llama-cpp's prebuilt CPU build (tests/compat/fetch_llama_cpp.sh; bench/llama_cpp_bench.mjs).
#   bench/compare_llama_cpp.sh FILE.gguf...      env: THREADS (2), ROUNDS (3), REPS (1), P (512), N (64),
#                                                R1_ARGS (more r1 bench flags, e.g. "--mla-prefill auto")
set -euo pipefail
cd "$(dirname "$0")/.."
r1=${R1:-build/src/r1}
T=${THREADS:-2} R=${ROUNDS:-3} REPS=${REPS:-1} P=${P:-512} N=${N:-64}
llama=$(bash tests/compat/fetch_llama_cpp.sh | tail -n 1)
summary='import sys, json
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
print(" ".join("%s %.1f" % (j["test"], j["tokens_per_s"]) for j in rows))'
for f in "$@"; do
  for round in $(seq "$R"); do
    # shellcheck disable=SC2086  # R1_ARGS: words on purpose
    a=$("$r1" bench "$f" -p "$P" -n "$N" -t "$T" -r "$REPS" ${R1_ARGS:-} --json 2>/dev/null | python3 -c "$summary")
    b=$(node bench/llama_cpp_bench.mjs "$llama" "$f" -p "$P" -n "$N" -t "$T" -r "$REPS" 2>/dev/null | python3 -c "$summary")
    echo "$(basename "$f") t=$T round $round: r1 $a | llama.cpp $b"
  done
done
