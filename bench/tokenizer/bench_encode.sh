#!/usr/bin/env bash
# Encode throughput, one thread: r1's tokenizer vs the Node oracle (@lenml/tokenizers, the
# transformers.js port) on the same input -- the tokenizer test lines (tests/tokenizer/check_exact.py:
# committed corpus, multi-line chunks and seeded random lines) repeated REPEAT times.
# Both sides time only the encode loop (not loading, not JSON parsing) and print wall and CPU time;
# CPU time is the fairer number on a busy machine (Node's includes its GC threads).
#
#   bench/tokenizer/bench_encode.sh [R1_BINARY] [REPEAT]      (default build/src/r1, 10)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
r1="${1:-$root/build/src/r1}"
repeat="${2:-10}"
cache="$(bash "$root/tests/tokenizer/fetch_tokenizers.sh" | tail -1)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 "$root/tests/tokenizer/check_exact.py" --dump "$work/once.jsonl"
for _ in $(seq "$repeat"); do cat "$work/once.jsonl"; done > "$work/lines.jsonl"
echo "input: $(wc -l < "$work/lines.jsonl") lines, $(wc -c < "$work/lines.jsonl") bytes of JSON; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for vocab in deepseek-v3 qwen3 llama3.1; do
  echo "== $vocab"
  "$r1" tokenize "$cache/$vocab" --jsonl --bench < "$work/lines.jsonl"
  node "$root/tests/tokenizer/oracle.cjs" "$cache/node_modules" "$cache/$vocab" --bench < "$work/lines.jsonl"
done
