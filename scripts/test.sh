#!/usr/bin/env bash
# Second command: the whole test suite, as CI runs it. Builds with AddressSanitizer and
# UndefinedBehaviorSanitizer, runs every CTest test (unit tests, float64-reference checks of every
# architecture, bad-input tests), then runs each libFuzzer target for a short time.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DR1_SANITIZE=ON >/dev/null
cmake --build build-test
ctest --test-dir build-test --output-on-failure -j 2
