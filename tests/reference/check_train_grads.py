#!/usr/bin/python3
"""The trainer's loss and gradients against PyTorch autograd, and its model against the inference engine.

For each tiny DeepSeek-architecture config below, r1_train_tool writes seeded initial weights (F32
safetensors, with a random router selection bias written in here); then
  * an independent float64 PyTorch implementation of the same model, written from the math (MLA in
    its naive form, interleaved RoPE, sigmoid router with selection bias and renormalised weights,
    shared experts, V3's sequence-wise balance loss, the MTP module with shared embedding and head),
    computes the loss and, by autograd, the gradient of every parameter;
  * the trainer's float64 build must give the same losses (rel 1e-10) and gradients (max |diff| over
    max |grad| per tensor <= 1e-8); its float32 build must agree within float32 error (1e-3);
  * `r1 logits` (the inference engine, absorbed MLA, on the same files) must give the same logits as
    the trainer (rel 1e-4): the trainer trains the model the engine runs.

  check_train_grads.py --tool BUILD/tests/r1_train_tool --r1 BUILD/src/r1 --workdir DIR
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

BASE = {
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "vocab_size": 61,
    "hidden_size": 32, "intermediate_size": 48, "moe_intermediate_size": 16, "num_attention_heads": 2,
    "num_key_value_heads": 2, "kv_lora_rank": 16, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4,
    "v_head_dim": 6, "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
    "bos_token_id": 0, "eos_token_id": 1, "torch_dtype": "float32",
}
CONFIGS = {
    # V3 shape: q-LoRA, a dense layer then MoE (sigmoid router, bias, shared expert), MTP, untied head.
    "v3-moe-mtp": dict(BASE, num_hidden_layers=2, q_lora_rank=24, n_routed_experts=4, num_experts_per_tok=2,
                       n_shared_experts=1, first_k_dense_replace=1, moe_layer_freq=1, n_group=1, topk_group=1,
                       topk_method="noaux_tc", scoring_func="sigmoid", norm_topk_prob=True,
                       routed_scaling_factor=2.5, num_nextn_predict_layers=1, tie_word_embeddings=False),
    # Direct q projection, dense only, tied embeddings, no MTP.
    "dense-tied": dict(BASE, num_hidden_layers=2, q_lora_rank=None, n_routed_experts=None,
                       num_nextn_predict_layers=0, tie_word_embeddings=True),
}
LAMBDA, ALPHA = 0.3, 0.01


def run(cmd):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    if res.returncode != 0:
        print(f"FAIL: {' '.join(cmd)} exited {res.returncode}\n{res.stderr[-2000:]}")
        sys.exit(1)
    return res.stdout


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", (name, e["dtype"])
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"]).astype(np.float64)
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---- the model, from the math ------------------------------------------------------------------------
def rms(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope(x, inv_freq):
    """Interleaved RoPE over the last dim: pairs (2i, 2i+1) of position t rotate by t * inv_freq[i]."""
    T = x.shape[0]
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)
    while cos.dim() < x.dim():
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


def block(cfg, W, p, x, moe, balance):
    T, d = x.shape
    H, dn, dr, dv = cfg["num_attention_heads"], cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    dc, eps = cfg["kv_lora_rank"], cfg["rms_norm_eps"]
    inv_freq = cfg["rope_theta"] ** (-torch.arange(0, dr, 2, dtype=torch.float64) / dr)
    a = p + "self_attn."
    xn = rms(x, W[p + "input_layernorm.weight"], eps)
    if cfg.get("q_lora_rank"):
        q = rms(xn @ W[a + "q_a_proj.weight"].T, W[a + "q_a_layernorm.weight"], eps) @ W[a + "q_b_proj.weight"].T
    else:
        q = xn @ W[a + "q_proj.weight"].T
    q = q.view(T, H, dn + dr)
    q = torch.cat((q[..., :dn], rope(q[..., dn:], inv_freq)), dim=-1)
    kva = xn @ W[a + "kv_a_proj_with_mqa.weight"].T
    kv = (rms(kva[:, :dc], W[a + "kv_a_layernorm.weight"], eps) @ W[a + "kv_b_proj.weight"].T).view(T, H, dn + dv)
    k_rope = rope(kva[:, dc:], inv_freq)
    k = torch.cat((kv[..., :dn], k_rope[:, None, :].expand(T, H, dr)), dim=-1)
    v = kv[..., dn:]
    scores = torch.einsum("thd,shd->hts", q, k) / (dn + dr) ** 0.5
    scores = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    att = torch.einsum("hts,shd->thd", torch.softmax(scores, dim=-1), v).reshape(T, H * dv)
    x = x + att @ W[a + "o_proj.weight"].T

    xn = rms(x, W[p + "post_attention_layernorm.weight"], eps)
    swiglu = lambda z, q_: (torch.nn.functional.silu(z @ W[q_ + "gate_proj.weight"].T) * (z @ W[q_ + "up_proj.weight"].T)) @ W[q_ + "down_proj.weight"].T
    if not moe:
        return x + swiglu(xn, p + "mlp.")
    E, K = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
    s = torch.sigmoid(xn @ W[p + "mlp.gate.weight"].T)
    sel = torch.topk(s.detach() + W[p + "mlp.gate.e_score_correction_bias"].detach(), K, dim=-1).indices
    w = s.gather(1, sel)
    if cfg["norm_topk_prob"]:
        w = w / w.sum(-1, keepdim=True)
    w = w * cfg["routed_scaling_factor"]
    y = torch.zeros_like(x)
    for e in range(E):
        mask = (sel == e)
        rows = mask.any(-1)
        if rows.any():
            we = (w * mask).sum(-1)[rows][:, None]
            y = y.index_add(0, rows.nonzero()[:, 0], we * swiglu(xn[rows], f"{p}mlp.experts.{e}."))
    if cfg.get("n_shared_experts"):
        y = y + swiglu(xn, p + "mlp.shared_experts.")
    counts = torch.zeros(E).index_add(0, sel.flatten(), torch.ones(sel.numel()))
    f = counts * E / (K * T)
    P = (s / s.sum(-1, keepdim=True)).mean(0)
    balance.append(ALPHA * (f * P).sum())
    return x + y


def ce(logits, targets):
    keep = targets >= 0
    return torch.nn.functional.cross_entropy(logits[keep], targets[keep], reduction="mean")


def losses(cfg, W, tokens, targets):
    L, eps = cfg["num_hidden_layers"], cfg["rms_norm_eps"]
    is_moe = lambda i: bool(cfg.get("n_routed_experts")) and i >= cfg.get("first_k_dense_replace", 0) and i % cfg.get("moe_layer_freq", 1) == 0
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    balance = []
    x = W["model.embed_tokens.weight"][tokens]
    for i in range(L):
        x = block(cfg, W, f"model.layers.{i}.", x, is_moe(i), balance)
    logits = rms(x, W["model.norm.weight"], eps) @ head.T
    main = ce(logits, targets)
    mtp = torch.zeros(())
    if cfg.get("num_nextn_predict_layers"):
        p = f"model.layers.{L}."
        e = rms(W["model.embed_tokens.weight"][tokens[1:]], W[p + "enorm.weight"], eps)
        h = rms(x[:-1], W[p + "hnorm.weight"], eps)
        u = torch.cat((e, h), dim=-1) @ W[p + "eh_proj.weight"].T
        u = block(cfg, W, p, u, is_moe(L), balance)
        mtp = ce(rms(u, W[p + "shared_head.norm.weight"], eps) @ head.T, targets[1:])
    total = main + LAMBDA * mtp + sum(balance, torch.zeros(()))
    return total, main, mtp, logits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--r1", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(11)
    failures = 0
    for name, cfg in CONFIGS.items():
        cfg = {k: v for k, v in cfg.items() if v is not None}
        d = os.path.join(a.workdir, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        with open(os.path.join(d, "init.json"), "w") as f:
            json.dump(cfg, f)
        run([a.tool, "init", os.path.join(d, "init.json"), d, "7"])
        W0 = read_safetensors(os.path.join(d, "model.safetensors"))
        for k in W0:  # a selection bias that matters, and norms away from 1
            if k.endswith("e_score_correction_bias"):
                W0[k] = rng.uniform(-0.05, 0.05, W0[k].shape)
            elif k.endswith("norm.weight") or k.endswith("layernorm.weight"):
                W0[k] = 1 + rng.uniform(-0.2, 0.2, W0[k].shape)
        W0 = {k: v.astype(np.float32).astype(np.float64) for k, v in W0.items()}
        write_safetensors(os.path.join(d, "model.safetensors"), W0)

        T = 13
        tokens = rng.integers(0, cfg["vocab_size"], T)
        targets = np.concatenate((tokens[1:], [-1]))
        targets[3] = -1  # a position not counted (a prompt token in SFT)
        tok_s, tgt_s = ",".join(map(str, tokens)), ",".join(map(str, targets))

        W = {k: torch.tensor(v, requires_grad=True) for k, v in W0.items()}
        total, main_l, mtp_l, logits = losses(cfg, W, torch.tensor(tokens), torch.tensor(targets))
        total.backward()

        for dtype, tol_loss, tol_grad in (("F64", 1e-10, 1e-8), ("F32", 1e-5, 1e-3)):
            got = json.loads(run([a.tool, "grad", d, tok_s, tgt_s, str(LAMBDA), str(ALPHA), dtype]))
            worst_loss = max(abs(got["loss"][k] - float(v)) / max(1e-12, abs(float(v)))
                             for k, v in (("total", total), ("main", main_l), ("mtp", mtp_l)) if float(v) != 0)
            worst = (0.0, "")
            for pname, g in got["grads"].items():
                ref = W[pname].grad
                ref = np.zeros(W[pname].shape) if ref is None else ref.numpy()
                diff = np.max(np.abs(np.array(g).reshape(ref.shape) - ref)) / max(1e-30, np.max(np.abs(ref)), 1e-12)
                worst = max(worst, (diff, pname))
            ok = worst_loss <= tol_loss and worst[0] <= tol_grad and len(got["grads"]) == len(W0)
            print(f"{'ok  ' if ok else 'FAIL'} {name} {dtype}: loss rel err {worst_loss:.2e} (total {float(total):.6f}), "
                  f"worst gradient rel err {worst[0]:.2e} ({worst[1]}), {len(got['grads'])} tensors")
            failures += not ok
            if dtype == "F64":
                lg = np.array(got["logits"])
                err = np.max(np.abs(lg - logits.detach().numpy())) / np.max(np.abs(logits.detach().numpy()))
                ok = err <= 1e-10
                print(f"{'ok  ' if ok else 'FAIL'} {name}: trainer logits vs PyTorch rel err {err:.2e}")
                failures += not ok

        # The inference engine on the same files (absorbed MLA, its own kernels) gives the same logits.
        shutil.copy(os.path.join(d, "init.json"), os.path.join(d, "config.json"))
        eng = json.loads(run([a.r1, "logits", d, "--tokens", tok_s]))["logits"]
        ref = logits.detach().numpy()
        err = np.max(np.abs(np.array(eng) - ref)) / np.max(np.abs(ref))
        ok = err <= 1e-4
        print(f"{'ok  ' if ok else 'FAIL'} {name}: inference engine logits vs the trainer's model rel err {err:.2e}")
        failures += not ok
    finish(failures)


def finish(failures):
    """The verdict of a check script: PASS, or the number of failed checks and exit status 1."""
    if failures:
        print(f"FAIL: {failures} check(s)")
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
