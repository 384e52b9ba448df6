#!/usr/bin/env bash
# First command for a newcomer: install dependencies, build r1 (Release), synthesize a tiny
# DeepSeek-V3-architecture model and generate from it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DR1_TESTS=OFF >/dev/null
cmake --build build --target r1

model="${R1_CACHE:-$HOME/.cache/r1}/models/tiny-v3"
./build/src/r1 synth tiny-v3 "$model" --seed 1
./build/src/r1 info "$model"
echo "--- r1 run $model --tokens 0,17,42 --max-tokens 24 --temp 0.8 --seed 7"
./build/src/r1 run "$model" --tokens 0,17,42 --max-tokens 24 --temp 0.8 --seed 7
