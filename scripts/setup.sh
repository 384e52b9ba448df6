#!/usr/bin/env bash
# First command for a newcomer: install dependencies, build r1 (Release), and run the embedded default
# model -- models/tiny-r1, a 1.83M-parameter DeepSeek-V3-architecture model this repository trained from
# scratch on two CPU cores, ending with GRPO (bench/train/headline, bench/RESULTS.md) -- on a question, so the first thing
# one sees is a real model thinking in worked steps and answering.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target r1

./build/src/r1 info models/tiny-r1
echo "--- r1 run -p \"What is 625 + 649?\" --temp 0     (no model given: models/tiny-r1)"
./build/src/r1 run -p "What is 625 + 649?" --temp 0 -n 480
echo "--- more: r1 chat | r1 serve (web chat at http://127.0.0.1:8080) | r1 synth tiny-v3 DIR for a random-weight model of any architecture"
