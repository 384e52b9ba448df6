#!/usr/bin/python3
"""Independent float64 decoder of GGML's block-quantized layouts, and a check of r1's codecs against it.

Run: /usr/bin/python3 tests/reference/ggml_quants_ref.py --tool build/tests/r1_quant_tool

The decoder below is written from the format description (GGUF / ggml block layouts: field order,
bit positions, what each scale multiplies), vectorised over blocks with NumPy in float64. The driver
asks r1's C++ side (r1_quant_tool) to quantize rows of several lengths and kinds (Gaussian, outliers,
zeros, all-equal, tiny and huge magnitudes), then checks for every type and row that
  1. r1's own dequantization of its bytes equals this decoding of the same bytes to float32 rounding
     (|r1 - ref| <= 4 * 2^-24 * the magnitude of the terms that make up the value);
  2. the quantization error on Gaussian rows stays within the bound for the type (relative RMS), and
     every value of a non-Gaussian row keeps a bounded error relative to its block's range;
  3. Q8_K's per-16 sums are the sums of its quants.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

# The IQ4_NL / IQ4_XS grid (non-linear 4-bit levels).
IQ4NL = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], dtype=np.float64)

# name -> (values per block, bytes per block, bound on relative RMS error for N(0,1) rows)
TYPES = {
    "Q4_0": (32, 18, 0.094),
    "Q4_1": (32, 20, 0.086),
    "Q5_0": (32, 22, 0.0465),
    "Q5_1": (32, 24, 0.0415),
    "Q8_0": (32, 34, 0.0059),
    "Q2_K": (256, 84, 0.295),
    "Q3_K": (256, 110, 0.158),
    "Q4_K": (256, 144, 0.078),
    "Q5_K": (256, 176, 0.039),
    "Q6_K": (256, 210, 0.0182),
    "Q8_K": (256, 292, 0.0076),
    "IQ4_NL": (32, 18, 0.080),
    "IQ4_XS": (256, 136, 0.0805),
}


# ------------------------------------------------------------------------------------- field readers
# Each reader takes the (blocks, bytes_per_block) uint8 array and a byte range of the block.

def f16(b, at):
    return b[:, at:at + 2].copy().view("<f2").astype(np.float64)[:, 0]


def f32(b, at):
    return b[:, at:at + 4].copy().view("<f4").astype(np.float64)[:, 0]


def u16(b, at):
    return b[:, at:at + 2].copy().view("<u2").astype(np.int64)[:, 0]


def u32(b, at):
    return b[:, at:at + 4].copy().view("<u4").astype(np.int64)[:, 0]


def u8(b, at, n):
    return b[:, at:at + n].astype(np.int64)


def i8(b, at, n):
    return b[:, at:at + n].copy().view(np.int8).astype(np.int64)


def nibbles32(qs):
    """16 bytes -> 32 values: value i is the low nibble of byte i, value i+16 the high nibble."""
    return np.concatenate([qs & 15, qs >> 4], axis=1)


# ---------------------------------------------------------------------------------------- decoders
# Each returns (value, magnitude) per element, shape (blocks, values per block); `magnitude` is the sum
# of the absolute values of the terms the value is made of, the scale of float32 rounding errors.

def dec_q4_0(b):
    d = f16(b, 0)[:, None]
    v = d * (nibbles32(u8(b, 2, 16)) - 8)
    return v, np.abs(v)


def dec_q4_1(b):
    d, m = f16(b, 0)[:, None], f16(b, 2)[:, None]
    t = d * nibbles32(u8(b, 4, 16))
    return t + m, np.abs(t) + np.abs(m)


def fifth_bits(qh32):
    return (qh32[:, None] >> np.arange(32)[None, :]) & 1


def dec_q5_0(b):
    d = f16(b, 0)[:, None]
    q = nibbles32(u8(b, 6, 16)) | (fifth_bits(u32(b, 2)) << 4)
    v = d * (q - 16)
    return v, np.abs(v)


def dec_q5_1(b):
    d, m = f16(b, 0)[:, None], f16(b, 2)[:, None]
    t = d * (nibbles32(u8(b, 8, 16)) | (fifth_bits(u32(b, 4)) << 4))
    return t + m, np.abs(t) + np.abs(m)


def dec_q8_0(b):
    v = f16(b, 0)[:, None] * i8(b, 2, 32)
    return v, np.abs(v)


def dec_iq4_nl(b):
    v = f16(b, 0)[:, None] * IQ4NL[nibbles32(u8(b, 2, 16))]
    return v, np.abs(v)


E = np.arange(256)                       # element index in a super-block
H, G, L = E // 128, (E % 128) // 32, E % 32  # half, 32-group within the half, position in the group


def low2_planes(qs64):
    """Q2_K/Q3_K: the 2 low bits of element e are bits 2G..2G+1 of qs[32H + L]."""
    return (qs64[:, 32 * H + L] >> (2 * G)) & 3


def dec_q2_k(b):
    sc = u8(b, 0, 16)
    d, dmin = f16(b, 80)[:, None], f16(b, 82)[:, None]
    q = low2_planes(u8(b, 16, 64))
    scale, mn = (sc & 15)[:, E // 16], (sc >> 4)[:, E // 16]
    t, o = d * scale * q, dmin * mn
    return t - o, np.abs(t) + np.abs(o)


def q3k_scales(s):
    """16 six-bit scales in 12 bytes, each stored + 32: the low 4 bits of scale j are the low (j < 8) or
    high (j >= 8) nibble of byte j % 8; its high 2 bits are bits 2(j // 4).. of byte 8 + j % 4."""
    j = np.arange(16)
    low = np.where(j < 8, s[:, j % 8] & 15, s[:, j % 8] >> 4)
    high = (s[:, 8 + j % 4] >> (2 * (j // 4))) & 3
    return (low | (high << 4)) - 32


def dec_q3_k(b):
    hmask, qs, d = u8(b, 0, 32), u8(b, 32, 64), f16(b, 108)[:, None]
    high = (hmask[:, E % 32] >> (E // 32)) & 1
    q = low2_planes(qs) - 4 * (1 - high)
    v = d * q3k_scales(u8(b, 96, 12))[:, E // 16] * q
    return v, np.abs(v)


def k4_scales_mins(s):
    """Q4_K/Q5_K: scale j / min j (6 bits). For j < 4: low 6 bits of byte j / byte j+4. For j >= 4: low
    4 bits from the low / high nibble of byte j+4, top 2 bits from the top bits of byte j-4 / byte j."""
    sc = np.empty((s.shape[0], 8), dtype=np.int64)
    mn = np.empty_like(sc)
    for j in range(8):
        if j < 4:
            sc[:, j], mn[:, j] = s[:, j] & 63, s[:, j + 4] & 63
        else:
            sc[:, j] = (s[:, j + 4] & 15) | ((s[:, j - 4] >> 6) << 4)
            mn[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    return sc, mn


def dec_k45(b, bits):
    d, dmin = f16(b, 0)[:, None], f16(b, 2)[:, None]
    sc, mn = k4_scales_mins(u8(b, 4, 12))
    qs = u8(b, 48, 128) if bits == 5 else u8(b, 16, 128)
    j, l = E // 32, E % 32  # sub-block of 32 and position in it
    q = (qs[:, 32 * (j // 2) + l] >> (4 * (j % 2))) & 15
    if bits == 5:
        q = q | (((u8(b, 16, 32)[:, l] >> j) & 1) << 4)
    t, o = d * sc[:, j] * q, dmin * mn[:, j]
    return t - o, np.abs(t) + np.abs(o)


def dec_q6_k(b):
    ql, qh, sc, d = u8(b, 0, 128), u8(b, 128, 64), i8(b, 192, 16), f16(b, 208)[:, None]
    lo = (ql[:, 64 * H + 32 * (G % 2) + L] >> (4 * (G // 2))) & 15
    hi = (qh[:, 32 * H + L] >> (2 * G)) & 3
    v = d * sc[:, E // 16] * ((lo | (hi << 4)) - 32)
    return v, np.abs(v)


def dec_q8_k(b):
    v = f32(b, 0)[:, None] * i8(b, 4, 256)
    return v, np.abs(v)


def dec_iq4_xs(b):
    d, sh, sl, qs = f16(b, 0)[:, None], u16(b, 2), u8(b, 4, 4), u8(b, 8, 128)
    j = np.arange(8)
    ls = (((sl[:, j // 2] >> (4 * (j % 2))) & 15) | (((sh[:, None] >> (2 * j)) & 3) << 4)) - 32
    q = np.concatenate([nibbles32(qs[:, 16 * k:16 * k + 16]) for k in range(8)], axis=1)
    v = d * ls[:, E // 32] * IQ4NL[q]
    return v, np.abs(v)


DECODERS = {
    "Q4_0": dec_q4_0, "Q4_1": dec_q4_1, "Q5_0": dec_q5_0, "Q5_1": dec_q5_1, "Q8_0": dec_q8_0,
    "Q2_K": dec_q2_k, "Q3_K": dec_q3_k, "Q4_K": lambda b: dec_k45(b, 4), "Q5_K": lambda b: dec_k45(b, 5),
    "Q6_K": dec_q6_k, "Q8_K": dec_q8_k, "IQ4_NL": dec_iq4_nl, "IQ4_XS": dec_iq4_xs,
}


def decode(name, raw, rows, n):
    elems, nbytes, _ = TYPES[name]
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, nbytes)
    v, mag = DECODERS[name](b)
    return v.reshape(rows, n), mag.reshape(rows, n), b


# ------------------------------------------------------------------------------------------ driver

def make_rows(kind, rows, n, rng):
    if kind == "gaussian":
        return rng.standard_normal((rows, n))
    if kind == "outliers":  # heavy tails: a few values 20x the rest
        x = rng.standard_normal((rows, n))
        x[rng.random((rows, n)) < 0.01] *= 20
        return x
    if kind == "zeros":
        return np.zeros((rows, n))
    if kind == "equal":
        return np.repeat(np.array([[0.75], [-1.25], [3e-3], [-40.0]]), n, axis=1)[:rows]
    if kind == "tiny":
        return 1e-4 * rng.standard_normal((rows, n))
    if kind == "huge":
        return 1e3 * rng.standard_normal((rows, n))
    if kind == "sparse":  # mostly zeros, one value per 32
        x = np.zeros((rows, n))
        x[:, ::32] = rng.standard_normal((rows, n // 32))
        return x
    if kind == "positive":  # all > 0: the K-quant minimum clamps to 0
        return np.abs(rng.standard_normal((rows, n))) + 0.5
    raise ValueError(kind)


KINDS = ["gaussian", "outliers", "zeros", "equal", "tiny", "huge", "sparse", "positive"]


def check_type(tool, name, workdir, rng):
    elems, nbytes, bound = TYPES[name]
    lengths = [256, 768, 2048] + ([32, 96] if elems == 32 else [])
    failures = []
    for n in lengths:
        for kind in KINDS:
            rows = 4
            x = make_rows(kind, rows, n, rng).astype(np.float32)
            src, blk, out = (os.path.join(workdir, f"{name}.{s}") for s in ("in", "blocks", "out"))
            x.tofile(src)
            r = subprocess.run([tool, name, str(n), src, blk, out], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"{name} n={n} {kind}: r1_quant_tool failed: {r.stderr.strip()}")
                continue
            raw = open(blk, "rb").read()
            if len(raw) != rows * n // elems * nbytes:
                failures.append(f"{name} n={n} {kind}: {len(raw)} bytes, expected {rows * n // elems * nbytes}")
                continue
            got = np.fromfile(out, dtype="<f4").astype(np.float64).reshape(rows, n)
            ref, mag, blocks = decode(name, raw, rows, n)
            # 1. r1's decoding == this decoding, to float32 rounding of the terms
            tol = 4 * 2.0 ** -24 * mag + 1e-38
            bad = np.abs(got - ref) > tol
            if bad.any():
                i = np.argwhere(bad)[0]
                failures.append(f"{name} n={n} {kind}: r1 decodes element {tuple(i)} as {got[tuple(i)]!r}, "
                                f"reference {ref[tuple(i)]!r} ({bad.sum()} elements differ)")
            # 2. quantization error
            xd = x.astype(np.float64)
            if kind == "gaussian":
                rel = np.sqrt(((ref - xd) ** 2).sum() / (xd ** 2).sum())
                if rel > bound:
                    failures.append(f"{name} n={n}: relative RMS error {rel:.4%} > {bound:.2%}")
            else:
                # Every value within a generous fraction of its block's range (catches a wrong field or
                # a scale that overflowed or underflowed, not quality).
                xb, rb = xd.reshape(-1, elems), ref.reshape(-1, elems)
                span = np.abs(xb).max(axis=1, keepdims=True)
                frac = {"Q2_K": 0.6, "Q3_K": 0.35}.get(name, 0.2)
                worst = (np.abs(rb - xb) - frac * span - 1e-30).max()
                if worst > 0:
                    failures.append(f"{name} n={n} {kind}: an error exceeds {frac} of its block's max |x|")
                if kind in ("zeros",) and np.any(ref != 0):
                    failures.append(f"{name} n={n} zeros: nonzero output")
            # 3. Q8_K sums
            if name == "Q8_K":
                qs = blocks[:, 4:260].copy().view(np.int8).astype(np.int64)
                bsums = blocks[:, 260:292].copy().view("<i2").astype(np.int64)
                if not np.array_equal(bsums, qs.reshape(-1, 16, 16).sum(axis=2)):
                    failures.append(f"Q8_K n={n} {kind}: bsums are not the sums of the quants")
    return failures


def selftest():
    """The decoder on hand-built blocks whose values are known from the definition."""
    # Q4_0 with d = 0.5 and nibbles 0..15 -> 0.5 * (q - 8)
    blk = np.zeros(18, dtype=np.uint8)
    blk[0:2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    blk[2:18] = np.arange(16) | (np.arange(16)[::-1] << 4)
    v, _, _ = decode("Q4_0", blk.tobytes(), 1, 32)
    assert np.array_equal(v[0], 0.5 * (np.concatenate([np.arange(16), np.arange(16)[::-1]]) - 8)), v
    # Q6_K: every element's 6-bit value = 33 (q - 32 = 1), scale j = j + 1, d = 2 -> 2 * (e // 16 + 1)
    blk = np.zeros(210, dtype=np.uint8)
    blk[0:128] = 0x11  # low nibbles 1 everywhere
    blk[128:192] = 0xAA  # high 2 bits = 2 (0b10) for every group -> 32 + 1 = 33
    blk[192:208] = np.arange(1, 17)
    blk[208:210] = np.frombuffer(np.float16(2.0).tobytes(), dtype=np.uint8)
    v, _, _ = decode("Q6_K", blk.tobytes(), 1, 256)
    assert np.array_equal(v[0], 2.0 * (E // 16 + 1)), v
    # Q3_K scales: stored values 0..63 round-trip through the packing rule
    s = np.zeros((1, 12), dtype=np.int64)
    want = np.arange(16) * 4 % 64
    for j, u in enumerate(want):
        s[0, j % 8] |= (u & 15) << (0 if j < 8 else 4)
        s[0, 8 + j % 4] |= (u >> 4) << (2 * (j // 4))
    assert np.array_equal(q3k_scales(s)[0], want - 32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True, help="path to r1_quant_tool")
    ap.add_argument("--types", default=",".join(TYPES))
    args = ap.parse_args()
    selftest()
    rng = np.random.default_rng(1234)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.types.split(","):
            failures = check_type(args.tool, name, workdir, rng)
            if failures:
                failed += 1
                print(f"FAIL {name}")
                for f in failures[:10]:
                    print("   ", f)
            else:
                passed += 1
                print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
