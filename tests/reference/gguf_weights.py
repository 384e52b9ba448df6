"""Independent GGUF reader for the reference tests: the file's tensors as Hugging Face-named float64 arrays.

Written from the GGUF description (llama.cpp docs/gguf.md), not from the engine:
  header  "GGUF", u32 version, u64 n_tensors, u64 n_kv; metadata key/value pairs; tensor infos
          (name, u32 n_dims, u64 ne[n_dims] innermost first, u32 ggml type, u64 offset);
          data section at the next multiple of general.alignment (default 32).
Block-quantized tensors are decoded by ggml_quants_ref.py (also written from the format).

How llama.cpp's converter lays out what HF keeps elsewhere, undone here:
  * `blk.N.ffn_{gate,up,down}_exps` stack the experts: ne = {in, out, n_expert};
  * `attn_k_b` is W_UK transposed per head (ne = {d_nope, d_c, n_head}) and `attn_v_b` is W_UV
    (ne = {d_c, d_v, n_head}); HF's kv_b_proj is, per head, the d_nope rows of W_UK then d_v rows of W_UV;
  * Llama q/k rows are permuted from rotate-half to adjacent-pair order within each head:
    new row 2i + a came from row a * d/2 + i.
"""
import re
import struct

import numpy as np

import ggml_quants_ref

PLAIN_BYTES = {0: 4, 1: 2, 30: 2}  # F32, F16, BF16: bytes per value
# ggml_type ids of the block types (ggml.h) -> the names ggml_quants_ref.py decodes.
BLOCK_TYPES = {2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K",
               13: "Q5_K", 14: "Q6_K", 20: "IQ4_NL", 23: "IQ4_XS"}


def row_bytes(gtype, n):
    if gtype in PLAIN_BYTES:
        return PLAIN_BYTES[gtype] * n
    elems, nbytes, _ = ggml_quants_ref.TYPES[BLOCK_TYPES[gtype]]
    assert n % elems == 0, (gtype, n)
    return n // elems * nbytes

VALUE_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

LAYER_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q_a": "self_attn.q_a_proj", "attn_q_a_norm": "self_attn.q_a_layernorm", "attn_q_b": "self_attn.q_b_proj",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
    "attn_kv_a_mqa": "self_attn.kv_a_proj_with_mqa", "attn_kv_a_norm": "self_attn.kv_a_layernorm",
    "attn_kv_b": "self_attn.kv_b_proj", "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj", "ffn_gate_inp": "mlp.gate",
    "ffn_gate_shexp": "mlp.shared_experts.gate_proj", "ffn_up_shexp": "mlp.shared_experts.up_proj",
    "ffn_down_shexp": "mlp.shared_experts.down_proj",
}
GLOBAL_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                "output.weight": "lm_head.weight"}


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.data[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def value(self, vtype):
        if vtype == 8:
            return self.string()
        if vtype == 9:
            etype, n = self.take("<I"), self.take("<Q")
            return [self.value(etype) for _ in range(n)]
        return self.take(VALUE_FORMATS[vtype])


def read_gguf(path):
    """Returns (metadata dict, {name: (ggml type, ne list, raw bytes)}). A split model (split.count > 1,
    files NAME-00001-of-0000N.gguf ...) is read from its first shard: that shard's metadata, every shard's
    tensors; each shard must state its own split.no and the same split.count, and the tensors must add up
    to split.tensors.count."""
    meta, tensors, _ = read_one(path)
    count = meta.get("split.count", 0)
    if count > 1:
        m = re.fullmatch(r"(.*)-(\d{5})-of-(\d{5})\.gguf", path)
        assert m and int(m.group(2)) == 1 and int(m.group(3)) == count, f"{path}: not the first of {count} shards"
        assert meta["split.no"] == 0, path
        for i in range(1, count):
            shard = shard_path(m.group(1), i, count)
            shard_meta, shard_tensors, _ = read_one(shard)
            assert (shard_meta["split.no"], shard_meta["split.count"]) == (i, count), (shard, shard_meta)
            assert not set(shard_tensors) & set(tensors), f"{shard}: tensors also in an earlier shard"
            tensors.update(shard_tensors)
        assert len(tensors) == meta["split.tensors.count"], (len(tensors), meta["split.tensors.count"])
    return meta, tensors


def shard_path(prefix, index, count):
    """llama.cpp's shard names: PREFIX-%05d-of-%05d.gguf, counted from 1."""
    return f"{prefix}-{index + 1:05d}-of-{count:05d}.gguf"


def read_one(path):
    """One GGUF file: (metadata, tensors as read_gguf returns them, layout) where layout holds the raw
    bytes of each metadata pair and each tensor info, for split_gguf."""
    with open(path, "rb") as f:
        data = f.read()
    r = Reader(data)
    if data[:4] != b"GGUF":
        raise ValueError(f"{path}: not GGUF")
    r.pos = 4
    version = r.take("<I")
    assert version in (2, 3), version
    n_tensors, n_kv = r.take("<Q"), r.take("<Q")
    meta, raw_kv = {}, []
    for _ in range(n_kv):
        begin = r.pos
        key = r.string()
        meta[key] = r.value(r.take("<I"))
        raw_kv.append((key, data[begin:r.pos]))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        ne = [r.take("<Q") for _ in range(r.take("<I"))]
        infos.append((name, r.take("<I"), ne, r.take("<Q")))
    align = meta.get("general.alignment", 32)
    start = (r.pos + align - 1) // align * align
    tensors = {}
    for name, gtype, ne, offset in infos:
        n_rows = int(np.prod(ne[1:])) if len(ne) > 1 else 1
        nbytes = n_rows * row_bytes(gtype, ne[0])
        tensors[name] = (gtype, ne, data[start + offset:start + offset + nbytes])
    return meta, tensors, raw_kv


def split_gguf(path, prefix, count, first_without_tensors=False):
    """Cuts a GGUF file into `count` shards as llama.cpp's gguf-split does: the file's metadata in the
    first shard only, split.no (u16), split.count (u16) and split.tensors.count (i32) in every one, the
    tensors in file order spread over the shards (none in the first with first_without_tensors, as
    gguf-split --no-tensor-first-split), data aligned to 32. Returns the shard paths."""
    meta, tensors, raw_kv = read_one(path)
    assert meta.get("general.alignment", 32) == 32 and "split.count" not in meta
    names = list(tensors)
    holders = count - 1 if first_without_tensors else count
    per = -(-len(names) // holders)
    groups = [names[i * per:(i + 1) * per] for i in range(holders)]
    if first_without_tensors:
        groups = [[]] + groups
    assert len(groups) == count and all(groups[1:]), "too few tensors for that many shards"

    def string(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    paths = []
    for i, group in enumerate(groups):
        kv = [raw for _, raw in raw_kv] if i == 0 else []
        u16, i32 = 2, 5  # GGUF value types
        kv += [string("split.no") + struct.pack("<IH", u16, i), string("split.count") + struct.pack("<IH", u16, count),
               string("split.tensors.count") + struct.pack("<Ii", i32, len(names))]
        head = b"GGUF" + struct.pack("<IQQ", 3, len(group), len(kv)) + b"".join(kv)
        body, offset = b"", 0
        for name in group:
            gtype, ne, raw = tensors[name]
            head += string(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
            head += struct.pack("<IQ", gtype, offset)
            padded = raw + bytes(-len(raw) % 32)
            body += padded
            offset += len(padded)
        head += bytes(-len(head) % 32)
        paths.append(shard_path(prefix, i, count))
        with open(paths[-1], "wb") as f:
            f.write(head + body)
    return paths


def decode(gtype, ne, raw):
    """float64 array in PyTorch order (outermost first)."""
    if gtype == 0:
        flat = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    elif gtype == 1:
        flat = np.frombuffer(raw, dtype="<f2").astype(np.float64)
    elif gtype == 30:
        flat = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    else:
        rows = int(np.prod(ne[1:])) if len(ne) > 1 else 1
        flat, _, _ = ggml_quants_ref.decode(BLOCK_TYPES[gtype], raw, rows, ne[0])
    return flat.reshape(list(reversed(ne)))


def hf_weights(path, cfg):
    """All tensors of a GGUF file under their HF names, as float64, with the converter's layouts undone."""
    meta, tensors = read_gguf(path)
    arch = meta["general.architecture"]
    out = {}
    for name, (gtype, ne, raw) in tensors.items():
        w = decode(gtype, ne, raw)
        if name in GLOBAL_NAMES:
            out[GLOBAL_NAMES[name]] = w
            continue
        if name == "rope_freqs.weight":
            continue
        _, layer, rest = name.split(".", 2)
        p = f"model.layers.{layer}."
        base, suffix = rest.rsplit(".", 1)
        if base == "exp_probs_b":
            out[p + "mlp.gate.e_score_correction_bias"] = w
        elif base.startswith("ffn_") and base.endswith("_exps"):
            proj = base[len("ffn_"):-len("_exps")]
            for e in range(w.shape[0]):
                out[f"{p}mlp.experts.{e}.{proj}_proj.weight"] = w[e]
        elif base in ("attn_k_b", "attn_v_b"):
            out[p + base] = w
        else:
            out[p + LAYER_NAMES[base] + "." + suffix] = w
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        if p + "attn_k_b" in out:
            k_b, v_b = out.pop(p + "attn_k_b"), out.pop(p + "attn_v_b")  # [H, d_c, d_nope], [H, d_v, d_c]
            w_uk = np.transpose(k_b, (0, 2, 1))  # [H, d_nope, d_c]
            out[p + "self_attn.kv_b_proj.weight"] = np.concatenate([w_uk, v_b], axis=1).reshape(-1, k_b.shape[1])
        if arch == "llama":
            hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
            for proj in ("q_proj", "k_proj"):
                for suffix in ("weight", "bias"):
                    key = f"{p}self_attn.{proj}.{suffix}"
                    if key in out:
                        out[key] = unpermute(out[key], hd)
    return meta, out


def unpermute(w, hd):
    """Inverse of the converter's per-head rotate-half -> adjacent-pair row permutation."""
    heads = w.shape[0] // hd
    rest = w.shape[1:]
    return w.reshape(heads, hd // 2, 2, *rest).swapaxes(1, 2).reshape(w.shape)
