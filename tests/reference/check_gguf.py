#!/usr/bin/python3
"""End-to-end check of GGUF reading, writing and quantization against the float64 reference.

  check_gguf.py --r1 build/r1 --preset tiny-v3 --type q8_0 [--legacy-kv-b] [--via f16]
                [--synth-dtype f32] --workdir DIR

1. `r1 synth` a random-weight HF checkpoint; `r1 convert` it to GGUF in --type (with --via T: convert
   to T first, then `r1 quantize` that file to --type, so quantize reads what convert wrote).
2. Exactness of the file: the weights the GGUF holds, decoded by an independent Python reader
   (gguf_weights.py, ggml_quants_ref.py), run through the float64 reference with the checkpoint's
   config.json must give r1's logits on that GGUF. Tolerance: 1e-3 for float types; for block types
   r1 quantizes activations to int8 for its integer dot products: median 8e-2, top-1 agreement 0.75.
3. Fidelity: r1's logits on the GGUF vs the reference on the original HF weights -- the quantization
   error of the type; reported (rel err, top-1 agreement, perplexity of the reference's greedy text)
   and bounded by a per-type limit.
4. For float types, 16 greedy tokens identical to the reference's; for block types, the logits (in one
   pass and token by token) bit-identical with R1_ROW_GROUPS=off (the layout r1 copies weights into at
   load for its decode kernels, against the mapped file's).
5. With --split, split models (llama.cpp's gguf-split layout): `r1 quantize` of the file to its own type
   with --split-max-size must write at least three shards that the Python reader joins into the single
   file's metadata and tensor bytes (a tensor already in its target type is copied, not re-encoded), and
   r1 given its last shard (or their directory) must print the single file's logits; and the single file
   cut by the Python splitter (gguf_weights.split_gguf, the first shard metadata only) likewise; without
   one of its shards, one line naming the missing file and exit code 1.
"""
import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_weights  # noqa: E402
import engine_cli  # noqa: E402
from engine_cli import fail, run  # noqa: E402
from model_ref import Model  # noqa: E402

PROMPT = [1, 17, 42, 7, 123, 256, 5, 99, 300, 11, 64, 2, 77, 31, 8, 250]
FLOAT_TYPES = {"f32", "f16", "bf16"}
# Median per-position relative logit error of the GGUF model vs the original weights (fidelity). The
# tiny random models amplify weight noise about 5x over their three layers (Q8_0's 0.4 % RMS weight error
# gives ~2 % in the logits), so these are about 3x what that predicts from each type's weight error.
FIDELITY = {"f32": 1e-5, "f16": 1e-2, "bf16": 5e-2, "q8_0": 6e-2, "q6_k": 0.15, "q5_k_m": 0.3, "q5_0": 0.35,
            "q5_1": 0.35, "q4_k_m": 0.5, "q4_k_s": 0.6, "q4_0": 0.7, "q4_1": 0.7, "iq4_nl": 0.6,
            "iq4_xs": 0.6, "q3_k_m": 1.0, "q3_k_s": 1.0, "q2_k": 1.6}


def rel_err(got, want):
    return max(np.abs(got[t] - want[t]).max() / max(np.abs(want[t]).max(), 1e-30) for t in range(want.shape[0]))


def median_rel_err(got, want):
    return float(np.median([np.abs(got[t] - want[t]).max() / np.abs(want[t]).max() for t in range(want.shape[0])]))


def perplexity(logits, tokens, start):
    """exp(mean NLL) of tokens[start:] under the logits of the positions before them."""
    nll = []
    for t in range(start - 1, len(tokens) - 1):
        row = logits[t] - logits[t].max()
        nll.append(math.log(np.exp(row).sum()) - row[tokens[t + 1]])
    return math.exp(sum(nll) / len(nll))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--r1", required=True)
    ap.add_argument("--preset", required=True)
    ap.add_argument("--type", required=True)
    ap.add_argument("--via", help="convert to this type first, then r1 quantize to --type")
    ap.add_argument("--synth-dtype", default="f32")
    ap.add_argument("--legacy-kv-b", action="store_true")
    ap.add_argument("--extra-synth-args", default="")
    ap.add_argument("--split", action="store_true", help="also check split models (step 5)")
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    engine_cli.LABEL = f"{a.preset}/{a.type}" + (f" via {a.via}" if a.via else "") + (" legacy kv_b" if a.legacy_kv_b else "")
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    model_dir, gguf = os.path.join(a.workdir, "model"), os.path.join(a.workdir, f"model-{a.type}.gguf")
    run([a.r1, "synth", a.preset, model_dir, "--seed", "4321", "--dtype", a.synth_dtype] + shlex.split(a.extra_synth_args))
    layout = ["--legacy-kv-b"] if a.legacy_kv_b else []
    if a.via:
        first = os.path.join(a.workdir, f"model-{a.via}.gguf")
        run([a.r1, "convert", model_dir, first, "--type", a.via, "-q"] + layout)
        run([a.r1, "quantize", first, gguf, a.type, "-q"] + layout)
    else:
        run([a.r1, "convert", model_dir, gguf, "--type", a.type, "-q"] + layout)

    original = Model(model_dir)
    cfg = original.cfg
    meta, weights = gguf_weights.hf_weights(gguf, cfg)
    if meta.get("general.architecture") not in ("deepseek2", "qwen2", "qwen3", "llama"):
        fail(f"general.architecture {meta.get('general.architecture')!r}")
    if a.preset.startswith("tiny-v") or a.preset.startswith("tiny-moon"):
        split = any(k.endswith("attn_k_b.weight") for k in gguf_weights.read_gguf(gguf)[1])
        if split == a.legacy_kv_b:
            fail(f"kv_b layout: split={split}, legacy requested={a.legacy_kv_b}")
    from_file = Model(cfg=json.load(open(os.path.join(model_dir, "config.json"))), weights=weights)

    # The fixed text: the prompt and the original model's own greedy continuation, so that its
    # perplexity is low and quantization shows as a rise.
    prompt = [t % cfg["vocab_size"] for t in PROMPT]
    continuation, _ = original.greedy(prompt, 16)
    tokens = prompt + continuation
    want_file = from_file.logits(tokens)

    def check_engine(label, *flags):
        """r1's logits on the GGUF (with flags) against the reference on the GGUF's own weights."""
        out = run([a.r1, "logits", gguf, "--tokens", ",".join(map(str, tokens)), *flags])
        engine = np.asarray(json.loads(out.strip().splitlines()[-1])["logits"], dtype=np.float64)
        if not np.all(np.isfinite(engine)):
            fail(f"{label}: non-finite logits")
        if a.type in FLOAT_TYPES:
            err = rel_err(engine, want_file)
            if err > 1e-3:
                fail(f"{label}: r1 on the GGUF vs reference on the GGUF's own weights: rel err {err:.3e} > 1e-3")
        else:
            # r1 quantizes activations to int8 for these types: ~1 % per matmul, which these random tiny
            # models amplify to 2-5 % in the logits, and which can flip a routing decision or a near-tie.
            # A wrong block layout or name mapping gives errors of order 100 %; the codecs and int8 kernels
            # themselves are checked bit for bit by ggml_quants_ref.py and the kernel unit tests.
            err = median_rel_err(engine, want_file)
            agree = float(np.mean(engine.argmax(-1) == want_file.argmax(-1)))
            if err > 8e-2 or agree < 0.75:
                fail(f"{label}: r1 on the GGUF vs reference on the GGUF's own weights: median rel err {err:.3e} "
                     f"(limit 8e-2), top-1 agreement {agree:.2f} (limit 0.75)")
        return out, engine, err

    out, engine, err_file = check_engine("logits")
    if meta.get("general.architecture") == "deepseek2":
        # The decompressed prefill reads W_UK from either layout: the split one's k_b_t transposed.
        check_engine("decompressed-prefill logits", "--mla-prefill", "decompressed")

    if a.type not in FLOAT_TYPES:
        # The decode layout r1 copies these types into at load (row groups) must not change a bit against
        # the mapped file's layout: one pass (the tiled GEMM) and token by token (the row-group kernels).
        for extra in ([], ["--incremental"]):
            cmd = [a.r1, "logits", gguf, "--tokens", ",".join(map(str, tokens))] + extra
            grouped = out if not extra else run(cmd)
            os.environ["R1_ROW_GROUPS"] = "off"
            try:
                mapped = run(cmd)
            finally:
                del os.environ["R1_ROW_GROUPS"]
            if grouped != mapped:
                fail(f"logits {' '.join(extra) or 'in one pass'}: row groups differ from R1_ROW_GROUPS=off")

    want_orig = original.logits(tokens)
    # Median over positions: in a random-weight MoE a small weight change can flip one routing
    # decision, which moves that position's logits a lot without saying anything about the type.
    err_orig = median_rel_err(engine, want_orig)
    top1 = float(np.mean(engine.argmax(-1) == want_orig.argmax(-1)))
    ppl_engine, ppl_ref = perplexity(engine, tokens, len(prompt)), perplexity(want_orig, tokens, len(prompt))
    limit = FIDELITY.get(a.type, 1.0)
    if err_orig > limit:
        fail(f"fidelity: rel err vs the original weights {err_orig:.3e} > {limit:g} for {a.type}")

    greedy = ""
    if a.type in FLOAT_TYPES:
        n = 16
        got = json.loads(run([a.r1, "run", gguf, "--tokens", ",".join(map(str, prompt)), "--max-tokens", str(n),
                              "--temp", "0", "--ignore-eos", "--ids-only"]).strip().splitlines()[-1])
        want, _ = from_file.greedy(prompt, n)
        if got != want:
            fail(f"greedy ids differ: r1 {got}, reference {want}")
        greedy = f", greedy {n}/{n} identical"
    split = check_split(a, gguf, tokens, out) if a.split else ""
    size = os.path.getsize(gguf)
    print(f"{engine_cli.LABEL}: file {size} bytes; vs its own weights {'' if a.type in FLOAT_TYPES else 'median '}rel err {err_file:.1e}; vs original weights median rel err "
          f"{err_orig:.1e} (limit {limit:g}), top-1 agreement {top1:.2f}, perplexity of the original's greedy text "
          f"{ppl_engine:.4f} (original weights {ppl_ref:.4f}){greedy}{split}")


def check_split(a, gguf, tokens, out):
    """Step 5: r1's shards read by the Python reader, and r1 reading shards (its own and the Python
    splitter's) gives the single file's logits, bit for bit."""
    meta, tensors = gguf_weights.read_gguf(gguf)
    split_dir = os.path.join(a.workdir, "split")
    os.makedirs(split_dir)
    # Re-split the file: quantizing to its own type copies every tensor as stored (no second rounding).
    run([a.r1, "quantize", gguf, os.path.join(split_dir, "model.gguf"), a.type, "-q", "--split-max-size",
         str(os.path.getsize(gguf) // 4)] + (["--legacy-kv-b"] if a.legacy_kv_b else []))
    shards = sorted(os.listdir(split_dir))
    if len(shards) < 3 or shards[0] != "model-00001-of-%05d.gguf" % len(shards):
        fail(f"r1 --split-max-size wrote {shards}, expected model-00001-of-0000N.gguf ... with N >= 3")
    split_meta, split_tensors = gguf_weights.read_gguf(os.path.join(split_dir, shards[0]))
    for key in ("split.no", "split.count", "split.tensors.count", "general.name"):
        split_meta.pop(key)
    meta = {k: v for k, v in meta.items() if k != "general.name"}
    if split_meta != meta:
        fail("r1's shards hold other metadata than the single file")
    changed = [name for name in tensors if split_tensors.get(name) != tensors[name]]
    if changed or len(split_tensors) != len(tensors):
        fail(f"r1 quantize to the file's own type changed tensors (copied as stored, expected): {changed[:5]}")
    cut = gguf_weights.split_gguf(gguf, os.path.join(a.workdir, "cut"), 3, first_without_tensors=True)
    for label, path in (("r1's last shard", os.path.join(split_dir, shards[-1])), ("the directory of r1's shards", split_dir),
                        ("the Python splitter's first shard", cut[0])):
        got = run([a.r1, "logits", path, "--tokens", ",".join(map(str, tokens))])
        if got != out:
            fail(f"split model, from {label}: logits differ from the single file's")
    # A shard missing, or a size that is none: one line naming the problem, exit code 1.
    os.remove(cut[1])
    for cmd, want in (([a.r1, "logits", cut[2], "--tokens", "1,2"], f"{cut[1]}: missing shard 2 of 3"),
                      ([a.r1, "quantize", gguf, os.path.join(a.workdir, "x.gguf"), a.type, "--split-max-size", "12Q"],
                       "--split-max-size '12Q': expected a number of bytes")):
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = res.stderr.strip().splitlines()
        if res.returncode != 1 or len(lines) != 1 or want not in lines[0]:
            fail(f"`{shlex.join(cmd)}`: exit {res.returncode}, stderr {res.stderr!r}, expected one line with {want!r}")
    return f"; split in {len(shards)} by r1 and 3 by the Python splitter: same tensors, same logits"


if __name__ == "__main__":
    main()
