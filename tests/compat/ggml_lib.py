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

# name -> (ggml_type id, bytes per block of 256 values): the codebook types
IQ_TYPES = {"IQ2_XXS": (16, 66), "IQ2_XS": (17, 74), "IQ3_XXS": (18, 98), "IQ1_S": (19, 50), "IQ3_S": (21, 110),
            "IQ2_S": (22, 82), "IQ1_M": (29, 56)}
# name -> (ggml_type id, values per block, bytes per block): every type quantize() writes
QUANT_TYPES = {**{name: (t, 256, size) for name, (t, size) in IQ_TYPES.items()}, "IQ4_NL": (20, 32, 18),
               "IQ4_XS": (23, 256, 136)}


class Ggml:
    def __init__(self, llama_dir):
        path = os.path.join(llama_dir, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so")
        self.lib = ctypes.CDLL(path)
        self.ready = set()

    def _init(self, name):
        if name not in self.ready:  # builds ggml's codebook neighbour tables for the type
            self.lib.ggml_quantize_init(ctypes.c_int(QUANT_TYPES[name][0]))
            self.ready.add(name)

    def quantize(self, name, x):
        """float32 rows (rows, n) -> the blocks, as ggml writes them. The importance weights are all 1
        (no imatrix: every value counts the same)."""
        self._init(name)
        x = np.ascontiguousarray(x, dtype=np.float32)
        rows, n = x.shape
        _, elems, size = QUANT_TYPES[name]
        assert n % elems == 0, (name, n)
        out = np.zeros(rows * n // elems * size, dtype=np.uint8)
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

# ggml type id -> (values per block, bytes per block), for the tensors copied as they are.
BLOCK_SIZES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 10: (256, 84),
               11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 20: (32, 18), 23: (256, 136),
               30: (1, 2), **{t: (256, size) for t, size in IQ_TYPES.values()}}


def _layout(data, path):
    """(end of the metadata, [(name, ne, ggml type, offset)], start of the data) of a GGUF file (alignment 32)."""
    assert data[:4] == b"GGUF", path
    r = gguf_weights.Reader(data)  # the reference tests' GGUF reader: only the positions are needed here
    r.pos = 8
    n_tensors, n_kv = r.take("<Q"), r.take("<Q")
    for _ in range(n_kv):
        assert r.string() != "general.alignment", f"{path}: files with their own alignment are not handled here"
        r.value(r.take("<I"))
    meta_end = r.pos
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        ne = [r.take("<Q") for _ in range(r.take("<I"))]
        infos.append((name, ne, r.take("<I"), r.take("<Q")))
    return meta_end, infos, (r.pos + 31) // 32 * 32


def requantize_gguf(src, dst, ggml, choose, keep=None, threads=1):
    """Writes `dst`: the tensors of the F32 or F16 GGUF `src`, each one for which choose(name, ne) names an IQ
    type quantized to it by ggml (on `threads` threads). The others are copied as they are: from `src`, or
    from the same-named tensor of `keep` (a file of the same model in other types, e.g. r1's Q4_K_M), whose
    metadata `dst` then takes. Streams tensor by tensor (files of several GB). Alignment 32 (the files' own)."""
    import functools
    import mmap
    from concurrent.futures import ThreadPoolExecutor

    def open_map(path):
        with open(path, "rb") as f:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    data = open_map(src)
    meta_end, infos, start = _layout(data, src)
    kept = {}
    if keep:
        kdata = open_map(keep)
        kmeta_end, kinfos, kstart = _layout(kdata, keep)
        kept = {name: (ne, gtype, kstart + offset) for name, ne, gtype, offset in kinfos}
        head = bytearray(kdata[:kmeta_end])
    else:
        head = bytearray(data[:meta_end])

    def nbytes(gtype, ne):
        per_block, size = BLOCK_SIZES[gtype]
        return int(np.prod(ne)) // per_block * size

    pool = ThreadPoolExecutor(max_workers=threads)  # ctypes releases the GIL: ggml runs on every thread

    def quantized(target, gtype, at, ne):  # the tensor's rows, split between the threads
        x = np.frombuffer(data, dtype="<f4" if gtype == 0 else "<f2", count=int(np.prod(ne)), offset=at)
        rows = x.reshape(-1, ne[0])
        parts = [p for p in np.array_split(np.arange(rows.shape[0]), threads) if len(p)]
        return b"".join(pool.map(lambda idx: ggml.quantize(target, rows[idx[0]:idx[-1] + 1].astype(np.float32)), parts))

    plan, offset = [], 0  # (name, ne, type written, its bytes when called, offset)
    for name, ne, gtype, off in infos:
        if gtype not in (0, 1):
            raise ValueError(f"{src}: tensor {name} is neither F32 nor F16")
        target = choose(name, ne)
        if target:
            out_type, make = QUANT_TYPES[target][0], functools.partial(quantized, target, gtype, start + off, ne)
        elif keep:
            kne, out_type, at = kept[name]
            assert kne == ne, (name, kne, ne)
            make = functools.partial(kdata.__getitem__, slice(at, at + nbytes(out_type, ne)))
        else:
            out_type, at = gtype, start + off
            make = functools.partial(data.__getitem__, slice(at, at + nbytes(out_type, ne)))
        offset += -offset % 32
        plan.append((name, ne, out_type, make, offset))
        offset += nbytes(out_type, ne)
    for name, ne, out_type, _, off in plan:
        head += struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(ne))
        head += struct.pack(f"<{len(ne)}Q", *ne) + struct.pack("<IQ", out_type, off)
    head += b"\0" * (-len(head) % 32)
    with open(dst, "wb") as f:
        f.write(head)
        written = 0
        for _, _, _, make, off in plan:
            f.write(b"\0" * (off - written))
            raw = make()
            f.write(raw)
            written = off + len(raw)
    pool.shutdown()
