#!/usr/bin/env bash
# Installs llama.cpp as prebuilt CPU binaries from npm (node-llama-cpp and its @node-llama-cpp/linux-x64
# binaries, with the JS API that drives them) into a cache outside the repository, and prints the
# directory that holds node_modules/.
#
# Pinned twice: tests/compat/npm/package-lock.json fixes every package of the tree with its sha512
# (npm refuses a tarball that does not match it; the installed tree is compared with it), and the
# files that run (the native libraries and the entry points of the JS API) are checked against the
# sha256 sums below (a mismatch is an error).
# Install scripts are not run: node-llama-cpp's postinstall would try to download or build llama.cpp;
# the prebuilt binaries come in the package itself, so nothing is fetched or compiled at test time.
# Optional dependencies (the CUDA / Vulkan / other-platform binaries) are left out.
# Download: about 47 MB once (node-llama-cpp 36 MB, most of it llama.cpp's source bundle; binaries 11 MB).
# Idempotent: when everything is present and verified it only re-hashes the files.
#
#   tests/compat/fetch_llama_cpp.sh        # -> ${R1_CACHE:-$HOME/.cache/r1}/npm/node-llama-cpp-3.22.1
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version=3.22.1   # node-llama-cpp; its binaries are built from llama.cpp release v0.5.0 (de3ff815ea7d)
cache="${R1_CACHE:-$HOME/.cache/r1}/npm/node-llama-cpp-$version"

checksums="\
8e0130a6e47ec45e29c1ea5f5a4654144de4b64cd1a5339c01bb8d213def4089  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/_nlcBuildMetadata.json
6c342c8aeb20cb31a18099d6f79de4de6703814d1cfd5c4d754a8643087e486e  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so
6527efda35405a0d91574aced4a7766db9bb0494ab6458c83fe9eba755eb76f7  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-alderlake.so
44285a67a31a81a036a70c565d391b31145d835044c03c76cfaa2f90a9d57d42  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-cannonlake.so
97cace813fbf7b7a07c4793f6a75b8b2d3de256430620f0be4a15bd4372468ea  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-cascadelake.so
5eda284fd8986d550e21623b269dd31d02c07fc70121d3099609d5dde6b6847e  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-cooperlake.so
ddaa96012769f0e86e8670cca374243751880bea2c2d0a4413b3a1b7a29dca74  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-haswell.so
9b9c24aaa775fd38a6e1ff082549e50d4138d29f2e2883630b28ab70704ed896  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-icelake.so
91b27ab81df92b8429c8e3441a8861014d3aec1424f90885a628fd0d4567532f  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-ivybridge.so
2cb5b2101f5bbefa2416ec7f8b6c6acb177d04f0157989c5d92e4c07750fd3f8  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-piledriver.so
bce17565033835dfb59fae2ed712d4c35e56463c2d49ea61ca08e6e2908bdfd6  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-sandybridge.so
e3d4840632b2242655e1721c6b93ec0370406dded9074accfe90bcfb67bd30b8  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-sapphirerapids.so
df30b40a957175cd8e462e8838632dc51e3be7570b27b9526cb7a044263aeab3  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-skylakex.so
ec65053445506965db5dd9382d7ede084ba639edc55f77aaf73581c778969e02  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-sse42.so
1174c3c3e0b8722313df561d7ef5ece516a070732cec9b8ddda3667c0b959728  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-x64.so
d84208de33fdadb8921a1a1a34342f5eceb1e58b83648be68050f7557312bd3e  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-zen4.so
41cd5e6ad78b9f0af31a6f80d637d3168e75ff84db14c495de4d3d9c95607444  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml.v0.5.0.so
8cb10e69b3de60d4ce6047ca13fe1e68c28caad87382701ee7fbde28d19952bd  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama-common.so
2ecd1d85f68456573a664106a9039366b88231579fd65d9669c9a6ab41374fd4  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.5.0.so
48c1680dc565201570ee3591b6444c805958e78ef6e2f7a202849a21f7f12833  node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node
032284f3124f6952b49b78f2f0098fba0102fc276780028e6859a45f560f53cb  node_modules/@node-llama-cpp/linux-x64/dist/index.js
c5fae8267fb07ac1887f7a0b7784c04de12fc49ffb26519b4ceff5bc5c242c53  node_modules/@node-llama-cpp/linux-x64/package.json
dc13741b9deb71b8b2d30258a51a4ce3f1084d74a6db9cf569f98a222edb495a  node_modules/node-llama-cpp/package.json
b717c13346557216f6e743785934d60fcb57b72bae3f0da1abec0a1873fe205c  node_modules/node-llama-cpp/dist/index.js
125851f9a670422542359e3e4e255f4985f85725d86d98b85b1a825211ad5e02  node_modules/node-llama-cpp/dist/bindings/getLlama.js
ecd4b0b224ab8dc4de545b9baa9103f03a8b57d1e8ec6be6e203e9a3acb9abd9  node_modules/node-llama-cpp/dist/bindings/Llama.js
1817cc1e86d41cefedf33a526ea6b0bddc19dd29d93843cf8dbd621e4a6de556  node_modules/node-llama-cpp/dist/evaluator/LlamaModel/LlamaModel.js
32ffecb04387909e904165d9f04282862ce333ba320454462ce057546f03f958  node_modules/node-llama-cpp/dist/evaluator/LlamaContext/LlamaContext.js"

mkdir -p "$cache"
cd "$cache"

verify() {
  cmp -s "$here/npm/package-lock.json" package-lock.json &&
    echo "$checksums" | sha256sum --check --quiet --strict - >/dev/null 2>&1
}

if ! verify; then
  command -v npm >/dev/null || { echo "fetch_llama_cpp: npm is not installed (scripts/install-deps.sh)" >&2; exit 1; }
  echo "fetch_llama_cpp: installing node-llama-cpp + @node-llama-cpp/linux-x64 @ $version into $cache" >&2
  cp "$here/npm/package.json" "$here/npm/package-lock.json" .
  # `npm ci` would refuse this lock (npm leaves other platforms' optional packages out of a lock made on
  # Linux, then calls it out of sync); `npm install` with the lock present installs exactly the locked
  # tree, and --no-save keeps the lock as committed. Then every installed package must be as locked.
  NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --ignore-scripts --omit=optional --no-save --no-audit --no-fund \
    --loglevel=error >&2
  node -e '
    const fs = require("fs");
    const locked = JSON.parse(fs.readFileSync("package-lock.json")).packages;
    const installed = JSON.parse(fs.readFileSync("node_modules/.package-lock.json")).packages;
    let bad = 0;
    for (const [k, v] of Object.entries(installed)) {
      const w = locked[k];
      if (!w || w.version !== v.version || w.integrity !== v.integrity) { console.error("not as locked:", k, v.version); bad++; }
    }
    process.exit(bad ? 1 : 0);' >&2 || { echo "fetch_llama_cpp: the installed tree differs from package-lock.json" >&2; exit 1; }
  if ! echo "$checksums" | sha256sum --check --quiet --strict - >&2; then
    echo "fetch_llama_cpp: CHECKSUM MISMATCH in $cache: the npm packages changed; refusing to test against them" >&2
    exit 1
  fi
fi
echo "$cache"
