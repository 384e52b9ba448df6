#!/usr/bin/env bash
# Makes the model the r1 serve tests run on: a tiny random DeepSeek-V3 (`r1 synth tiny-v3 --seed 5`) with
# the real DeepSeek-R1 tokenizer (tests/tokenizer/fetch_tokenizers.sh) and the R1 chat template
# (tests/chat/templates/deepseek-r1.jinja: the answer starts inside <think>, so it streams as
# reasoning_content). Random weights: the text is gibberish, but it streams token by token.
#
#   tests/server/make_model.sh BUILD/src/r1 DIR      # replaces DIR
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: make_model.sh R1 DIR" >&2; exit 2; }
r1="$1"; dir="$2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

cache="$(bash "$root/tests/tokenizer/fetch_tokenizers.sh" | tail -n 1)"
rm -rf "$dir"
"$r1" synth tiny-v3 "$dir" --seed 5 --tokenizer "$cache/deepseek-r1" >&2
python3 - "$dir/tokenizer_config.json" "$root/tests/chat/templates/deepseek-r1.jinja" <<'PY'
import json, os, sys
path, template = sys.argv[1], sys.argv[2]
cfg = json.load(open(path, encoding="utf-8"))
cfg["chat_template"] = open(template, encoding="utf-8").read()
os.remove(path)  # may be a link into the read-only tokenizer cache
json.dump(cfg, open(path, "w", encoding="utf-8"), ensure_ascii=False)
PY
echo "$dir"
