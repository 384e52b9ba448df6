"""ggml's own quantizers and decoders, called in the pinned llama.cpp build the compat tests already fetch.

libggml-base.so of node-llama-cpp (tests/compat/fetch_llama_cpp.sh: pinned by package-lock.json and by
sha256) exports ggml's quantize_* / dequantize_row_* functions. The tests use them as the oracle for the
codebook types r1 reads but does not write (IQ1_S ... IQ3_S): ggml makes real blocks of them, decodes
them, and writes GGUF files holding them (llama.cpp's own quantizer, as `llama-quantize` would).
"""
import ctypes
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reference"))
import gguf_weights  # noqa: E402

# name -> (ggml_type id, bytes per block of 256 values)
IQ_TYPES = {"IQ2_XXS": (16, 66), "IQ2_XS": (17, 74), "IQ3_XXS": (18, 98), "IQ1_S": (19, 50), "IQ3_S": (21, 110),
            "IQ2_S": (22, 82), "IQ1_M": (29, 56)}


class Ggml:
    def __init__(self, llama_dir):
        path = os.path.join(llama_dir, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so")
        self.lib = ctypes.CDLL(path)
        self.ready = set()

    def _init(self, name):
        if name not in self.ready:  # builds ggml's codebook neighbour tables for the type
            self.lib.ggml_quantize_init(ctypes.c_int(IQ_TYPES[name][0]))
            self.ready.add(name)

    def quantize(self, name, x):
        """float32 rows (rows, n) -> the blocks, as ggml writes them. The importance weights are all 1
        (no imatrix: every value counts the same)."""
        self._init(name)
        x = np.ascontiguousarray(x, dtype=np.float32)
        rows, n = x.shape
        assert n % 256 == 0, (name, n)
        out = np.zeros(rows * n // 256 * IQ_TYPES[name][1], dtype=np.uint8)
        ones = np.ones(n, dtype=np.float32)
        fn = getattr(self.lib, "quantize_" + name.lower())
        fn.restype = ctypes.c_size_t
        wrote = fn(x.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(rows),
                   ctypes.c_int64(n), ones.ctypes.data_as(ctypes.c_void_p))
        assert wrote == out.size, (name, wrote, out.size)
        return out.tobytes()

    def dequantize(self, name, raw, count):
        """The first `count` values of the blocks in `raw`, as ggml decodes them (float32)."""
        self._init(name)
        buf = np.frombuffer(raw, dtype=np.uint8).copy()
        y = np.zeros(count, dtype=np.float32)
        getattr(self.lib, "dequantize_row_" + name.lower())(buf.ctypes.data_as(ctypes.c_void_p),
                                                             y.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(count))
        return y


# ---- GGUF rewriting ---------------------------------------------------------------------------------------

def requantize_gguf(src, dst, ggml, choose):
    """Copies the F32 GGUF `src` to `dst`, metadata byte for byte, with every tensor for which
    choose(name, ne) names an IQ type quantized to it by ggml. Alignment 32 (the file's own)."""
    data = open(src, "rb").read()
    assert data[:4] == b"GGUF"
    r = gguf_weights.Reader(data)  # the reference tests' GGUF reader: only the positions are needed here
    r.pos = 8
    n_tensors, n_kv = r.take("<Q"), r.take("<Q")
    for _ in range(n_kv):
        assert r.string() != "general.alignment", "files with their own alignment are not handled here"
        r.value(r.take("<I"))
    meta_end = r.pos
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        ne = [r.take("<Q") for _ in range(r.take("<I"))]
        infos.append((name, ne, r.take("<I"), r.take("<Q")))
    start = (r.pos + 31) // 32 * 32
    head, body = bytearray(data[:meta_end]), bytearray()
    tensors = []
    for name, ne, gtype, offset in infos:
        count = int(np.prod(ne))
        if gtype != 0:
            raise ValueError(f"{src}: tensor {name} is not F32")
        raw = data[start + offset:start + offset + 4 * count]
        target = choose(name, ne)
        if target:
            raw = ggml.quantize(target, np.frombuffer(raw, dtype="<f4").reshape(-1, ne[0]))
            gtype = IQ_TYPES[target][0]
        body += b"\0" * (-len(body) % 32)
        tensors.append((name, ne, gtype, len(body)))
        body += raw
    for name, ne, gtype, offset in tensors:
        head += struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(ne))
        head += struct.pack(f"<{len(ne)}Q", *ne) + struct.pack("<IQ", gtype, offset)
    head += b"\0" * (-len(head) % 32)
    with open(dst, "wb") as f:
        f.write(head + body)
