#!/usr/bin/python3
"""Bad-input tests for the r1 command line (issue 2, item 7).

Each case starts from a valid synthesized model (a sharded FP8 tiny-v3 and a single-file BF16
tiny-qwen2), breaks it in one way, runs `r1 info DIR` and `r1 logits DIR --tokens 1,2` (or the
command the case names) and asserts that r1
  * exits with status 1 (not 0, not a signal, not a sanitizer's abort),
  * does not hang (a timeout per command),
  * writes exactly one line to stderr, starting with "r1: error:", that contains the file name,
    the tensor or field name and the expected thing given by the case.

  bad_input.py --r1 PATH --workdir DIR --setup      synthesize the two base models (CTest fixture)
  bad_input.py --r1 PATH --workdir DIR CASE...      run the named cases (default: all)
  bad_input.py --list                               print the case names, one per line
"""

import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

TIMEOUT_S = 120  # per command; generous because CI runs r1 under ASan+UBSan on 2 cores

V3_SHARDS = [f"model-0000{i}-of-00005.safetensors" for i in range(1, 6)]


# ---- safetensors surgery ---------------------------------------------------------------------------

def read_st(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_st(path, header, data, pad=True):
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def edit_header(path, fn):
    header, data = read_st(path)
    fn(header)
    write_st(path, header, data)


def shard_of(model, tensor):
    idx = os.path.join(model, "model.safetensors.index.json")
    if not os.path.exists(idx):
        return "model.safetensors"
    with open(idx) as f:
        return json.load(f)["weight_map"][tensor]


def tensor_path(model, tensor):
    return os.path.join(model, shard_of(model, tensor))


def edit_tensor(model, tensor, fn):
    edit_header(tensor_path(model, tensor), lambda h: fn(h[tensor]))


def remove_tensor(model, tensor):
    """Removes a tensor from its file's header (the bytes stay, unreferenced) and from the index."""
    edit_header(tensor_path(model, tensor), lambda h: h.pop(tensor))
    idx = os.path.join(model, "model.safetensors.index.json")
    if os.path.exists(idx):
        edit_json(idx, lambda j: j["weight_map"].__delitem__(tensor))


def poke_tensor(model, tensor, offset, payload):
    """Overwrites bytes of a tensor's data, `offset` bytes into it."""
    path = tensor_path(model, tensor)
    header, data = read_st(path)
    begin = header[tensor]["data_offsets"][0] + offset
    data = data[:begin] + payload + data[begin + len(payload):]
    write_st(path, header, data)


def fill_tensor(model, tensor, byte):
    """Sets every byte of a tensor's data to `byte`."""
    path = tensor_path(model, tensor)
    header, data = read_st(path)
    begin, end = header[tensor]["data_offsets"]
    write_st(path, header, data[:begin] + byte * (end - begin) + data[end:])


def edit_json(path, fn):
    with open(path) as f:
        j = json.load(f)
    r = fn(j)
    with open(path, "w") as f:
        json.dump(j if r is None else r, f, indent=2)


def set_config(**fields):
    def mutate(m):
        def fn(j):
            for k, v in fields.items():
                if v is DELETE:
                    j.pop(k)
                else:
                    j[k] = v
        edit_json(os.path.join(m, "config.json"), fn)
    return mutate


DELETE = object()


def write_file(name, content):
    def mutate(m):
        with open(os.path.join(m, name), "wb") as f:
            f.write(content)
    return mutate


def truncate(name, keep):
    """Cuts file `name` to `keep(size, header_len)` bytes."""
    def mutate(m):
        path = os.path.join(m, name)
        with open(path, "rb") as f:
            raw = f.read()
        n = struct.unpack("<Q", raw[:8])[0]
        with open(path, "wb") as f:
            f.write(raw[:keep(len(raw), n)])
    return mutate


def set_header_len(name, value):
    def mutate(m):
        path = os.path.join(m, name)
        with open(path, "r+b") as f:
            raw = f.read()
            f.seek(0)
            f.write(struct.pack("<Q", value(len(raw))))
    return mutate


def garble_header(name):
    """Keeps the header length but replaces the JSON with bytes that are not JSON."""
    def mutate(m):
        path = os.path.join(m, name)
        with open(path, "r+b") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            f.write(b"{\"model.embed_tokens.weight\": {" + b"\x00\xff" * ((n - 31) // 2) + b"}" * ((n - 31) % 2))
    return mutate


def unaligned(name):
    """One extra space in the header: the data section starts at an odd offset."""
    def mutate(m):
        path = os.path.join(m, name)
        header, data = read_st(path)
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * ((8 - len(text) % 8) % 8) + b" "
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + data)
    return mutate


def overlap(a, b):
    """Points tensor b at the bytes of tensor a (same size), leaving b's own bytes unused."""
    def mutate(m):
        path = tensor_path(m, a)
        assert path == tensor_path(m, b)

        def fn(h):
            h[b]["data_offsets"] = list(h[a]["data_offsets"])
        edit_header(path, fn)
    return mutate


def dup_tensor_into(shard_from, shard_to, tensor):
    """Declares one tensor in a second file too (its bytes appended there, so nothing overlaps)."""
    def mutate(m):
        h_from, _ = read_st(os.path.join(m, shard_from))
        entry = dict(h_from[tensor])
        size = entry["data_offsets"][1] - entry["data_offsets"][0]
        path = os.path.join(m, shard_to)
        header, data = read_st(path)
        entry["data_offsets"] = [len(data), len(data) + size]
        header[tensor] = entry
        write_st(path, header, data + b"\x00" * size)
    return mutate


def chain(*fns):
    def mutate(m):
        for fn in fns:
            fn(m)
    return mutate


# ---- the cases -------------------------------------------------------------------------------------

MODEL_CMDS = (["info"], ["logits", "--tokens", "1,2"])


class Case:
    def __init__(self, name, base, mutate, expect, cmds=MODEL_CMDS, target=None):
        self.name, self.base, self.mutate, self.expect, self.cmds = name, base, mutate, expect, cmds
        self.target = target  # what replaces the model dir argument: None (the model dir) or a function of it


S1, S2, S3, S4, S5 = V3_SHARDS
Q = "model.safetensors"
NORM = "model.norm.weight"
FP8_W = "model.layers.1.mlp.experts.8.gate_proj.weight"          # F8_E4M3 [96, 192], scales [1, 2]
FP8_S = FP8_W + "_scale_inv"
Q_K = "model.layers.0.self_attn.k_proj.weight"                   # BF16 [64, 128] in tiny-qwen2
Q_KB = "model.layers.0.self_attn.k_proj.bias"                    # BF16 [64]

CASES = [
    # --- the directory itself
    Case("dir_empty", "empty", lambda m: None, ["missing config.json"]),
    Case("dir_is_file", "q2", lambda m: None, ["config.json", "not a directory", "model directory"],
         target=lambda m: os.path.join(m, "config.json")),
    Case("dir_missing", "q2", lambda m: None, ["does-not-exist", "not a directory"],
         target=lambda m: os.path.join(m, "does-not-exist")),
    Case("config_is_directory", "q2", lambda m: (os.remove(os.path.join(m, "config.json")), os.mkdir(os.path.join(m, "config.json"))),
         ["config.json", "not a regular file"]),
    Case("weights_is_directory", "q2", lambda m: (os.remove(os.path.join(m, Q)), os.mkdir(os.path.join(m, Q))),
         [Q, "not a regular file"]),
    Case("weights_none", "q2", lambda m: os.remove(os.path.join(m, Q)), ["no *.safetensors files"]),

    # --- config.json
    Case("config_missing", "v3", lambda m: os.remove(os.path.join(m, "config.json")), ["missing config.json"]),
    Case("config_not_json", "v3", write_file("config.json", b'{"architectures": ["DeepseekV3ForCausalLM"],\n  oops'),
         ["config.json", "not valid JSON"]),
    Case("config_not_object", "q2", write_file("config.json", b"[1, 2, 3]\n"), ["config.json", "JSON object"]),
    Case("config_empty_file", "q2", write_file("config.json", b""), ["config.json", "not valid JSON"]),
    Case("config_unknown_architecture", "v3", set_config(architectures=["DeepseekV9ForCausalLM"]),
         ["config.json", "architectures", "DeepseekV9ForCausalLM", "DeepseekV3ForCausalLM"]),
    Case("config_architectures_missing", "q2", set_config(architectures=DELETE),
         ["config.json", "architectures", "expected a list"]),
    Case("config_hidden_size_string", "v3", set_config(hidden_size="abc"),
         ["config.json", "hidden_size", "expected an integer"]),
    Case("config_hidden_size_negative", "q2", set_config(hidden_size=-128),
         ["config.json", "hidden_size", "expected an integer >= 1", "-128"]),
    Case("config_hidden_size_float", "q2", set_config(hidden_size=128.5),
         ["config.json", "hidden_size", "expected an integer"]),
    Case("config_hidden_size_huge", "q2", set_config(hidden_size=10 ** 30),
         ["config.json", "hidden_size", "expected an integer"]),
    Case("config_vocab_size_missing", "v3", set_config(vocab_size=DELETE), ["config.json", "vocab_size", "missing"]),
    Case("config_kv_lora_rank_missing", "v3", set_config(kv_lora_rank=DELETE), ["config.json", "kv_lora_rank", "missing"]),
    Case("config_rms_norm_eps_string", "q2", set_config(rms_norm_eps="small"),
         ["config.json", "rms_norm_eps", "expected a number"]),
    Case("config_tie_word_embeddings_string", "q2", set_config(tie_word_embeddings="yes"),
         ["config.json", "tie_word_embeddings", "expected true or false"]),
    Case("config_n_group_not_dividing", "v3", set_config(n_group=3),
         ["config.json", "n_group", "does not divide n_routed_experts 16"]),
    Case("config_topk_group_too_large", "v3", set_config(topk_group=5), ["config.json", "topk_group", "exceeds n_group"]),
    Case("config_experts_per_tok_too_many", "v3", set_config(num_experts_per_tok=17),
         ["config.json", "num_experts_per_tok", "exceeds n_routed_experts"]),
    Case("config_kv_heads_not_dividing", "q2", set_config(num_key_value_heads=3),
         ["config.json", "num_key_value_heads", "does not divide num_attention_heads 4"]),
    Case("config_heads_not_dividing_hidden", "q2", set_config(num_attention_heads=3, num_key_value_heads=1),
         ["config.json", "num_attention_heads", "does not divide hidden_size 128"]),
    Case("config_unknown_topk_method", "v3", set_config(topk_method="random"),
         ["config.json", "topk_method", "noaux_tc"]),
    Case("config_rope_scaling_unknown", "v3", set_config(rope_scaling={"type": "dynamic", "factor": 2.0}),
         ["config.json", "rope_scaling.type", "yarn"]),
    Case("config_rope_scaling_huge_original", "v3",
         set_config(rope_scaling={"type": "yarn", "factor": 40, "original_max_position_embeddings": 1e300}),
         ["config.json", "rope_scaling.original_max_position_embeddings", "expected"]),
    Case("config_quantization_unknown", "v3", set_config(quantization_config={"quant_method": "gptq"}),
         ["config.json", "quantization_config.quant_method", "expected fp8"]),
    Case("config_eos_string", "q2", set_config(eos_token_id="</s>"), ["config.json", "eos_token_id", "expected an integer"]),
    Case("config_missing_fp8_quantization", "v3", set_config(quantization_config=DELETE),
         ["F8_E4M3", "quantization_config"]),
    Case("config_layers_more_than_weights", "q2", set_config(num_hidden_layers=4),
         ["model.layers.3.input_layernorm.weight", "missing tensor"]),

    # --- model.safetensors.index.json
    Case("index_not_json", "v3", write_file("model.safetensors.index.json", b'{"weight_map": {'),
         ["model.safetensors.index.json", "not valid JSON"]),
    Case("index_no_weight_map", "v3", write_file("model.safetensors.index.json", b'{"metadata": {}}'),
         ["model.safetensors.index.json", "weight_map"]),
    Case("index_path_escape", "v3",
         lambda m: edit_json(os.path.join(m, "model.safetensors.index.json"),
                             lambda j: j["weight_map"].__setitem__(NORM, "../config.json")),
         ["model.safetensors.index.json", NORM, "../config.json", "file name inside the model directory"]),
    Case("index_missing_weight_file", "v3", lambda m: os.remove(os.path.join(m, S3)),
         [S3, "missing weight file", "model.safetensors.index.json"]),
    Case("index_names_absent_tensor", "v3",
         lambda m: edit_json(os.path.join(m, "model.safetensors.index.json"),
                             lambda j: j["weight_map"].__setitem__("model.layers.0.extra.weight", S2)),
         [S2, "model.layers.0.extra.weight", "does not contain it"]),
    Case("index_wrong_file_for_tensor", "v3",
         lambda m: edit_json(os.path.join(m, "model.safetensors.index.json"),
                             lambda j: j["weight_map"].__setitem__(NORM, S1)),
         [S1, NORM, "does not contain it"]),
    Case("tensor_in_two_files", "v3", dup_tensor_into(S3, S4, NORM), [S4, NORM, S3, "also appears"]),

    # --- safetensors files: truncation and lying headers
    Case("st_empty_file", "q2", write_file(Q, b""), [Q, "truncated", "8-byte header length"]),
    Case("st_truncated_in_length", "v3", truncate(S2, lambda size, n: 5), [S2, "truncated", "8-byte header length"]),
    Case("st_truncated_in_header", "v3", truncate(S2, lambda size, n: 8 + n // 2), [S2, "header length", "exceeds the file size"]),
    Case("st_truncated_in_data", "v3", truncate(S5, lambda size, n: size - 1000),
         [S5, "data_offsets end", "past the end of the data", "truncated"]),
    Case("st_truncated_in_data_q2", "q2", truncate(Q, lambda size, n: size - 1),
         [Q, "model.norm.weight", "past the end of the data"]),
    Case("st_header_len_beyond_file", "q2", set_header_len(Q, lambda size: size), [Q, "header length", "exceeds the file size"]),
    Case("st_header_len_huge", "v3", set_header_len(S1, lambda size: 2 ** 64 - 1), [S1, "header length", "byte limit"]),
    Case("st_header_not_json", "v3", garble_header(S2), [S2, "header is not valid JSON"]),
    Case("st_header_not_object", "q2", lambda m: write_st(os.path.join(m, Q), [1, 2], b""), [Q, "header must be a JSON object"]),
    Case("st_offsets_past_end", "v3", lambda m: edit_tensor(m, FP8_S, lambda e: e.__setitem__("data_offsets", [10 ** 9, 10 ** 9 + 8])),
         [S2, FP8_S, "past the end of the data"]),
    Case("st_offsets_huge", "q2", lambda m: edit_tensor(m, NORM, lambda e: e.__setitem__("data_offsets", [2 ** 64 - 256, 2 ** 64 - 1])),
         [Q, NORM, "data_offsets"]),
    Case("st_offsets_reversed", "q2", lambda m: edit_tensor(m, NORM, lambda e: e.__setitem__("data_offsets", e["data_offsets"][::-1])),
         [Q, NORM, "reversed"]),
    Case("st_offsets_negative", "q2", lambda m: edit_tensor(m, NORM, lambda e: e.__setitem__("data_offsets", [-256, 0])),
         [Q, NORM, "data_offsets", "non-negative integers"]),
    Case("st_offsets_not_a_pair", "q2", lambda m: edit_tensor(m, NORM, lambda e: e.__setitem__("data_offsets", [0])),
         [Q, NORM, "data_offsets", "two non-negative integers"]),
    Case("st_overlap", "q2", overlap(Q_K, "model.layers.0.self_attn.v_proj.weight"),
         [Q, Q_K, "model.layers.0.self_attn.v_proj.weight", "overlap"]),
    Case("st_size_not_dtype_times_shape", "v3", lambda m: edit_tensor(m, FP8_W, lambda e: e.__setitem__("shape", [96, 191])),
         [S2, FP8_W, "F8_E4M3 [96, 191] needs 18336 bytes", "span 18432"]),
    Case("st_dtype_size_mismatch", "q2", lambda m: edit_tensor(m, NORM, lambda e: e.__setitem__("dtype", "F32")),
         [Q, NORM, "F32 [128] needs 512 bytes", "span 256"]),
    Case("st_unknown_dtype", "v3", lambda m: edit_tensor(m, FP8_W, lambda e: e.__setitem__("dtype", "F8_E5M2")),
         [S2, FP8_W, "unsupported dtype 'F8_E5M2'", "expected F32"]),
    Case("st_dtype_with_newline", "q2", lambda m: edit_tensor(m, NORM, lambda e: e.__setitem__("dtype", "F32\nX")),
         [Q, NORM, "unsupported dtype 'F32\\x0aX'"]),
    Case("st_dtype_not_string", "q2", lambda m: edit_tensor(m, NORM, lambda e: e.__setitem__("dtype", 7)),
         [Q, NORM, "dtype"]),
    Case("st_shape_negative", "q2", lambda m: edit_tensor(m, NORM, lambda e: e.__setitem__("shape", [-128])),
         [Q, NORM, "shape", "non-negative integers"]),
    Case("st_shape_huge", "q2", lambda m: edit_tensor(m, NORM, lambda e: e.__setitem__("shape", [2 ** 40, 2 ** 40, 2 ** 40])),
         [Q, NORM, "shape is too large"]),
    Case("st_shape_overflow", "q2", lambda m: edit_tensor(m, NORM, lambda e: e.__setitem__("shape", [2 ** 32, 2 ** 32, 0])),
         [Q, NORM, "shape is too large"]),
    Case("st_entry_not_object", "q2", lambda m: edit_header(os.path.join(m, Q), lambda h: h.__setitem__(NORM, [1])),
         [Q, NORM, "not a JSON object"]),
    Case("st_metadata_not_strings", "q2", lambda m: edit_header(os.path.join(m, Q), lambda h: h.__setitem__("__metadata__", {"format": 1})),
         [Q, "__metadata__", "format", "must be a string"]),
    Case("st_unaligned_data", "q2", unaligned(Q), [Q, "model.embed_tokens.weight", "aligned"]),

    # --- tensors that parse but do not fit the model
    Case("tensor_wrong_shape", "q2", lambda m: edit_tensor(m, Q_K, lambda e: e.__setitem__("shape", [128, 64])),
         [Q, Q_K, "shape [128, 64], expected [64, 128]"]),
    Case("tensor_wrong_shape_vector", "q2", lambda m: edit_tensor(m, Q_KB, lambda e: e.__setitem__("shape", [2, 32])),
         [Q, Q_KB, "shape [2, 32], expected [64]"]),
    Case("tensor_wrong_shape_fp8", "v3", lambda m: edit_tensor(m, FP8_W, lambda e: e.__setitem__("shape", [192, 96])),
         [S2, FP8_W, "shape [192, 96], expected [96, 192]"]),
    Case("tensor_missing", "q2", lambda m: remove_tensor(m, Q_K), [Q_K, "missing tensor", "expected"]),
    Case("tensor_missing_sharded", "v3", lambda m: remove_tensor(m, NORM), [NORM, "missing tensor", "expected"]),
    Case("tensor_wrong_dtype_for_matrix", "q2",
         lambda m: edit_tensor(m, Q_K, lambda e: e.update(dtype="I32", shape=[64, 64])),
         [Q, Q_K, "shape [64, 64], expected [64, 128]"]),
    Case("fp8_missing_scale", "v3", lambda m: remove_tensor(m, FP8_S), [S2, FP8_W, FP8_S, "missing"]),
    Case("fp8_scale_wrong_shape", "v3", lambda m: edit_tensor(m, FP8_S, lambda e: e.__setitem__("shape", [2, 1])),
         [S2, FP8_S, "expected F32 [1, 2]"]),
    Case("fp8_scale_wrong_dtype", "v3", lambda m: edit_tensor(m, FP8_S, lambda e: e.update(dtype="BF16", shape=[1, 4])),
         [S2, FP8_S, "expected F32 [1, 2]"]),
    Case("fp8_scale_nan", "v3", lambda m: poke_tensor(m, FP8_S, 4, struct.pack("<f", float("nan"))),
         [S2, FP8_S, "not finite"]),
    Case("nan_in_matrix_weight", "q2",
         lambda m: poke_tensor(m, "model.layers.0.mlp.down_proj.weight", 0, b"\xc0\x7f" * 64),
         ["model", "expected finite", "NaN"],
         cmds=(["logits", "--tokens", "1,2"], ["logits", "--tokens", "1,2", "--incremental"],
               ["run", "--tokens", "1,2", "-n", "2", "--temp", "1"], ["run", "--tokens", "1,2", "-n", "2", "--temp", "0"])),
    Case("nan_in_fp8_weight", "v3", lambda m: fill_tensor(m, "model.layers.0.mlp.down_proj.weight", b"\x7f"),
         ["model", "expected finite"], cmds=(["logits", "--tokens", "1,2,3,4,5,6,7,8"], ["run", "--tokens", "1,2", "-n", "4"])),
    Case("nan_in_norm_weight", "q2", lambda m: poke_tensor(m, NORM, 6, b"\xc0\x7f"), [Q, NORM, "element 3", "not finite"]),
    Case("inf_in_norm_weight_sharded", "v3", lambda m: poke_tensor(m, NORM, 0, b"\x80\x7f"), [S3, NORM, "element 0", "not finite"]),

    # --- command line
    Case("cli_token_out_of_range", "q2", lambda m: None, ["token id 512", "vocab size 512"],
         cmds=(["logits", "--tokens", "1,512"], ["logits", "--tokens", "1,2,512", "--incremental"],
               ["run", "--tokens", "7,512", "-n", "1"])),
    Case("cli_token_not_a_number", "q2", lambda m: None, ["--tokens", "'x'"],
         cmds=(["logits", "--tokens", "1,x"], ["run", "--tokens", "1,x"])),
    Case("cli_token_negative", "q2", lambda m: None, ["--tokens", "'-3'"], cmds=(["logits", "--tokens", "-3"],)),
    Case("cli_prompt_longer_than_context", "q2", lambda m: None, ["5 tokens", "context length is 4"],
         cmds=(["run", "--tokens", "1,2,3,4,5", "--ctx", "4"],)),
    Case("cli_prompt_longer_than_max_position", "v3", set_config(max_position_embeddings=2),
         ["3 tokens", "context", "2"],
         cmds=(["run", "--tokens", "1,2,3", "--ctx", "4"], ["logits", "--tokens", "1,2,3"])),
    Case("cli_temp_negative", "q2", lambda m: None, ["temperature", ">= 0", "-1"],
         cmds=(["run", "--tokens", "1", "--temp", "-1"],)),
    Case("cli_top_p_too_large", "q2", lambda m: None, ["top_p", "(0, 1]", "2"], cmds=(["run", "--tokens", "1", "--top-p", "2"],)),
    Case("cli_min_p_negative", "q2", lambda m: None, ["min_p", "[0, 1]"], cmds=(["run", "--tokens", "1", "--min-p", "-0.5"],)),
    Case("cli_top_k_negative", "q2", lambda m: None, ["top_k", ">= 0"], cmds=(["run", "--tokens", "1", "--top-k", "-2"],)),
    Case("cli_ctx_zero", "q2", lambda m: None, ["--ctx", "0"], cmds=(["run", "--tokens", "1", "--ctx", "0"],)),
    Case("cli_temp_not_a_number", "q2", lambda m: None, ["--temp", "abc"], cmds=(["run", "--tokens", "1", "--temp", "abc"],)),
    Case("cli_unknown_option", "q2", lambda m: None, ["--bogus"], cmds=(["info", "--bogus"],)),
    Case("cli_missing_model_argument", "q2", lambda m: None, ["model"], cmds=(["logits", "--tokens", "1"],), target=lambda m: None),
]

CASE_NAMES = [c.name for c in CASES]
assert len(set(CASE_NAMES)) == len(CASE_NAMES)


# ---- running ---------------------------------------------------------------------------------------

def run_r1(r1, args):
    try:
        p = subprocess.run([r1] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, b"", b""
    return p.returncode, p.stdout, p.stderr


def check(r1, case, model):
    """Returns a list of failure descriptions (empty when the case passes)."""
    target = model if case.target is None else case.target(model)
    failures = []
    for cmd in case.cmds:
        args = [cmd[0]] + ([target] if target is not None else []) + cmd[1:]
        shown = "r1 " + " ".join(args)
        rc, out, err = run_r1(r1, args)
        text = err.decode("utf-8", "replace")
        if rc is None:
            failures.append(f"{shown}: no exit within {TIMEOUT_S} s (hang)")
            continue
        problems = []
        if rc < 0:
            problems.append(f"killed by signal {signal.Signals(-rc).name}")
        elif rc != 1:
            problems.append(f"exit status {rc}, expected 1")
        lines = text.split("\n")
        if not (len(lines) == 2 and lines[1] == ""):
            problems.append(f"stderr has {text.count(chr(10))} line(s), expected exactly one")
        if not text.startswith("r1: error: "):
            problems.append("stderr does not start with 'r1: error: '")
        missing = [s for s in case.expect if s not in text]
        if missing:
            problems.append("stderr lacks " + ", ".join(repr(s) for s in missing))
        if problems:
            failures.append(f"{shown}: " + "; ".join(problems) + "\n    stderr: " + text[:2000].rstrip().replace("\n", "\n    stderr: "))
        else:
            print(f"ok   {shown}\n     {text.rstrip()}")
    return failures


def synth(r1, workdir):
    os.makedirs(workdir, exist_ok=True)
    for name, args in (("v3", ["tiny-v3", "--dtype", "fp8", "--shard-mb", "1"]), ("q2", ["tiny-qwen2"])):
        out = os.path.join(workdir, name)
        tmp = out + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([r1, "synth", args[0], tmp] + args[1:], check=True, stderr=subprocess.DEVNULL, timeout=600)
        shutil.rmtree(out, ignore_errors=True)
        os.rename(tmp, out)
    shards = sorted(f for f in os.listdir(os.path.join(workdir, "v3")) if f.endswith(".safetensors"))
    if shards != V3_SHARDS:
        sys.exit(f"tiny-v3 --shard-mb 1 wrote {shards}, the cases expect {V3_SHARDS}")
    # The mutations depend on where the synthesizer put these tensors.
    for model, tensor, shard in (("v3", FP8_W, S2), ("v3", FP8_S, S2), ("v3", NORM, S3), ("q2", NORM, Q)):
        got = shard_of(os.path.join(workdir, model), tensor)
        if got != shard:
            sys.exit(f"{model}: tensor {tensor} is in {got}, the cases expect {shard}")
    for model in ("v3", "q2"):  # the bases themselves must load
        rc, _, err = run_r1(r1, ["info", os.path.join(workdir, model)])
        if rc != 0:
            sys.exit(f"r1 info {model} (the unmodified base) failed: {err.decode(errors='replace')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--r1")
    ap.add_argument("--workdir")
    ap.add_argument("--setup", action="store_true", help="synthesize the base models and exit")
    ap.add_argument("--list", action="store_true", help="print the case names and exit")
    ap.add_argument("cases", nargs="*", help="case names (default: all)")
    a = ap.parse_args()
    if a.list:
        print("\n".join(CASE_NAMES))
        return 0
    if not a.r1 or not a.workdir:
        ap.error("--r1 and --workdir are required")
    r1 = os.path.abspath(a.r1)
    workdir = os.path.abspath(a.workdir)
    if a.setup:
        synth(r1, workdir)
        return 0
    if not os.path.isdir(os.path.join(workdir, "q2")):
        synth(r1, workdir)
    unknown = [n for n in a.cases if n not in CASE_NAMES]
    if unknown:
        ap.error(f"unknown case(s): {', '.join(unknown)}")
    selected = [c for c in CASES if not a.cases or c.name in a.cases]
    failed = []
    for case in selected:
        with tempfile.TemporaryDirectory(prefix=f"r1-bad-{case.name}-") as tmp:
            model = os.path.join(tmp, "model")
            if case.base == "empty":
                os.makedirs(model)
            else:
                shutil.copytree(os.path.join(workdir, case.base), model)
            case.mutate(model)
            failures = check(r1, case, model)
        if failures:
            failed.append(case.name)
            print(f"FAIL {case.name}")
            for f in failures:
                print("  " + f)
    print(f"{len(selected) - len(failed)}/{len(selected)} bad-input cases passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
