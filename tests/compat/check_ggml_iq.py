#!/usr/bin/python3
"""r1 decodes GGML's codebook types (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S) exactly as ggml does.

  check_ggml_iq.py --tool build/tests/r1_quant_tool

The oracle is ggml itself: libggml-base.so of the pinned llama.cpp build (tests/compat/ggml_lib.py). For
every type, two sets of blocks -- ggml's quantization of Gaussian rows with outliers (the blocks real
files hold), and random bytes with a sane fp16 scale (every index, sign and scale pattern) -- are
decoded by ggml's dequantize_row_* and by r1 (`r1_quant_tool --decode`); the floats must be the same
bits. Exit 0 on success, 1 with the first difference.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
from ggml_lib import IQ_TYPES, Ggml  # noqa: E402


def random_blocks(name, blocks, rng):
    nbytes = IQ_TYPES[name][1]
    b = rng.integers(0, 256, size=(blocks, nbytes), dtype=np.uint8)
    d = rng.uniform(1e-3, 4.0, size=blocks).astype(np.float16).view(np.uint16)
    if name == "IQ1_M":  # d is the top nibbles of the four 16-bit scale words (bytes 48..55)
        for k in range(4):
            b[:, 49 + 2 * k] = (b[:, 49 + 2 * k] & 0x0F) | ((d >> (4 * k)) & 15).astype(np.uint8) << 4
    else:
        b[:, 0], b[:, 1] = d & 0xFF, d >> 8
    return b.tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    a = ap.parse_args()
    llama_dir = subprocess.run(["bash", os.path.join(HERE, "fetch_llama_cpp.sh")], check=True, capture_output=True,
                               text=True).stdout.strip().splitlines()[-1]
    ggml = Ggml(llama_dir)
    rng = np.random.default_rng(2026)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in IQ_TYPES:
            n = 1024
            x = rng.standard_normal((8, n)).astype(np.float32)
            x[rng.random(x.shape) < 0.01] *= 10
            cases = {"ggml-quantized": ggml.quantize(name, x), "random": random_blocks(name, 64, rng)}
            for label, raw in cases.items():
                count = len(raw) // IQ_TYPES[name][1] * 256
                want = ggml.dequantize(name, raw, count)
                src, out = os.path.join(tmp, "blocks"), os.path.join(tmp, "out")
                open(src, "wb").write(raw)
                subprocess.run([a.tool, "--decode", name, str(count), src, out], check=True)
                got = np.fromfile(out, dtype=np.float32)
                same = got.shape == want.shape and np.array_equal(got.view(np.uint32), want.view(np.uint32))
                if not same:
                    i = int(np.argmax(got != want))
                    print(f"FAIL {name} {label}: value {i}: r1 {got[i]!r}, ggml {want[i]!r} "
                          f"({int((got != want).sum())} of {count} differ)")
                    failed += 1
                else:
                    print(f"ok   {name} {label}: {count} values bit-identical (max |x| {np.abs(want).max():.3g})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
