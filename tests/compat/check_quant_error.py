#!/usr/bin/python3
"""r1's quantizer is at least as accurate as llama.cpp's, type by type.

  check_quant_error.py --tool build/tests/r1_quant_tool

For every block type `r1 convert` / `r1 quantize` write, rows of weights of three kinds (Gaussian,
Student-t with 3 degrees of freedom, Gaussian with 0.2 % outliers 20x larger; 0.02 RMS, as LLM weight
matrices) are quantized by r1 (`r1_quant_tool`, decoded by r1) and by ggml itself (libggml-base.so of the
pinned llama.cpp build, tests/compat/ggml_lib.py: `quantize_<type>` without importance weights, the path
llama-quantize takes without an imatrix, decoded by ggml's `dequantize_row_<type>`). r1's RMS error must
not exceed ggml's by more than 1 % on any kind. Prints the ratios. Exit 0 on success, 1 otherwise.
"""
import argparse
import ctypes
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
from ggml_lib import Ggml  # noqa: E402

# name -> (ggml type id, ggml's function suffix, values per block, bytes per block)
TYPES = {"Q4_0": (2, "q4_0", 32, 18), "Q4_1": (3, "q4_1", 32, 20), "Q5_0": (6, "q5_0", 32, 22),
         "Q5_1": (7, "q5_1", 32, 24), "Q8_0": (8, "q8_0", 32, 34), "Q2_K": (10, "q2_K", 256, 84),
         "Q3_K": (11, "q3_K", 256, 110), "Q4_K": (12, "q4_K", 256, 144), "Q5_K": (13, "q5_K", 256, 176),
         "Q6_K": (14, "q6_K", 256, 210), "IQ4_NL": (20, "iq4_nl", 32, 18), "IQ4_XS": (23, "iq4_xs", 256, 136)}
LIMIT = 1.01


def ggml_roundtrip(lib, name, x):
    """x quantized by ggml without importance weights, then decoded by ggml (float32, x's shape)."""
    gtype, fn, elems, size = TYPES[name]
    lib.ggml_quantize_init(ctypes.c_int(gtype))
    rows, n = x.shape
    blocks = np.zeros(rows * n // elems * size, dtype=np.uint8)
    quantize = getattr(lib, "quantize_" + fn)
    quantize.restype = ctypes.c_size_t
    wrote = quantize(x.ctypes.data_as(ctypes.c_void_p), blocks.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(rows),
                     ctypes.c_int64(n), None)
    assert wrote == blocks.size, (name, wrote, blocks.size)
    y = np.zeros(rows * n, dtype=np.float32)
    getattr(lib, "dequantize_row_" + fn)(blocks.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(ctypes.c_void_p),
                                         ctypes.c_int64(rows * n))
    return y.reshape(rows, n)


def r1_roundtrip(tool, name, x, tmp):
    x.tofile(os.path.join(tmp, "in.f32"))
    subprocess.run([tool, name, str(x.shape[1]), os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.blocks"),
                    os.path.join(tmp, "out.f32")], check=True)
    return np.fromfile(os.path.join(tmp, "out.f32"), dtype=np.float32).reshape(x.shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--rows", type=int, default=32)
    a = ap.parse_args()
    llama_dir = subprocess.run(["bash", os.path.join(HERE, "fetch_llama_cpp.sh")], check=True, stdout=subprocess.PIPE,
                               text=True).stdout.strip().splitlines()[-1]
    lib = Ggml(llama_dir).lib
    rng = np.random.default_rng(20261202)
    shape = (a.rows, 4096)
    kinds = {"gaussian": rng.standard_normal(shape), "student-t3": rng.standard_t(3, shape) / np.sqrt(3),
             "outliers": rng.standard_normal(shape) * np.where(rng.random(shape) < 0.002, 20.0, 1.0)}
    kinds = {k: np.ascontiguousarray(v * 0.02, dtype=np.float32) for k, v in kinds.items()}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in TYPES:
            ratios = []
            for kind, x in kinds.items():
                r1_err = float(np.sqrt(np.mean((r1_roundtrip(a.tool, name, x, tmp) - x) ** 2)))
                ggml_err = float(np.sqrt(np.mean((ggml_roundtrip(lib, name, x) - x) ** 2)))
                ratios.append(f"{kind} {r1_err / ggml_err:.3f}")
                if not r1_err <= LIMIT * ggml_err:
                    failures.append(f"{name} {kind}: r1's RMS error {r1_err:.4g} > {LIMIT} x ggml's {ggml_err:.4g}")
            print(f"{name:7s} r1 / ggml RMS error: " + ", ".join(ratios))
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        return 1
    print(f"PASS: r1's quantizer within {LIMIT} x ggml's error for {len(TYPES)} types x {len(kinds)} kinds of rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
