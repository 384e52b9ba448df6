#!/usr/bin/python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/ (committed; run again only to regenerate).

  make_corpus.py [--r1 PATH]   with --r1, also takes the config.json of every tiny synth preset
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "I32": 4, "I64": 8}


def st(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, fill byte) -> safetensors bytes."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, fill in tensors:
        n = SIZES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + n]}
        if dtype in ("F32",):
            data += struct.pack("<f", fill) * (n // 4)
        elif dtype in ("BF16",):
            data += struct.pack("<f", fill)[2:] * (n // 2)
        else:
            data += bytes([int(fill * 16) & 0x7e]) * n
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def model_tensors(q_dtype="F8_E4M3", down_dtype="F8_E4M3", other="BF16", drop=()):
    """The tensors of the fixed config in fuzz_model_dir.cpp: Llama, hidden 8, 2 heads / 1 kv head,
    head_dim 4, intermediate 12, vocab 16, FP8 block 4x4."""
    t = [("model.embed_tokens.weight", other, [16, 8], 0.5),
         ("model.layers.0.input_layernorm.weight", "F32", [8], 1.0),
         ("model.layers.0.post_attention_layernorm.weight", other, [8], 1.0)]
    t += [("model.layers.0.self_attn.q_proj.weight", q_dtype, [8, 8], 0.25)]
    if q_dtype == "F8_E4M3":
        t += [("model.layers.0.self_attn.q_proj.weight_scale_inv", "F32", [2, 2], 0.01)]
    t += [("model.layers.0.self_attn.k_proj.weight", other, [4, 8], 0.25),
          ("model.layers.0.self_attn.v_proj.weight", "F16", [4, 8], 0.25),
          ("model.layers.0.self_attn.o_proj.weight", other, [8, 8], 0.25),
          ("model.layers.0.mlp.gate_proj.weight", "F32", [12, 8], 0.25),
          ("model.layers.0.mlp.up_proj.weight", other, [12, 8], 0.25),
          ("model.layers.0.mlp.down_proj.weight", down_dtype, [8, 12], 0.25)]
    if down_dtype == "F8_E4M3":
        t += [("model.layers.0.mlp.down_proj.weight_scale_inv", "F32", [2, 3], 0.01)]
    t += [("model.norm.weight", other, [8], 1.0), ("lm_head.weight", other, [16, 8], 0.5)]
    return [x for x in t if x[0] not in drop]


def gguf(metadata, tensors):
    """metadata: list of (key, type id, value); tensors: list of (name, ne, ggml type, raw bytes) -> GGUF v3."""
    def string(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b

    fmt = {2: "<H", 4: "<I", 5: "<i", 6: "<f", 7: "<?"}
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, vtype, value in metadata:
        out += string(key) + struct.pack("<I", vtype)
        if vtype == 8:
            out += string(value)
        elif vtype == 9:
            etype, items = value
            out += struct.pack("<IQ", etype, len(items))
            out += b"".join(string(i) if etype == 8 else struct.pack(fmt[etype], i) for i in items)
        else:
            out += struct.pack(fmt[vtype], value)
    offset, data = 0, b""
    for name, ne, gtype, raw in tensors:
        out += string(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", gtype, offset)
        data += raw + b"\0" * ((32 - len(raw) % 32) % 32)
        offset = len(data)
    out += b"\0" * ((32 - len(out) % 32) % 32)
    return out + data


def q8_0(rows, cols, value):
    """Q8_0 rows: per 32 values an f16 scale then 32 int8."""
    block = struct.pack("<e", value / 64) + bytes([64]) * 32
    return block * (rows * cols // 32)


def gguf_llama(matrix_type=8, parts=False):
    """A Llama GGUF: vocab 16, hidden 32, 2 heads / 1 kv head (head_dim 16), ffn 32, one layer; matrices in
    Q8_0 (type 8) or F32 (0); a tokenizer of single-byte tokens. With parts: (metadata, tensors) unjoined."""
    def mat(rows, cols):
        return q8_0(rows, cols, 0.25) if matrix_type == 8 else struct.pack("<f", 0.25) * (rows * cols)
    vec = struct.pack("<f", 1.0) * 32
    meta = [("general.architecture", 8, "llama"), ("llama.block_count", 4, 1), ("llama.context_length", 4, 64),
            ("llama.embedding_length", 4, 32), ("llama.feed_forward_length", 4, 32), ("llama.attention.head_count", 4, 2),
            ("llama.attention.head_count_kv", 4, 1), ("llama.rope.freq_base", 6, 10000.0),
            ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5), ("tokenizer.ggml.model", 8, "gpt2"),
            ("tokenizer.ggml.tokens", 9, (8, [chr(ord("a") + i) for i in range(16)])),
            ("tokenizer.ggml.token_type", 9, (5, [1] * 16)), ("tokenizer.ggml.bos_token_id", 4, 0)]
    t = [("token_embd.weight", [32, 16], matrix_type, mat(16, 32)), ("blk.0.attn_norm.weight", [32], 0, vec),
         ("blk.0.attn_q.weight", [32, 32], matrix_type, mat(32, 32)), ("blk.0.attn_k.weight", [32, 16], matrix_type, mat(16, 32)),
         ("blk.0.attn_v.weight", [32, 16], matrix_type, mat(16, 32)), ("blk.0.attn_output.weight", [32, 32], matrix_type, mat(32, 32)),
         ("blk.0.ffn_norm.weight", [32], 0, vec), ("blk.0.ffn_gate.weight", [32, 32], matrix_type, mat(32, 32)),
         ("blk.0.ffn_up.weight", [32, 32], matrix_type, mat(32, 32)), ("blk.0.ffn_down.weight", [32, 32], matrix_type, mat(32, 32)),
         ("output_norm.weight", [32], 0, vec), ("output.weight", [32, 16], matrix_type, mat(16, 32))]
    return (meta, t) if parts else gguf(meta, t)


def gguf_split_pair(first_tensors=6, no=(0, 1), count=2, total=None, second_extra=()):
    """fuzz_gguf_split's input: u32 length of shard 1, shard 1, shard 2 -- gguf_llama(8) split in two as
    gguf-split does (metadata in the first shard, split.no / split.count / split.tensors.count in both)."""
    meta, t = gguf_llama(8, parts=True)
    total = len(t) if total is None else total

    def keys(i):
        return [("split.no", 2, no[i]), ("split.count", 2, count), ("split.tensors.count", 5, total)]
    one = gguf(meta + keys(0), t[:first_tensors])
    two = gguf(keys(1), t[first_tensors:] + list(second_extra))
    return struct.pack("<I", len(one)) + one + two


def gguf_corpus():
    g = "fuzz_gguf"
    shutil.rmtree(os.path.join(HERE, "corpus", g), ignore_errors=True)
    write(g, "valid_llama_q8_0", gguf_llama(8))
    write(g, "valid_llama_f32", gguf_llama(0))
    write(g, "invalid_truncated", gguf_llama(8)[:-40])
    write(g, "invalid_arch", gguf_llama(0).replace(b"llama", b"gpt-9", 1))
    g = "fuzz_gguf_split"
    shutil.rmtree(os.path.join(HERE, "corpus", g), ignore_errors=True)
    write(g, "valid_two_shards", gguf_split_pair())
    write(g, "valid_first_without_tensors", gguf_split_pair(first_tensors=0))
    write(g, "invalid_split_no", gguf_split_pair(no=(0, 0)))
    write(g, "invalid_count", gguf_split_pair(total=13))
    write(g, "invalid_duplicate", gguf_split_pair(second_extra=[gguf_llama(8, parts=True)[1][0]]))


def write(target, name, content):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1")
    ap.add_argument("--only-gguf", action="store_true", help="regenerate only the fuzz_gguf and fuzz_gguf_split seeds")
    a = ap.parse_args()
    gguf_corpus()
    if a.only_gguf:
        return
    for target in ("fuzz_safetensors_header", "fuzz_model_config", "fuzz_model_dir"):
        shutil.rmtree(os.path.join(HERE, "corpus", target), ignore_errors=True)

    # fuzz_safetensors_header
    h = "fuzz_safetensors_header"
    write(h, "valid_small", st([("a.weight", "BF16", [2, 3], 1.0), ("a.weight_scale_inv", "F32", [1, 1], 0.5),
                                ("b", "F8_E4M3", [5], 0.3), ("ids", "I64", [2], 0), ("e", "F32", [0, 3], 0)],
                               {"format": "pt"}))
    write(h, "valid_empty", st([]))
    write(h, "valid_unpadded", st([("x", "F16", [3], 0.2), ("y", "I32", [1], 0)], pad=False))
    write(h, "valid_scalar", st([("s", "F32", [], 2.0)], {"format": "pt", "k": "v"}))
    overlap = bytearray(st([("a", "F32", [2], 1.0), ("b", "F32", [2], 1.0)]))
    write(h, "invalid_overlap", bytes(overlap).replace(b'"data_offsets":[8,16]', b'"data_offsets":[4,12]'))
    write(h, "invalid_truncated", st([("a", "F32", [4], 1.0)])[:-3])
    write(h, "invalid_dtype", st([("a", "F32", [2], 1.0)]).replace(b'"F32"', b'"F64"'))
    write(h, "invalid_short", b"\x10\x00\x00")

    # fuzz_model_dir
    m = "fuzz_model_dir"
    write(m, "valid_fp8", st(model_tensors(), {"format": "pt"}))
    write(m, "valid_no_fp8", st(model_tensors(q_dtype="BF16", down_dtype="F32")))
    write(m, "valid_f32", st(model_tensors(other="F32")))
    write(m, "invalid_missing_scale", st(model_tensors(drop=("model.layers.0.mlp.down_proj.weight_scale_inv",))))
    write(m, "invalid_missing_norm", st(model_tensors(drop=("model.norm.weight",))))

    # fuzz_model_config
    c = "fuzz_model_config"
    if a.r1:
        presets = ["tiny-v3", "tiny-moonlight", "tiny-v2", "tiny-v2-lite", "tiny-qwen2", "tiny-llama", "tiny-qwen3"]
        with tempfile.TemporaryDirectory() as tmp:
            for p in presets:
                out = os.path.join(tmp, p)
                dtype = ["--dtype", "fp8"] if p == "tiny-v3" else []
                subprocess.run([a.r1, "synth", p, out, "--layers", "1"] + dtype, check=True, stderr=subprocess.DEVNULL)
                with open(os.path.join(out, "config.json")) as f:
                    cfg = json.load(f)
                cfg.pop("r1_synth", None)
                write(c, f"valid_{p}", json.dumps(cfg, separators=(",", ":")))
    write(c, "valid_minimal_llama", json.dumps({"architectures": ["LlamaForCausalLM"], "vocab_size": 8, "hidden_size": 4,
                                               "intermediate_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2}))
    write(c, "invalid_arch", '{"architectures":["GPT2LMHeadModel"],"vocab_size":8}')
    write(c, "invalid_types", '{"architectures":["Qwen2ForCausalLM"],"vocab_size":"8","hidden_size":-4,'
                              '"rope_scaling":{"type":"yarn","factor":1e308,"original_max_position_embeddings":1e300}}')


if __name__ == "__main__":
    main()
