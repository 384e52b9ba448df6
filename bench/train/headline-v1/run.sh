#!/usr/bin/env bash
# The headline run of issue 6: a tiny DeepSeek-V3-architecture model made into an R1-Zero-style reasoner
# from scratch on this machine's CPU cores -- pre-training on worked arithmetic, a short SFT, then GRPO
# with verifiable rewards, and beside it the same GRPO with random rewards (the control) -- then every
# checkpoint measured on the same held-out problems and one HTML report of all four runs.
#
#   bash bench/train/headline/run.sh [OUT_DIR] [R1_BINARY]     (default /tmp/r1-headline, build/src/r1)
#
# A stage whose run directory already has a final checkpoint is not rerun. Results: OUT_DIR/summary.json
# and OUT_DIR/report.html; bench/RESULTS.md quotes them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-/tmp/r1-headline}"
r1="$(realpath "${2:-$here/../../../build/src/r1}")"
mkdir -p "$out"
cd "$out"

# A stage config with train.init_from pointing at the previous stage's final checkpoint.
config() {  # config NAME INIT_FROM
  /usr/bin/python3 - "$here/$1.json" "$2" > "$out/$1.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
if sys.argv[2]:
    c["train"]["init_from"] = sys.argv[2]
print(json.dumps(c, indent=1))
PY
}

stage() {  # stage KIND NAME INIT_FROM
  if [ -e "$out/$2/final" ]; then echo "== $2: done already"; return; fi
  config "$2" "$3"
  echo "== $2 ($1)"
  /usr/bin/time -f "$2: %e s wall, %U s user, %S s sys, %M KiB peak RSS" "$r1" train "$1" "$out/$2.json" --out "$out/$2"
}

evaluate() {  # evaluate RUN: greedy, and 4 samples at temperature 1, on the 200 held-out problems
  local t0=$(date +%s)
  "$r1" eval "$out/$1" --max-tokens 480 --name greedy > /dev/null
  "$r1" eval "$out/$1" --max-tokens 480 --samples 4 --temperature 1 --name sampled > /dev/null
  echo "$1 $(( $(date +%s) - t0 ))" >> "$out/eval_seconds.txt"
}

rm -f "$out/eval_seconds.txt"
stage pretrain pretrain ""
evaluate pretrain
stage sft sft "$out/pretrain/final"
evaluate sft
stage grpo grpo "$out/sft/final"
evaluate grpo
stage grpo grpo-random-reward "$out/sft/final"
evaluate grpo-random-reward
# A second GRPO variant from the same SFT model: Dr. GRPO (no std scaling, constant normaliser).
stage grpo grpo-dr "$out/sft/final"
evaluate grpo-dr
"$r1" report pretrain sft grpo grpo-random-reward grpo-dr --out report.html

/usr/bin/python3 - "$out" > "$out/summary.json" <<'PY'
import json, os, sys
out = sys.argv[1]
evals = dict(l.split() for l in open(os.path.join(out, "eval_seconds.txt")))
s = {"runs": {}}
for run in ("pretrain", "sft", "grpo", "grpo-random-reward", "grpo-dr"):
    rj = json.load(open(os.path.join(out, run, "run.json")))
    m = [json.loads(l) for l in open(os.path.join(out, run, "metrics.jsonl"))]
    e = {k: json.load(open(os.path.join(out, run, "eval", k + ".json"))) for k in ("greedy", "sampled")}
    s["runs"][run] = {"steps": len(m), "parameters": rj["parameters"], "timing": rj["timing"],
                      "eval_s": int(evals.get(run, 0)),
                      "median_tokens_per_s": sorted(x["tokens_per_s"] for x in m)[len(m) // 2],
                      "greedy_accuracy": e["greedy"]["accuracy"], "sampled_accuracy_t1": e["sampled"]["accuracy"],
                      "greedy_by_task": e["greedy"]["by_task"], "format_rate_greedy": e["greedy"]["format_rate"],
                      "git_commit": rj["git_commit"], "machine": rj["machine"], "threads": rj["threads"]}
chain = ("pretrain", "sft", "grpo")  # the pipeline; the control is a second GRPO beside it
s["end_to_end_wall_s"] = sum(s["runs"][r]["timing"]["wall_s"] + s["runs"][r]["eval_s"] for r in chain)
s["end_to_end_cpu_hours"] = sum(s["runs"][r]["timing"]["cpu_hours"] for r in chain)
print(json.dumps(s, indent=1))
PY
cat "$out/summary.json"
