"""Independent reader for Hugging Face model directories (config.json + safetensors).

Written from the file-format description, not from the engine: every tensor comes back as a
float64 numpy array. FP8 (e4m3) weights with a sibling `weight_scale_inv` are block-dequantised
(spec §6.1): W[r, c] = fp8(W[r, c]) * scale_inv[r // B0, c // B1].
"""
import json
import math
import os
import struct

import numpy as np


def _fp8_e4m3_table():
    """256-entry decode table for float8 e4m3fn: 1 sign, 4 exponent bits (bias 7), 3 mantissa bits.
    exponent == 0 -> subnormal m/8 * 2^-6; 0x7F / 0xFF -> NaN; there are no infinities."""
    table = np.empty(256, dtype=np.float64)
    for byte in range(256):
        sign = -1.0 if byte & 0x80 else 1.0
        exponent = (byte >> 3) & 0xF
        mantissa = byte & 0x7
        if byte & 0x7F == 0x7F:
            table[byte] = math.nan
        elif exponent == 0:
            table[byte] = sign * (mantissa / 8.0) * 2.0 ** (1 - 7)
        else:
            table[byte] = sign * (1.0 + mantissa / 8.0) * 2.0 ** (exponent - 7)
    return table


FP8_E4M3 = _fp8_e4m3_table()


def decode(raw, dtype, shape):
    """Turn the raw little-endian bytes of one tensor into a float64 array of `shape`."""
    if dtype == "F64":
        out = np.frombuffer(raw, dtype="<f8")
    elif dtype == "F32":
        out = np.frombuffer(raw, dtype="<f4")
    elif dtype == "F16":
        out = np.frombuffer(raw, dtype="<f2")
    elif dtype == "BF16":  # bf16 = upper 16 bits of an IEEE f32
        out = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    elif dtype == "F8_E4M3":
        out = FP8_E4M3[np.frombuffer(raw, dtype=np.uint8)]
    else:
        raise ValueError(f"unsupported safetensors dtype {dtype!r}")
    return out.astype(np.float64).reshape(shape)


def read_header(path):
    """Return (header dict without __metadata__, byte offset where tensor data starts)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header, 8 + n


class Weights:
    """Lazy name -> float64 array view over all safetensors files of a model directory."""

    def __init__(self, model_dir, config):
        self.block = tuple((config.get("quantization_config") or {}).get("weight_block_size", [128, 128]))
        index = os.path.join(model_dir, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                weight_map = json.load(f)["weight_map"]
            files = sorted(set(weight_map.values()))
        else:
            files = ["model.safetensors"]
        self.entries = {}  # name -> (path, data_start, info)
        for fname in files:
            path = os.path.join(model_dir, fname)
            header, start = read_header(path)
            for name, info in header.items():
                self.entries[name] = (path, start, info)

    def __contains__(self, name):
        return name in self.entries

    def keys(self):
        return self.entries.keys()

    def raw(self, name):
        """Decoded tensor exactly as stored (no FP8 block scaling)."""
        if name not in self.entries:
            raise KeyError(f"tensor {name!r} not found in checkpoint")
        path, start, info = self.entries[name]
        begin, end = info["data_offsets"]
        with open(path, "rb") as f:
            f.seek(start + begin)
            raw = f.read(end - begin)
        return decode(raw, info["dtype"], info["shape"])

    def __getitem__(self, name):
        w = self.raw(name)
        scale_name = name + "_scale_inv"  # X.weight -> X.weight_scale_inv
        if scale_name in self.entries:
            w = dequant_blocks(w, self.raw(scale_name), self.block)
        elif self.entries[name][2]["dtype"] == "F8_E4M3":
            raise ValueError(f"FP8 tensor {name!r} has no {scale_name!r}")
        return w

    def get(self, name):
        return self[name] if name in self else None


def dequant_blocks(w, scale_inv, block):
    """W[r, c] * scale_inv[r // B0, c // B1]; the last block row/column may be partial."""
    b0, b1 = block
    rows, cols = w.shape
    expect = (math.ceil(rows / b0), math.ceil(cols / b1))
    if scale_inv.shape != expect:
        raise ValueError(f"scale_inv shape {scale_inv.shape} != {expect} for weight {w.shape}")
    full = np.repeat(np.repeat(scale_inv, b0, axis=0), b1, axis=1)[:rows, :cols]
    return w * full


def load_model_dir(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    return config, Weights(model_dir, config)
