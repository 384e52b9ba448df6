#!/usr/bin/env bash
# Installs everything r1.cpp needs to build and test on a fresh Debian 12 machine.
# Idempotent: packages already present are skipped, so running it again is cheap.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  clang libclang-rt-14-dev            # libFuzzer + sanitizer runtimes
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libfmt-dev libcli11-dev libpcre2-dev libssl-dev
  libicu-dev                          # Unicode normalization (NFC) for the tokenizer
  libcpp-httplib-dev                  # the HTTP server of r1 serve
  python3 python3-numpy python3-torch python3-jinja2   # independent references (tests/reference)
  python3-jsonschema                  # the oracle of the response_format constraint tests
  chromium                            # the web chat page's browser test (tests/server)
  # The AArch64 NEON kernels, cross-built and tested under qemu-user (scripts/test.sh): the cross
  # compiler, the emulator, and the arm64 builds of the two libraries the kernels' tests link.
  g++-aarch64-linux-gnu qemu-user libfmt-dev:arm64 libgtest-dev:arm64
)
# Node.js and npm run the tokenizer oracle (@lenml/tokenizers). Some images ship a Node.js build
# that bundles npm and conflicts with Debian's npm package, so only install them when missing.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  # arm64 packages come from Debian's multiarch archive: the architecture must be known before the update.
  dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
