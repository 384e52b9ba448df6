#!/usr/bin/python3
"""End-to-end check of the engine against the float64 reference for one synthetic preset.

  check_model.py --r1 build/r1 --preset tiny-v3 [--dtype f32|f16|bf16|fp8]
                 [--extra-synth-args "--flag value" ...] --workdir DIR

Steps: `r1 synth`, one-pass and incremental `r1 logits`, reference logits (per-position
rel err = max|engine - ref| / max|ref| <= 1e-3; one-pass vs incremental <= 1e-5; with the attention
cache in BF16, `--cache-type bf16`, <= 5e-3 of the reference that rounds as that cache does), then
`r1 run --temp 0 --ids-only` vs reference greedy (32 tokens). MLA models also with `--mla-prefill
decompressed` (one pass, chunks of 5, each cache type), whose greedy run prefills that way. Exit 0 on success, 1 on failure.
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True  # keep tests/reference free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_cli  # noqa: E402
from engine_cli import fail, run  # noqa: E402
from model_ref import DEEPSEEK, Model  # noqa: E402

PROMPT = [1, 17, 42, 7, 123, 256, 5, 99, 300, 11, 64, 2]  # reduced mod vocab_size
REF_TOL, INCR_TOL = 1e-3, 1e-5
# The BF16 cache against the reference that rounds the same values: the engine rounds float32 values,
# the reference float64 ones, and where they straddle a BF16 rounding boundary the two round apart by
# one BF16 step (2^-8), which the tiny random models amplify up to ~1.3e-3 of their largest logit
# (without mirroring the rounding the differences are 1e-3 .. 3e-1: near-tied expert choices flip).
BF16_CACHE_TOL = 5e-3
# The Q8 cache the same way: a value or weight straddling a rounding boundary of the int8 grid moves by one
# step (1/127 of its row's largest, 1/255 of the block's largest weight): up to 1.9e-3 on the presets
# (against the reference without the cache's rounding: 1.6e-2 .. 2.6e-2).
Q8_CACHE_TOL = 5e-3


def last_json_line(text, opener):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        for line in reversed(text.splitlines()):
            if line.strip().startswith(opener):
                return json.loads(line)
    fail(f"no JSON line starting with {opener!r} in engine output: {text[-300:]!r}")


def compare(name, got, want, tol):
    """Per-position rel err max|got - want| / max|want|; returns the worst one or fails."""
    if got.shape != want.shape:
        fail(f"{name}: shape {got.shape} != expected {want.shape}")
    worst = 0.0
    for t in range(want.shape[0]):
        diff = np.abs(got[t] - want[t])
        if not np.all(np.isfinite(got[t])):
            fail(f"{name}: non-finite value at position {t}, index {int(np.argmin(np.isfinite(got[t])))}")
        err = diff.max() / max(np.abs(want[t]).max(), 1e-30)
        if err > tol:
            j = int(diff.argmax())
            fail(f"{name}: position {t}: rel err {err:.3e} > {tol:g}; worst at vocab index {j}: "
                 f"got {got[t, j]:.8g}, expected {want[t, j]:.8g}")
        worst = max(worst, err)
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--r1", required=True)
    ap.add_argument("--preset", required=True)
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16", "fp8"])
    ap.add_argument("--extra-synth-args", action="append", default=[],
                    help="extra args for `r1 synth` (one shell-quoted string; repeatable)")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--max-tokens", type=int, default=32)
    a = ap.parse_args()
    engine_cli.LABEL = f"{a.preset}/{a.dtype}"
    model_dir = os.path.join(a.workdir, "model")
    shutil.rmtree(model_dir, ignore_errors=True)
    os.makedirs(a.workdir, exist_ok=True)
    extra = [x for s in a.extra_synth_args for x in shlex.split(s)]
    run([a.r1, "synth", a.preset, model_dir, "--seed", "1234", "--dtype", a.dtype] + extra)

    model = Model(model_dir)
    tokens = [t % model.cfg["vocab_size"] for t in PROMPT]
    tok_arg = ",".join(map(str, tokens))
    ref = model.logits(tokens)

    def engine_logits(*flags):
        out = last_json_line(run([a.r1, "logits", model_dir, "--tokens", tok_arg, *flags]), "{")
        return np.asarray(out["logits"] if isinstance(out, dict) else out, dtype=np.float64)

    one_pass, incremental = engine_logits(), engine_logits("--incremental")
    err1 = compare("one-pass logits vs reference", one_pass, ref, REF_TOL)
    err2 = compare("incremental logits vs reference", incremental, ref, REF_TOL)
    compare("incremental vs one-pass logits", incremental, one_pass, INCR_TOL)

    def check_cache(kind, label, tol):
        """--cache-type kind against the reference that rounds as that cache does; one pass and incremental."""
        model.cache = kind
        want = model.logits(tokens)
        model.cache = "f32"
        got_one_pass = engine_logits("--cache-type", kind)
        got_incremental = engine_logits("--cache-type", kind, "--incremental")
        err = compare(f"logits with a {label} cache vs the reference rounding as it does", got_one_pass, want, tol)
        compare(f"incremental logits with a {label} cache vs that reference", got_incremental, want, tol)
        compare(f"incremental vs one-pass logits with a {label} cache", got_incremental, got_one_pass, INCR_TOL)
        return err

    err3 = check_cache("bf16", "BF16", BF16_CACHE_TOL)
    if model.arch in DEEPSEEK:
        q8_note = f", {check_cache('q8', 'Q8', Q8_CACHE_TOL):.1e} (Q8 cache)"
    else:  # Q8 is the latent cache's: a clear error for grouped-query attention
        out = subprocess.run([a.r1, "logits", model_dir, "--tokens", tok_arg, "--cache-type", "q8"], capture_output=True, text=True)
        if out.returncode == 0 or "q8" not in out.stderr or len(out.stderr.strip().splitlines()) != 1:
            fail(f"--cache-type q8 on a GQA model: expected a one-line error, got exit {out.returncode}: {out.stderr[-300:]!r}")
        q8_note = ""

    decompressed_note, run_flags = "", []
    if model.arch in DEEPSEEK:
        # --mla-prefill decompressed: prompt chunks attend in the naive form over the cache's rows; one pass,
        # chunks of 5 (later chunks attend to earlier ones' rows), and each cache type against the reference
        # that rounds the rows as that cache stores them.
        model.decompressed = True
        worst = compare("decompressed-prefill logits vs reference", engine_logits("--mla-prefill", "decompressed"), ref, REF_TOL)
        worst = max(worst, compare("decompressed-prefill logits in chunks of 5 vs reference",
                                   engine_logits("--mla-prefill", "decompressed", "--batch", "5"), ref, REF_TOL))
        for kind, tol in (("bf16", BF16_CACHE_TOL), ("q8", Q8_CACHE_TOL)):
            model.cache = kind
            want = model.logits(tokens)
            model.cache = "f32"
            compare(f"decompressed-prefill logits with a {kind} cache vs the reference rounding the rows as it does",
                    engine_logits("--mla-prefill", "decompressed", "--cache-type", kind), want, tol)
        model.decompressed = False
        decompressed_note, run_flags = f", {worst:.1e} (decompressed prefill)", ["--mla-prefill", "decompressed"]

    # Greedy decoding (after a decompressed prefill for MLA models: decode reads the cache it wrote).
    n = a.max_tokens
    got = last_json_line(run([a.r1, "run", model_dir, "--tokens", tok_arg, "--max-tokens", str(n),
                              "--temp", "0", "--ignore-eos", "--ids-only", *run_flags]), "[")
    want, rows = model.greedy(tokens, n)
    same = next((i for i in range(n) if i >= len(got) or got[i] != want[i]), n)
    if same < n or len(got) != n:
        picked = got[same] if same < len(got) else None
        msg = f"greedy diverges at step {same}: engine {picked}, reference {want[same] if same < n else None}"
        if same < n:
            row = rows[same]
            top2 = np.sort(row)[-2:]
            msg += f"; reference top-2 margin {top2[1] - top2[0]:.3e} (max|logit| {np.abs(row).max():.3g})"
            if picked is not None and 0 <= picked < len(row):
                msg += (f"; engine's pick is reference rank {int((row > row[picked]).sum()) + 1}, "
                        f"{row.max() - row[picked]:.3e} below the top")
        fail(msg + f"; engine ids {got}")
    print(f"{engine_cli.LABEL}: max rel err {err1:.1e} (one-pass), {err2:.1e} (incremental), {err3:.1e} (BF16 cache){q8_note}{decompressed_note}, "
          f"greedy {n}/{n} identical")


if __name__ == "__main__":
    main()
