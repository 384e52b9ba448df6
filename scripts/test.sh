#!/usr/bin/env bash
# Second command: the whole test suite, as CI runs it. Builds with AddressSanitizer and
# UndefinedBehaviorSanitizer, runs every CTest test (unit tests, float64-reference checks of every
# architecture, bad-input tests), the CPU kernels' tests built for AArch64 under qemu, then each
# libFuzzer target for a short time.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# One build for the tests and the fuzz targets: clang (libFuzzer is clang's, and it compiles this code
# with sanitizers in half GCC's time), -O2 with line tables only (enough for sanitizer stack traces;
# full debug info took a third of the compile time).
CXX=clang++ cmake -S . -B build-check -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" -DR1_SANITIZE=ON -DR1_FUZZ=ON >/dev/null
cmake --build build-check
ctest_log=$(mktemp)
ctest --test-dir build-check --output-on-failure -j 2 2>&1 | tee "$ctest_log"
total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\2/p' "$ctest_log" | tail -n 1)
rm -f "$ctest_log"

# ---- AArch64: the CPU kernels (NEON, NEON with sdot) and their tests, cross-compiled and run under
# qemu-user -- the same scalar-reference and float64 checks as on x86 (cmake/aarch64-linux-gnu.cmake).
cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DR1_KERNELS_ONLY=ON \
  -DR1_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-arm64
arm_log=$(mktemp)
ctest --test-dir build-arm64 --output-on-failure -j 2 2>&1 | tee "$arm_log"
arm_total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\2/p' "$arm_log" | tail -n 1)
rm -f "$arm_log"

# ---- libFuzzer (tests/fuzz): every target, R1_FUZZ_SECONDS (default 20) each, on a copy of its seed
# corpus (the repository is not modified). Any crash, sanitizer report, leak or slow input fails CI.
fuzzed=0
for bin in build-check/tests/fuzz/fuzz_*; do
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  name=$(basename "$bin")
  work=$(mktemp -d "${TMPDIR:-/tmp}/r1-$name-XXXXXX")
  mkdir "$work/corpus" "$work/artifacts"
  if [ -d "tests/fuzz/corpus/$name" ]; then cp -R "tests/fuzz/corpus/$name/." "$work/corpus/"; fi
  echo "fuzz: $name for ${R1_FUZZ_SECONDS:-20} s"
  if ! "$bin" -max_total_time="${R1_FUZZ_SECONDS:-20}" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1; then
    tail -n 60 "$work/log"
    echo "fuzz: $name FAILED; the input that broke it is in $work/artifacts/ (reproduce: $bin FILE)" >&2
    exit 1
  fi
  grep -E '^(Done|#[0-9]+ +DONE)' "$work/log" | tail -n 1 || true
  rm -rf "$work"
  fuzzed=$((fuzzed + 1))
done

echo "fuzz: $fuzzed targets ran without a crash"
echo "tests: ${total:-0} passed, 0 failed; AArch64 (qemu): ${arm_total:-0} passed"
