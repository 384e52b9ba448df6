#!/usr/bin/python3
"""Self-tests of the float64 reference (no engine needed). Run: /usr/bin/python3 tests/reference/test_reference.py

The oracles here are written separately, in torch and in the Hugging Face formulation
(permute-then-rotate_half RoPE, vectorised topk routing), or are hand-computed values.
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import traceback

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep tests/reference free of __pycache__
sys.path.insert(0, HERE)
import hf_weights  # noqa: E402
import model_ref as R  # noqa: E402

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def assert_close(got, want, tol, what):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300)
    assert err <= tol, f"{what}: rel err {err:.3e} > {tol:g}"


# ---------------------------------------------------------------------------- safetensors writer


def enc(a, dtype):
    """-> (safetensors entry, the float64 values a reader must return)."""
    a = np.asarray(a)
    if dtype == "F32":
        raw, true = a.astype("<f4").tobytes(), a.astype(np.float32)
    elif dtype == "F16":
        raw, true = a.astype("<f2").tobytes(), a.astype(np.float16)
    elif dtype == "BF16":
        t = torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
        raw, true = t.view(torch.int16).numpy().astype("<i2").tobytes(), t.to(torch.float64).numpy()
    else:  # F8_E4M3: `a` holds the raw uint8 codes
        raw, true = a.astype(np.uint8).tobytes(), None
    return (dtype, raw, a.shape), (None if true is None else true.astype(np.float64))


def write_safetensors(path, entries, metadata=None):
    header, blobs, off = {}, [], 0
    for name, (dtype, raw, shape) in entries.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_model_dir(d, cfg, entries, shards=1):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), entries, {"format": "pt"})
        return
    names, weight_map = list(entries), {}
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: entries[n] for n in names[s::shards]}
        write_safetensors(os.path.join(d, fname), part, {"format": "pt"})
        weight_map.update({n: fname for n in part})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)


# ---------------------------------------------------------------------------- unit tests


@test
def fp8_table_known_values():
    t = hf_weights.FP8_E4M3
    assert t[0x38] == 1.0 and t[0x7E] == 448.0 and t[0x01] == 2.0 ** -9 and t[0xFE] == -448.0
    assert t[0x80] == 0.0 and math.copysign(1, t[0x80]) == -1.0, "0x80 must be -0.0"
    assert t[0x08] == 2.0 ** -6 and t[0x07] == 7 * 2.0 ** -9 and t[0x40] == 2.0
    assert np.isnan(t[0x7F]) and np.isnan(t[0xFF]) and np.isnan(t).sum() == 2
    assert np.all(np.diff(t[:0x7F]) > 0), "positive codes must be strictly increasing"
    assert np.array_equal(t[0x80:0xFF], -t[:0x7F])


@test
def loader_dtypes_sharding_fp8_edge_blocks():
    rng = np.random.default_rng(0)
    a32, a16, abf = rng.normal(size=(3, 4)), rng.normal(size=(5,)), rng.normal(size=(2, 3))
    codes = rng.integers(0, 256, size=(5, 7))
    codes[(codes & 0x7F) == 0x7F] = 0x38
    scale = rng.uniform(0.5, 2.0, size=(3, 2))  # ceil(5/2) x ceil(7/4) with block [2, 4]
    entries, truth = {}, {}
    for name, arr, dt in [("a.weight", a32, "F32"), ("b.weight", a16, "F16"), ("c.weight", abf, "BF16"),
                          ("q.weight", codes, "F8_E4M3"), ("q.weight_scale_inv", scale, "F32")]:
        entries[name], truth[name] = enc(arr, dt)
    want_q = np.empty((5, 7))
    for r in range(5):
        for c in range(7):
            want_q[r, c] = hf_weights.FP8_E4M3[codes[r, c]] * np.float32(scale[r // 2, c // 4])
    with tempfile.TemporaryDirectory() as d:
        cfg = {"quantization_config": {"quant_method": "fp8", "weight_block_size": [2, 4]}}
        for shards in (1, 2):
            sub = os.path.join(d, str(shards))
            write_model_dir(sub, cfg, entries, shards)
            _, w = hf_weights.load_model_dir(sub)
            assert set(w.keys()) == set(entries)
            for name in ("a.weight", "b.weight", "c.weight"):
                assert np.array_equal(w[name], truth[name]), name
            assert np.array_equal(w["q.weight"], want_q), "FP8 block dequant"


@test
def interleaved_rope_matches_hf_permute_then_rotate_half():
    rng = np.random.default_rng(1)
    x, pos = rng.normal(size=(3, 6, 8)), np.arange(6.0) + 3
    inv_freq = R.yarn_inv_freq(8, 10000.0, {"factor": 40})
    ours = R.rope_interleaved(x, pos, inv_freq, attn_factor=0.9)
    # HF: view(..., d/2, 2).transpose -> [evens, odds], then x*cos + rotate_half(x)*sin
    xt = torch.from_numpy(x).view(3, 6, 4, 2).transpose(-1, -2).reshape(3, 6, 8)
    freqs = torch.outer(torch.from_numpy(pos), torch.from_numpy(inv_freq))
    emb = torch.cat([freqs, freqs], dim=-1)
    rot = torch.cat([-xt[..., 4:], xt[..., :4]], dim=-1)
    hf = xt * emb.cos() * 0.9 + rot * emb.sin() * 0.9
    assert_close(np.concatenate([ours[..., 0::2], ours[..., 1::2]], -1), hf.numpy(), 1e-14, "rope")


@test
def yarn_numbers_from_spec():
    assert R.yarn_correction_range(64, 10000.0, 4096, 32, 1) == (10, 23)
    v3 = {"qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "rope_theta": 10000.0,
          "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
                           "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0}}
    lite = {**v3, "rope_scaling": {**v3["rope_scaling"], "mscale": 0.707, "mscale_all_dim": 0.707}}
    assert abs(R.mla_softmax_scale(v3) - 0.1352338) < 5e-8, R.mla_softmax_scale(v3)
    assert abs(R.mla_softmax_scale(lite) - 0.1147214) < 5e-8, R.mla_softmax_scale(lite)
    inv, af = R.mla_rope_params(v3)
    assert af == 1.0 and R.mla_rope_params(lite)[1] == 1.0
    theta = R.base_inv_freq(64, 10000.0)
    assert_close(inv[:11], theta[:11], 1e-15, "i <= low unchanged")
    assert_close(inv[23:], theta[23:] / 40, 1e-15, "i >= high divided by factor")
    assert np.all((inv[11:23] < theta[11:23]) & (inv[11:23] > theta[11:23] / 40))
    assert R.mla_softmax_scale({**v3, "rope_scaling": None}) == 192 ** -0.5


@test
def llama3_rope_scaling():
    rs = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 8192}
    theta, inv = R.base_inv_freq(128, 500000.0), R.llama3_inv_freq(128, 500000.0, rs)
    wavelen = 2 * np.pi / theta
    hi, lo, mid = wavelen < 2048, wavelen > 8192, (wavelen >= 2048) & (wavelen <= 8192)
    assert hi.any() and lo.any() and mid.any()
    assert_close(inv[hi], theta[hi], 1e-15, "high freq")
    assert_close(inv[lo], theta[lo] / 8, 1e-15, "low freq")
    assert np.all((inv[mid] <= theta[mid]) & (inv[mid] >= theta[mid] / 8)) and np.all(np.diff(inv) < 0)
    # Llama 3.1 8B published value: inv_freq[20] = 500000^(-40/128) = 0.0164..., unchanged (wavelen 383)
    assert inv[20] == theta[20]


def hand_cfg(**kw):
    return {"num_experts_per_tok": 3, "n_group": 4, "topk_group": 2, **kw}


@test
def routing_group_limited_greedy():
    logits = np.array([3.0, 0.0, 2.9, 2.8, 0.0, 0.0, 4.0, -5.0])
    cfg = hand_cfg(topk_method="group_limited_greedy", scoring_func="softmax", routed_scaling_factor=16.0)
    idx, w = R.route(logits, cfg)
    assert list(idx) == [6, 0, 1], idx  # plain top-3 would be [6, 0, 2]: group 1 is masked
    assert list(R.route(logits, {**cfg, "topk_method": "greedy"})[0]) == [6, 0, 2]
    s = np.exp(logits) / np.exp(logits).sum()
    assert_close(w, 16 * s[[6, 0, 1]], 1e-14, "weights = softmax scores x 16, not renormalised")


@test
def routing_noaux_tc():
    s = np.array([0.9, 0.1, 0.6, 0.55, 0.45, 0.45, 0.2, 0.15])
    bias = np.array([0, 0, 0, 0, 0, 0, 0.5, 0])
    cfg = hand_cfg(num_experts_per_tok=2, topk_method="noaux_tc", scoring_func="sigmoid",
                   norm_topk_prob=True, routed_scaling_factor=2.5)
    logits = np.log(s / (1 - s))
    # biased group top-2 sums: 1.0, 1.15, 0.9, 0.85 -> groups 1, 0; max-per-group would keep 0, 3
    idx, w = R.route(logits, cfg, bias)
    assert list(idx) == [0, 2], idx
    assert_close(w, [1.5, 1.0], 1e-12, "unbiased sigmoid weights renormalised x 2.5")
    idx, w = R.route(logits, {**cfg, "topk_group": 4}, bias)  # no masking: bias picks expert 6
    assert list(idx) == [0, 6], idx
    assert_close(w, 2.5 * np.array([0.9, 0.2]) / 1.1, 1e-12, "weights use unbiased score of 6")


# ---------------------------------------------------------------------------- tiny models vs torch

V3 = dict(architectures=["DeepseekV3ForCausalLM"], vocab_size=50, hidden_size=32, intermediate_size=48,
          moe_intermediate_size=16, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
          q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=6,
          n_routed_experts=8, n_shared_experts=1, num_experts_per_tok=3, first_k_dense_replace=1,
          moe_layer_freq=1, n_group=4, topk_group=2, topk_method="noaux_tc", scoring_func="sigmoid",
          norm_topk_prob=True, routed_scaling_factor=2.5, rope_theta=10000.0, rms_norm_eps=1e-6,
          rope_scaling={"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
                        "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
          tie_word_embeddings=False, num_nextn_predict_layers=1)
V2 = {**V3, "architectures": ["DeepseekV2ForCausalLM"], "topk_method": "group_limited_greedy",
      "scoring_func": "softmax", "norm_topk_prob": False, "routed_scaling_factor": 16.0, "n_shared_experts": 2,
      "num_nextn_predict_layers": 0, "rope_scaling": {**V3["rope_scaling"], "mscale": 1.0, "mscale_all_dim": 0.707}}
V2LITE = {**V2, "q_lora_rank": None, "topk_method": "greedy", "n_group": 1, "topk_group": 1,
          "routed_scaling_factor": 1.0, "rope_scaling": None, "first_k_dense_replace": 0}
QWEN2 = dict(architectures=["Qwen2ForCausalLM"], vocab_size=40, hidden_size=32, intermediate_size=40,
             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, rope_theta=1e6,
             rms_norm_eps=1e-6, tie_word_embeddings=True)
QWEN3 = {**QWEN2, "architectures": ["Qwen3ForCausalLM"], "head_dim": 12, "attention_bias": False,
         "tie_word_embeddings": False}
LLAMA = {**QWEN2, "architectures": ["LlamaForCausalLM"], "tie_word_embeddings": False, "rope_theta": 500000.0,
         "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8}}


def deepseek_shapes(c):
    d, H, E = c["hidden_size"], c["num_attention_heads"], c["n_routed_experts"]
    qk, dc, dr = c["qk_nope_head_dim"] + c["qk_rope_head_dim"], c["kv_lora_rank"], c["qk_rope_head_dim"]
    s = {"model.embed_tokens.weight": (c["vocab_size"], d), "model.norm.weight": (d,),
         "lm_head.weight": (c["vocab_size"], d)}
    for i in range(c["num_hidden_layers"] + c.get("num_nextn_predict_layers", 0)):
        p, a = f"model.layers.{i}.", f"model.layers.{i}.self_attn."
        s.update({p + "input_layernorm.weight": (d,), p + "post_attention_layernorm.weight": (d,),
                  a + "kv_a_proj_with_mqa.weight": (dc + dr, d), a + "kv_a_layernorm.weight": (dc,),
                  a + "kv_b_proj.weight": (H * (c["qk_nope_head_dim"] + c["v_head_dim"]), dc),
                  a + "o_proj.weight": (d, H * c["v_head_dim"])})
        if c["q_lora_rank"]:
            ql = c["q_lora_rank"]
            s.update({a + "q_a_proj.weight": (ql, d), a + "q_a_layernorm.weight": (ql,),
                      a + "q_b_proj.weight": (H * qk, ql)})
        else:
            s[a + "q_proj.weight"] = (H * qk, d)
        if i >= c["first_k_dense_replace"]:
            mi = c["moe_intermediate_size"]
            s[p + "mlp.gate.weight"] = (E, d)
            if c["topk_method"] == "noaux_tc":
                s[p + "mlp.gate.e_score_correction_bias"] = (E,)
            experts = [(f"experts.{e}.", mi) for e in range(E)] + [("shared_experts.", mi * c["n_shared_experts"])]
        else:
            experts = [("", c["intermediate_size"])]
        for e, width in experts:
            s.update({f"{p}mlp.{e}gate_proj.weight": (width, d), f"{p}mlp.{e}up_proj.weight": (width, d),
                      f"{p}mlp.{e}down_proj.weight": (d, width)})
        if i >= c["num_hidden_layers"]:  # MTP extras: must be ignored
            s[p + "eh_proj.weight"] = (d, 2 * d)
    return s


def gqa_shapes(c):
    d, H, kv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd, arch = c.get("head_dim") or d // H, c["architectures"][0]
    s = {"model.embed_tokens.weight": (c["vocab_size"], d), "model.norm.weight": (d,)}
    if not c["tie_word_embeddings"]:
        s["lm_head.weight"] = (c["vocab_size"], d)
    for i in range(c["num_hidden_layers"]):
        p, a = f"model.layers.{i}.", f"model.layers.{i}.self_attn."
        s.update({p + "input_layernorm.weight": (d,), p + "post_attention_layernorm.weight": (d,),
                  a + "q_proj.weight": (H * hd, d), a + "k_proj.weight": (kv * hd, d),
                  a + "v_proj.weight": (kv * hd, d), a + "o_proj.weight": (d, H * hd),
                  p + "mlp.gate_proj.weight": (c["intermediate_size"], d),
                  p + "mlp.up_proj.weight": (c["intermediate_size"], d),
                  p + "mlp.down_proj.weight": (d, c["intermediate_size"])})
        if arch == "Qwen2ForCausalLM":
            s.update({a + "q_proj.bias": (H * hd,), a + "k_proj.bias": (kv * hd,), a + "v_proj.bias": (kv * hd,)})
        if arch == "Qwen3ForCausalLM":
            s.update({a + "q_norm.weight": (hd,), a + "k_norm.weight": (hd,)})
    return s


def make_model(d, cfg, dtype, shards, seed):
    """Random weights written as `dtype`; returns torch tensors of the exactly-stored values."""
    rng = np.random.default_rng(seed)
    shapes = deepseek_shapes(cfg) if "Deepseek" in cfg["architectures"][0] else gqa_shapes(cfg)
    entries, truth = {}, {}
    for name, shape in shapes.items():
        if len(shape) == 1:
            a = (0.1 if name.endswith("bias") else 1.0) + 0.1 * rng.normal(size=shape)
        else:
            a = rng.normal(size=shape) / (1 if "embed" in name else math.sqrt(shape[1]))
        entries[name], true = enc(a, dtype)
        truth[name] = torch.from_numpy(true)
    write_model_dir(d, cfg, entries, shards)
    return truth


def t_rms(x, w, eps):
    return w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def t_mlp(T, x, p):
    return F.linear(F.silu(F.linear(x, T[p + "gate_proj.weight"])) * F.linear(x, T[p + "up_proj.weight"]),
                    T[p + "down_proj.weight"])


def t_rotate(x, cos, sin):  # HF apply_rotary_pos_emb on [.., T, d] already in half-split layout
    h = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin


def t_yarn(c):
    """HF DeepseekV3YarnRotaryEmbedding + softmax scale, in torch: (inv_freq, cos/sin factor, scale)."""
    dim, base, rs = c["qk_rope_head_dim"], c["rope_theta"], c["rope_scaling"]
    freq = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    scale = (c["qk_nope_head_dim"] + dim) ** -0.5
    if not rs:
        return freq, 1.0, scale
    f = rs["factor"]
    low, high = R.yarn_correction_range(dim, base, rs["original_max_position_embeddings"],
                                        rs["beta_fast"], rs["beta_slow"])
    keep = 1 - ((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
    gm = lambda m: 0.1 * m * math.log(f) + 1  # noqa: E731
    return freq / f * (1 - keep) + freq * keep, gm(rs["mscale"]) / gm(rs["mscale_all_dim"]), \
        scale * gm(rs["mscale_all_dim"]) ** 2


def t_moe(c, T, x, p):
    n, E, k = x.shape[0], c["n_routed_experts"], c["num_experts_per_tok"]
    logits = F.linear(x, T[p + "gate.weight"])
    s = logits.sigmoid() if c["scoring_func"] == "sigmoid" else logits.softmax(-1)
    choice = s + T[p + "gate.e_score_correction_bias"] if c["topk_method"] == "noaux_tc" else s.clone()
    if c["topk_method"] != "greedy":
        g = choice.view(n, c["n_group"], -1)
        gs = g.topk(2, -1)[0].sum(-1) if c["topk_method"] == "noaux_tc" else g.max(-1)[0]
        gmask = torch.zeros_like(gs).scatter_(1, gs.topk(c["topk_group"], -1)[1], 1)
        choice = choice.masked_fill(gmask.repeat_interleave(E // c["n_group"], 1) == 0, float("-inf"))
    idx = choice.topk(k, -1)[1]
    w = s.gather(1, idx)
    if c["norm_topk_prob"]:
        w = w / (w.sum(-1, keepdim=True) + 1e-20)
    w = w * c["routed_scaling_factor"]
    y = t_mlp(T, x, p + "shared_experts.")
    for t in range(n):
        for j in range(k):
            y[t] += w[t, j] * t_mlp(T, x[t], f"{p}experts.{int(idx[t, j])}.")
    return y


def torch_forward(c, T, tokens):
    """Second, separate implementation in torch (HF formulations)."""
    arch, n, eps = c["architectures"][0], len(tokens), c["rms_norm_eps"]
    H = c["num_attention_heads"]
    pos = torch.arange(n, dtype=torch.float64)
    mask = torch.full((n, n), float("-inf"), dtype=torch.float64).triu(1)
    h = T["model.embed_tokens.weight"][torch.tensor(tokens)]
    for i in range(c["num_hidden_layers"]):
        p, a = f"model.layers.{i}.", f"model.layers.{i}.self_attn."
        x = t_rms(h, T[p + "input_layernorm.weight"], eps)
        if "Deepseek" in arch:
            dn, dr, dv, dc = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
            inv, af, scale = t_yarn(c)
            emb = torch.cat([torch.outer(pos, inv)] * 2, -1)
            cos, sin = emb.cos() * af, emb.sin() * af
            perm = lambda t: t.reshape(*t.shape[:-1], dr // 2, 2).transpose(-1, -2).reshape(t.shape)  # noqa
            if c["q_lora_rank"]:
                q = F.linear(t_rms(F.linear(x, T[a + "q_a_proj.weight"]), T[a + "q_a_layernorm.weight"], eps),
                             T[a + "q_b_proj.weight"])
            else:
                q = F.linear(x, T[a + "q_proj.weight"])
            q = q.view(n, H, dn + dr).transpose(0, 1)
            ckv, kpe = F.linear(x, T[a + "kv_a_proj_with_mqa.weight"]).split([dc, dr], -1)
            kv = F.linear(t_rms(ckv, T[a + "kv_a_layernorm.weight"], eps), T[a + "kv_b_proj.weight"])
            k_nope, v = kv.view(n, H, dn + dv).transpose(0, 1).split([dn, dv], -1)
            qs = torch.cat([q[..., :dn], t_rotate(perm(q[..., dn:]), cos, sin)], -1)
            ks = torch.cat([k_nope, t_rotate(perm(kpe), cos, sin).expand(H, n, dr)], -1)
            att = F.softmax(qs @ ks.transpose(1, 2) * scale + mask, -1)
            o = (att @ v).transpose(0, 1).reshape(n, -1)
        else:
            kv, hd = c["num_key_value_heads"], c.get("head_dim") or c["hidden_size"] // H
            inv = 1.0 / c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
            if c.get("rope_scaling"):
                inv = torch.from_numpy(R.llama3_inv_freq(hd, c["rope_theta"], c["rope_scaling"]))
            emb = torch.cat([torch.outer(pos, inv)] * 2, -1)
            q, k, v = (F.linear(x, T[a + nm + "_proj.weight"], T.get(a + nm + "_proj.bias")).view(n, -1, hd)
                       .transpose(0, 1) for nm in "qkv")
            if arch == "Qwen3ForCausalLM":
                q, k = t_rms(q, T[a + "q_norm.weight"], eps), t_rms(k, T[a + "k_norm.weight"], eps)
            q, k = t_rotate(q, emb.cos(), emb.sin()), t_rotate(k, emb.cos(), emb.sin())
            k, v = k.repeat_interleave(H // kv, 0), v.repeat_interleave(H // kv, 0)
            att = F.softmax(q @ k.transpose(1, 2) * hd ** -0.5 + mask, -1)
            o = (att @ v).transpose(0, 1).reshape(n, -1)
        h = h + F.linear(o, T[a + "o_proj.weight"])
        x = t_rms(h, T[p + "post_attention_layernorm.weight"], eps)
        moe = "Deepseek" in arch and i >= c["first_k_dense_replace"]
        h = h + (t_moe(c, T, x, p + "mlp.") if moe else t_mlp(T, x, p + "mlp."))
    head = T["model.embed_tokens.weight"] if c["tie_word_embeddings"] else T["lm_head.weight"]
    return F.linear(t_rms(h, T["model.norm.weight"], eps), head).numpy()


def model_test(name, cfg, dtype, shards):
    def run():
        tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]
        with tempfile.TemporaryDirectory() as d:
            truth = make_model(d, cfg, dtype, shards, seed=len(TESTS))
            model = R.Model(d)
            ours = model.logits(tokens)
            assert_close(ours, torch_forward(model.cfg, truth, tokens), 1e-12, name)
            assert_close(model.logits(tokens[:5]), ours[:5], 1e-12, "causality (prefix logits)")
    run.__name__ = f"model_vs_torch_{name}"
    test(run)


model_test("deepseek_v3_bf16_sharded", V3, "BF16", 2)
model_test("deepseek_v2_group_limited", V2, "F32", 1)
model_test("deepseek_v2lite_no_qlora", V2LITE, "F32", 1)
model_test("qwen2_bias_tied", QWEN2, "F32", 1)
model_test("qwen3_qk_norm", QWEN3, "BF16", 2)
model_test("llama3_rope_scaling", LLAMA, "F32", 1)


@test
def cli_logits_and_greedy():
    with tempfile.TemporaryDirectory() as d:
        make_model(d, QWEN3, "F32", 1, seed=11)
        ref = [sys.executable, os.path.join(HERE, "ref.py")]
        out = json.loads(subprocess.check_output(ref + ["logits", d, "--tokens", "0,17,39"]))
        assert out["tokens"] == [0, 17, 39] and np.array(out["logits"]).shape == (3, 40)
        assert_close(out["logits"], R.Model(d).logits([0, 17, 39]), 0, "JSON round trip is exact")
        gen = json.loads(subprocess.check_output(ref + ["greedy", d, "--tokens", "0,17,39", "-n", "4"]))["tokens"]
        seq = [0, 17, 39]
        for g in gen:
            assert g == int(np.argmax(R.Model(d).logits(seq)[-1]))
            seq.append(g)
        assert len(gen) == 4


@test
def unknown_architecture_is_rejected():
    with tempfile.TemporaryDirectory() as d:
        write_model_dir(d, {"architectures": ["MixtralForCausalLM"]}, {})
        try:
            R.Model(d)
        except NotImplementedError as e:
            assert "MixtralForCausalLM" in str(e)
        else:
            raise AssertionError("no error for unknown architecture")


def main():
    passed = failed = 0
    for fn in TESTS:
        try:
            fn()
            passed += 1
            print(f"PASS {fn.__name__}")
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}\n{traceback.format_exc()}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
