#!/usr/bin/env bash
# The codebook-type benchmark files: bench/make_models.sh's Q4_K_M files with their large matrices in
# llama.cpp's codebook types, quantized by ggml itself (tests/compat/ggml_lib.py; r1 reads these types
# but does not write them), the way the popular low-bit R1 quants mix them:
#   v2-lite-8l-ud-iq1_s.gguf          routed experts' gate and up IQ1_S (Unsloth's "dynamic" R1 quants);
#                                     the down projections (1,408 columns, not whole 256-value blocks) and
#                                     everything else as in the Q4_K_M file
#   r1-distill-qwen-1.5b-iq2_xxs.gguf every feed-forward matrix and attn_q / attn_output IQ2_XXS
#   r1-distill-qwen-1.5b-iq1_m.gguf   the same matrices IQ1_M
#   r1-distill-qwen-1.5b-iq3_xxs.gguf the same matrices IQ3_XXS
#   v2-lite-8l-iq4_xs.gguf            routed experts' gate and up IQ4_XS, their down projections IQ4_NL (what
#                                     llama.cpp's IQ4_XS mix falls back to for the 1,408-column matrices)
# Importance weights all 1 (no imatrix). Each takes several minutes of ggml's codebook search on 2 threads.
#   bench/make_iq_models.sh [OUT_DIR]    default: ${R1_CACHE:-$HOME/.cache/r1}/bench (run make_models.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
r1=${R1:-build/src/r1}
out=${1:-${R1_CACHE:-$HOME/.cache/r1}/bench}
llama=$(bash tests/compat/fetch_llama_cpp.sh | tail -n 1)
make_iq() {  # name source-dir q4_k_m-file type tensor-name-suffixes... (a suffix=TYPE gets TYPE instead)
  if [ -f "$out/$1" ]; then echo "have $out/$1"; return; fi
  local name=$1 src=$2 keep=$3 f16="$out/$1.f16.tmp"
  shift 3
  "$r1" convert "$out/$src" "$f16" --type f16 -q
  /usr/bin/python3 - "$llama" "$f16" "$out/$keep" "$out/$name.tmp" "$@" <<'PY'
import os, sys
sys.path.insert(0, "tests/compat")
import ggml_lib
llama, src, keep, dst, target, *suffixes = sys.argv[1:]
types = dict(s.split("=", 1) if "=" in s else (s, target) for s in suffixes)
choose = lambda name, ne: next((t for s, t in types.items() if name.endswith(s)), None)
ggml_lib.requantize_gguf(src, dst, ggml_lib.Ggml(llama), choose, keep=keep, threads=os.cpu_count())
PY
  rm -f "$f16"
  mv "$out/$name.tmp" "$out/$name"
  echo "made $out/$name"
}
make_iq v2-lite-8l-ud-iq1_s.gguf v2-lite-8l-bf16 v2-lite-8l-q4_k_m.gguf IQ1_S ffn_gate_exps.weight ffn_up_exps.weight
make_iq v2-lite-8l-iq4_xs.gguf v2-lite-8l-bf16 v2-lite-8l-q4_k_m.gguf IQ4_XS ffn_gate_exps.weight ffn_up_exps.weight \
  ffn_down_exps.weight=IQ4_NL
make_iq r1-distill-qwen-1.5b-iq2_xxs.gguf r1-distill-qwen-1.5b-bf16 r1-distill-qwen-1.5b-q4_k_m.gguf IQ2_XXS \
  ffn_gate.weight ffn_up.weight ffn_down.weight attn_q.weight attn_output.weight
make_iq r1-distill-qwen-1.5b-iq1_m.gguf r1-distill-qwen-1.5b-bf16 r1-distill-qwen-1.5b-q4_k_m.gguf IQ1_M \
  ffn_gate.weight ffn_up.weight ffn_down.weight attn_q.weight attn_output.weight
make_iq r1-distill-qwen-1.5b-iq3_xxs.gguf r1-distill-qwen-1.5b-bf16 r1-distill-qwen-1.5b-q4_k_m.gguf IQ3_XXS \
  ffn_gate.weight ffn_up.weight ffn_down.weight attn_q.weight attn_output.weight
