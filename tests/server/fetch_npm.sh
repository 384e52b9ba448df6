#!/usr/bin/env bash
# Installs the npm packages of the r1 serve tests into a cache outside the repository and prints the
# directory that holds node_modules/ (on its last line):
#   playwright-core  drives the system Chromium (/usr/bin/chromium, Debian package `chromium`) for
#                    tests/server/browser_test.mjs; it downloads no browser of its own;
#   openai           the official OpenAI Node client, for the API tests.
#
# Pinned twice: tests/server/npm/package-lock.json fixes every package with its sha512 (`npm ci` refuses
# a tarball that does not match it), and the package manifests and entry points are checked against
# the sha256 sums below (a mismatch is an error). Install scripts are not run.
# Download: about 5 MB once. Idempotent: when everything is present and verified it only re-hashes.
#
#   tests/server/fetch_npm.sh        # -> ${R1_CACHE:-$HOME/.cache/r1}/npm-server
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${R1_CACHE:-$HOME/.cache/r1}/npm-server"

checksums="\
d8bfa0d831765667a853c5e9765712fa8c8202b82f14754f2cbe350ae8684403  node_modules/openai/package.json
6bfd0c8cb0590f9c209f9540d743f02472e1abf614592aec8889e337b332f3a1  node_modules/openai/index.js
66ed60629fe217838c16ae5e03a11974af8c7f70b9f36f9dd8c354c32b2396b9  node_modules/openai/index.mjs
8243ae9fe675146825391eba8e2b06db88ea5ec94b8291a7394525965f3e7a32  node_modules/playwright-core/package.json
a58fb2cec4293e7dcf73c58a179898a4f3986666451a19da4e731fa3af63265b  node_modules/playwright-core/index.js
3d36e2132d3c8b62397d23f0bb4177336aaee503203ae2a2c90fbeb5bf3317dd  node_modules/playwright-core/index.mjs"

mkdir -p "$cache"
cd "$cache"

verify() {
  cmp -s "$here/npm/package-lock.json" package-lock.json &&
    echo "$checksums" | sha256sum --check --quiet --strict - >/dev/null 2>&1
}

if ! verify; then
  command -v npm >/dev/null || { echo "fetch_npm: npm is not installed (scripts/install-deps.sh)" >&2; exit 1; }
  echo "fetch_npm: installing openai + playwright-core (tests/server/npm/package-lock.json) into $cache" >&2
  cp "$here/npm/package.json" "$here/npm/package-lock.json" .
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
  if ! echo "$checksums" | sha256sum --check --quiet --strict - >&2; then
    echo "fetch_npm: CHECKSUM MISMATCH in $cache: the npm packages changed; refusing to test against them" >&2
    exit 1
  fi
fi
echo "$cache"
