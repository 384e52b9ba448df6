"""Plain float64 numpy reference forward pass (spec deepseek-spec.md §4.1–4.6).

Deliberately simple: full causal recomputation, naive ("decompressed") MLA (§4.2, never the
absorbed form), per-token MoE routing. Supported `architectures`: DeepseekV3ForCausalLM,
DeepseekV2ForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM.
"""
import math

import numpy as np

from hf_weights import load_model_dir

# ---------------------------------------------------------------------------- basic blocks


def rms_norm(x, w, eps):
    """y = w ⊙ x / sqrt(mean(x²) + ε) over the last axis."""
    return w * x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def linear(x, w, b=None):
    """PyTorch convention: w is [out_features, in_features]."""
    y = x @ w.T
    return y if b is None else y + b


def silu(x):
    return x / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------------- RoPE (§4.5)


def rope_interleaved(x, pos, inv_freq, attn_factor=1.0):
    """GPT-J / complex layout: pairs (2i, 2i+1) rotated by angle pos·θ_i. x: [..., T, d]."""
    ang = np.outer(pos, inv_freq)  # [T, d/2]
    cos, sin = np.cos(ang) * attn_factor, np.sin(ang) * attn_factor
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def rope_half(x, pos, inv_freq):
    """NeoX layout (rotate_half): dim i pairs with dim i + d/2. x: [..., T, d]."""
    ang = np.outer(pos, inv_freq)
    cos, sin = np.cos(ang), np.sin(ang)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def base_inv_freq(dim, base):
    """θ_i = base^(−2i/dim), i = 0 … dim/2−1."""
    return base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)


def yarn_get_mscale(factor, mscale):
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def yarn_correction_range(dim, base, orig_max_pos, beta_fast, beta_slow):
    """(low, high) from corr_dim(r) = dim·ln(L_orig / (2π r)) / (2 ln base)."""
    def corr_dim(r):
        return dim * math.log(orig_max_pos / (r * 2 * math.pi)) / (2 * math.log(base))
    low = max(math.floor(corr_dim(beta_fast)), 0)
    high = min(math.ceil(corr_dim(beta_slow)), dim - 1)
    return low, high


def yarn_inv_freq(dim, base, rs):
    """θ'_i = θ_i/s·(1 − smooth_i) + θ_i·smooth_i, smooth_i = 1 − clamp((i − low)/(high − low), 0, 1)."""
    s = rs["factor"]
    low, high = yarn_correction_range(dim, base, rs.get("original_max_position_embeddings", 4096),
                                      rs.get("beta_fast", 32), rs.get("beta_slow", 1))
    if high == low:
        high += 0.001  # avoid division by zero, as in the HF/reference code
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    smooth = 1.0 - ramp
    theta = base_inv_freq(dim, base)
    return theta / s * (1.0 - smooth) + theta * smooth


def llama3_inv_freq(dim, base, rs):
    """Llama-3.1 wavelength-based smoothing of the base frequencies."""
    theta = base_inv_freq(dim, base)
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old_ctx = rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / theta
    smooth = np.clip((old_ctx / wavelen - lo) / (hi - lo), 0.0, 1.0)
    out = (1.0 - smooth) * theta / factor + smooth * theta
    out = np.where(wavelen < old_ctx / hi, theta, out)  # high frequency: unchanged
    return np.where(wavelen > old_ctx / lo, theta / factor, out)  # low frequency: divided by factor


def rope_scaling_type(cfg):
    rs = cfg.get("rope_scaling")
    return None if not rs else (rs.get("rope_type") or rs.get("type"))


# ---------------------------------------------------------------------------- attention


def causal_attention(q, k, v, scale, bf16_weights=None):
    """q, k: [H, T, dk]; v: [H, T, dv] -> [T, H·dv]. score = scale·q·k, masked s > t.

    bf16_weights: the engine's BF16 cache also rounds the attention weights to BF16 (below the
    smallest normal float: zero) -- GQA the normalized softmax ("normalized"); MLA, whose softmax is
    computed online, exp(score - max) before dividing by the sum of the rounded values ("exp")."""
    t = q.shape[1]
    scores = scale * np.einsum("htd,hsd->hts", q, k)
    scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)
    if bf16_weights is None:
        weights = softmax(scores)
    elif bf16_weights == "normalized":
        weights = bf16(softmax(scores))
    else:
        e = bf16(np.exp(scores - scores.max(axis=-1, keepdims=True)))
        weights = e / e.sum(axis=-1, keepdims=True)
    out = np.einsum("hts,hsd->htd", weights, v)
    return out.transpose(1, 0, 2).reshape(t, -1)


def bf16(x):
    """Rounds to the nearest BF16 value (ties to even) via float32, as the engine stores a BF16 cache;
    magnitudes below the smallest normal float become zero, as AVX512-BF16's dot products read them."""
    x32 = np.asarray(x, dtype=np.float32)
    bits = x32.view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    y = bits.astype(np.uint32).view(np.float32).astype(np.float64)
    return np.where(np.abs(x32) < np.finfo(np.float32).tiny, 0.0, y)


def q8_rows(x):
    """Rows as the engine's Q8 cache stores them: int8 values q = round(x / scale), scale = max|x| / 127
    per row, in float32 as the engine computes them (ties to even). Returns (q, scale[..., 1])."""
    x32 = np.asarray(x, dtype=np.float32)
    amax = np.abs(x32).max(axis=-1, keepdims=True)
    inv = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, np.float32(1)), np.float32(0)).astype(np.float32)
    q = np.clip(np.rint((x32 * inv).astype(np.float32)), -127, 127)
    return q.astype(np.float64), (amax / np.float32(127)).astype(np.float32).astype(np.float64)


def stored(x, cache):
    """Rows as the engine's cache of type `cache` ("bf16" or "q8") gives them back as floats."""
    if cache == "q8":
        q, scale = q8_rows(x)
        return q * scale
    return bf16(x)


def mla_attention_q8(query, latent, k_rope, scale):
    """The absorbed attention over the engine's Q8 latent cache (kernels/cpu/latent_q8.h), for up to
    128 keys (one step of its value pass, whose running maximum is then the final one).

    query: ([H, T, d_c] absorbed latent query, [H, T, d_rope] roped query); latent: [T, d_c] c_kv;
    k_rope: [T, d_rope]. Rows and each head's query parts are quantized (q8_rows); the scores are the
    exact integer products times the scales; the weights e = exp(score - max) times each row's latent
    scale are rounded per head to steps of 1/255 of their largest, and divided by the sum of the
    unrounded e. Returns [T, H·d_c]."""
    (ql, qr), t = query, latent.shape[0]
    assert t <= 128, "the reference mirrors one step of 128 keys"
    lq, ls = q8_rows(latent)
    rq, rs = q8_rows(k_rope)
    qlq, qls = q8_rows(ql)
    qrq, qrs = q8_rows(qr)
    scores = scale * (qls * ls[:, 0] * np.einsum("htc,sc->hts", qlq, lq) + qrs * rs[:, 0] * np.einsum("htc,sc->hts", qrq, rq))
    causal = np.tril(np.ones((t, t), dtype=bool))
    scores = np.where(causal, scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    w = (e * ls[:, 0]).astype(np.float32)
    top = w.max(axis=-1, keepdims=True)
    pw = np.rint((w * (np.float32(255) / top)).astype(np.float32)).astype(np.float64)
    steps = (top / np.float32(255)).astype(np.float32).astype(np.float64)
    out = np.einsum("hts,sc->htc", pw * steps, lq) / e.sum(axis=-1, keepdims=True)
    return out.transpose(1, 0, 2).reshape(t, -1)


def mla_softmax_scale(cfg):
    """§4.4: (d_nope + d_rope)^-0.5 · m², m = yarn_get_mscale(factor, mscale_all_dim) (HF)."""
    scale = (cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]) ** -0.5
    rs = cfg.get("rope_scaling")
    if rs and rs.get("mscale_all_dim"):
        m = yarn_get_mscale(rs["factor"], rs["mscale_all_dim"])
        scale *= m * m
    return scale


def mla_rope_params(cfg):
    """(inv_freq, attn_factor) for the d_rope slice; attn_factor multiplies cos/sin as in HF."""
    dim, base = cfg["qk_rope_head_dim"], cfg.get("rope_theta", 10000.0)
    kind = rope_scaling_type(cfg)
    if kind is None:
        return base_inv_freq(dim, base), 1.0
    if kind != "yarn":
        raise NotImplementedError(f"MLA rope_scaling type {kind!r} not supported by the reference")
    rs = cfg["rope_scaling"]
    factor = rs["factor"]
    attn_factor = yarn_get_mscale(factor, rs.get("mscale", 1)) / yarn_get_mscale(factor, rs.get("mscale_all_dim", 0))
    return yarn_inv_freq(dim, base, rs), attn_factor


def mla_attention(x, cfg, W, p, pos, cache="f32", decompressed=False):
    """Naive MLA (§4.2). x: [T, d] normed hidden states; p: tensor-name prefix of self_attn.

    cache="bf16": the engine's BF16 latent cache -- c_kv and the roped k_R rounded to BF16, attended in
    the absorbed form (§4.3) with the absorbed query W_UK,hᵀ q_nope,h, q_R and the attention weights
    rounded to BF16 too. (The engine rounds exp(score - running maximum) per block of 16 keys; for up
    to 16 keys, as here, that maximum is the final one.) cache="q8": its Q8 latent cache, in the same
    absorbed form (mla_attention_q8). decompressed: the engine's `--mla-prefill decompressed` -- the cache's
    rows rounded as it stores them, then the naive form."""
    t, H = x.shape[0], cfg["num_attention_heads"]
    d_nope, d_rope, d_v, d_c = (cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"],
                                cfg["v_head_dim"], cfg["kv_lora_rank"])
    bias = cfg.get("attention_bias", False)
    # 1. query: c_q = RMSNorm(W_qa x); q = W_qb c_q   (or q = W_q x without q-LoRA)
    if cfg.get("q_lora_rank"):
        c_q = rms_norm(linear(x, W(p + "q_a_proj.weight"), W(p + "q_a_proj.bias") if bias else None),
                       W(p + "q_a_layernorm.weight"), cfg["rms_norm_eps"])
        q = linear(c_q, W(p + "q_b_proj.weight"))
    else:
        q = linear(x, W(p + "q_proj.weight"))
    q = q.reshape(t, H, d_nope + d_rope).transpose(1, 0, 2)  # [H, T, 192]
    q_nope, q_rope = q[..., :d_nope], q[..., d_nope:]
    # 2. [c_kv ; k_rope_raw] = W_kva x ; c_kv = RMSNorm(c_kv)
    kv_a = linear(x, W(p + "kv_a_proj_with_mqa.weight"), W(p + "kv_a_proj_with_mqa.bias") if bias else None)
    c_kv = rms_norm(kv_a[:, :d_c], W(p + "kv_a_layernorm.weight"), cfg["rms_norm_eps"])
    k_rope_raw = kv_a[:, d_c:]
    # The engine's decompressed prefill (model/decompressed_mla.h) over a rounded cache reads the rows back as
    # the cache stores them (`stored`), then attends in the naive form below.
    rounded = decompressed and cache != "f32"
    if rounded:
        c_kv = stored(c_kv, cache)
    # 3. per-head decompression: [k_nope_h ; v_h] = W_kvb,h c_kv
    kv = linear(c_kv, W(p + "kv_b_proj.weight")).reshape(t, H, d_nope + d_v).transpose(1, 0, 2)
    k_nope, v = kv[..., :d_nope], kv[..., d_nope:]
    # 4. RoPE (interleaved) on q_rope and the single shared k_rope
    inv_freq, attn_factor = mla_rope_params(cfg)
    q_rope = rope_interleaved(q_rope, pos, inv_freq, attn_factor)
    k_rope = rope_interleaved(k_rope_raw, pos, inv_freq, attn_factor)
    k_rope = np.broadcast_to(stored(k_rope, cache) if rounded else k_rope, (H, t, d_rope))
    if cache in ("bf16", "q8") and not decompressed:
        w_kvb = W(p + "kv_b_proj.weight").reshape(H, d_nope + d_v, d_c)
        q_abs = np.einsum("htn,hnc->htc", q_nope, w_kvb[:, :d_nope])  # [H, T, d_c]
        if cache == "q8":
            o_lat = mla_attention_q8((q_abs, q_rope), c_kv, k_rope[0], mla_softmax_scale(cfg))
        else:
            latent = bf16(c_kv)  # [T, d_c], shared by the heads
            key = np.broadcast_to(np.concatenate([latent, bf16(k_rope[0])], axis=-1), (H, t, d_c + d_rope))
            query = np.concatenate([bf16(q_abs), bf16(q_rope)], axis=-1)
            o_lat = causal_attention(query, key, np.broadcast_to(latent, (H, t, d_c)), mla_softmax_scale(cfg), "exp")
        o = np.einsum("thc,hvc->thv", o_lat.reshape(t, H, d_c), w_kvb[:, d_nope:]).reshape(t, H * d_v)
        return linear(o, W(p + "o_proj.weight"), W(p + "o_proj.bias") if bias else None)
    query = np.concatenate([q_nope, q_rope], axis=-1)
    key = np.concatenate([k_nope, k_rope], axis=-1)
    # 5./6. causal softmax attention, then o_proj
    o = causal_attention(query, key, v, mla_softmax_scale(cfg))
    return linear(o, W(p + "o_proj.weight"), W(p + "o_proj.bias") if bias else None)


def gqa_inv_freq(cfg, head_dim):
    base = cfg.get("rope_theta", 10000.0)
    kind = rope_scaling_type(cfg)
    if kind in (None, "default"):
        return base_inv_freq(head_dim, base)
    if kind == "llama3":
        return llama3_inv_freq(head_dim, base, cfg["rope_scaling"])
    raise NotImplementedError(f"rope_scaling type {kind!r} not supported by the reference")


def gqa_attention(x, cfg, W, p, pos, arch, cache="f32"):
    """Grouped-query attention with NeoX RoPE (Qwen2 / Qwen3 / Llama). cache="bf16": the engine's BF16
    cache -- keys, values, the queries and the attention weights rounded to BF16."""
    t, H = x.shape[0], cfg["num_attention_heads"]
    kvh = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or cfg["hidden_size"] // H
    qkv_bias = True if arch == "Qwen2ForCausalLM" else cfg.get("attention_bias", False)
    o_bias = False if arch == "Qwen2ForCausalLM" else cfg.get("attention_bias", False)

    def proj(name, heads, use_bias):
        y = linear(x, W(p + name + ".weight"), W(p + name + ".bias") if use_bias else None)
        return y.reshape(t, heads, hd).transpose(1, 0, 2)  # [heads, T, hd]

    q, k, v = proj("q_proj", H, qkv_bias), proj("k_proj", kvh, qkv_bias), proj("v_proj", kvh, qkv_bias)
    if arch == "Qwen3ForCausalLM":  # per-head RMSNorm before RoPE
        q = rms_norm(q, W(p + "q_norm.weight"), cfg["rms_norm_eps"])
        k = rms_norm(k, W(p + "k_norm.weight"), cfg["rms_norm_eps"])
    inv_freq = gqa_inv_freq(cfg, hd)
    q, k = rope_half(q, pos, inv_freq), rope_half(k, pos, inv_freq)
    if cache == "bf16":
        q, k, v = bf16(q), bf16(k), bf16(v)
    group = H // kvh  # query head h reads kv head h // group
    k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
    o = causal_attention(q, k, v, hd ** -0.5, "normalized" if cache == "bf16" else None)
    return linear(o, W(p + "o_proj.weight"), W(p + "o_proj.bias") if o_bias else None)


# ---------------------------------------------------------------------------- FFN / MoE (§4.6)


def swiglu_mlp(x, W, p, bias=False):
    """down(silu(gate(x)) ⊙ up(x))."""
    def b(name):
        return W(p + name + ".bias") if bias else None
    g = linear(x, W(p + "gate_proj.weight"), b("gate_proj"))
    u = linear(x, W(p + "up_proj.weight"), b("up_proj"))
    return linear(silu(g) * u, W(p + "down_proj.weight"), b("down_proj"))


def route(router_logits, cfg, correction_bias=None):
    """One token's routing: returns (expert indices, weights). router_logits: [E]."""
    k = cfg["num_experts_per_tok"]
    scoring = cfg.get("scoring_func", "softmax")
    if scoring == "softmax":
        s = softmax(router_logits)
    elif scoring == "sigmoid":
        s = sigmoid(router_logits)
    else:
        raise NotImplementedError(f"scoring_func {scoring!r}")
    method = cfg.get("topk_method", "greedy")
    n_group = cfg.get("n_group") or 1
    topk_group = cfg.get("topk_group") or n_group
    if method == "greedy":
        choice = s.copy()
    elif method in ("group_limited_greedy", "noaux_tc"):
        if method == "noaux_tc":
            if correction_bias is None:
                raise ValueError("noaux_tc routing needs mlp.gate.e_score_correction_bias")
            choice = s + correction_bias  # bias only for selection
            grouped = np.sort(choice.reshape(n_group, -1), axis=1)
            group_score = grouped[:, -2:].sum(axis=1)  # sum of top-2 per group
        else:
            choice = s.copy()
            group_score = choice.reshape(n_group, -1).max(axis=1)  # max per group
        kept = np.argsort(-group_score, kind="stable")[:topk_group]
        group_mask = np.zeros(n_group, dtype=bool)
        group_mask[kept] = True
        choice = np.where(np.repeat(group_mask, len(s) // n_group), choice, -np.inf)
    else:
        raise NotImplementedError(f"topk_method {method!r}")
    idx = np.argsort(-choice, kind="stable")[:k]
    w = s[idx]  # unbiased scores
    if cfg.get("norm_topk_prob", False):
        w = w / (w.sum() + 1e-20)
    return idx, w * cfg.get("routed_scaling_factor", 1.0)


def moe(x, cfg, W, p):
    """y = Σ_j w_j · Expert_j(x) + SharedExpert(x), routed per token."""
    router_logits = linear(x, W(p + "gate.weight"))
    bias = W(p + "gate.e_score_correction_bias") if cfg.get("topk_method") == "noaux_tc" else None
    y = np.zeros_like(x)
    for t in range(x.shape[0]):
        idx, w = route(router_logits[t], cfg, bias)
        for e, we in zip(idx, w):
            y[t] += we * swiglu_mlp(x[t:t + 1], W, f"{p}experts.{e}.")[0]
    if cfg.get("n_shared_experts"):
        y += swiglu_mlp(x, W, p + "shared_experts.")
    return y


def is_moe_layer(cfg, i):
    return bool(cfg.get("n_routed_experts")) and i >= cfg.get("first_k_dense_replace", 0) \
        and i % cfg.get("moe_layer_freq", 1) == 0


# ---------------------------------------------------------------------------- model

DEEPSEEK = ("DeepseekV3ForCausalLM", "DeepseekV2ForCausalLM")
GQA = ("Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM")
# config defaults of the HF config classes where real configs may omit the field
ARCH_DEFAULTS = {
    "DeepseekV3ForCausalLM": dict(topk_method="noaux_tc", scoring_func="sigmoid", norm_topk_prob=True,
                                  routed_scaling_factor=2.5),
    "DeepseekV2ForCausalLM": dict(topk_method="greedy", scoring_func="softmax", norm_topk_prob=False,
                                  routed_scaling_factor=1.0),
}


class Model:
    def __init__(self, model_dir=None, cfg=None, weights=None):
        """From a model directory, or from a config dict and a name -> float64 array mapping.
        Set .cache = "bf16" for the logits of the engine's `--cache-type bf16`, .decompressed for its
        `--mla-prefill decompressed`."""
        self.cache = "f32"
        self.decompressed = False
        if model_dir is not None:
            cfg, weights = load_model_dir(model_dir)
        self.weights = weights
        archs = cfg.get("architectures") or ["<missing>"]
        self.arch = archs[0]
        if self.arch not in DEEPSEEK + GQA:
            raise NotImplementedError(f"reference: unsupported architecture {self.arch!r} "
                                      f"(supported: {', '.join(DEEPSEEK + GQA)})")
        if cfg.get("use_sliding_window"):
            raise NotImplementedError("reference: use_sliding_window=true is not supported")
        self.cfg = {**ARCH_DEFAULTS.get(self.arch, {}), **cfg}
        self.cfg.setdefault("rms_norm_eps", 1e-6)
        self._cache = {}

    def W(self, name):
        if name not in self._cache:
            self._cache[name] = self.weights[name]
        return self._cache[name]

    def logits(self, tokens):
        """Causal forward pass; returns float64 logits [T, vocab] for every position."""
        cfg, W = self.cfg, self.W
        tokens = np.asarray(tokens, dtype=np.int64)
        vocab = cfg["vocab_size"]
        if tokens.size == 0 or tokens.min() < 0 or tokens.max() >= vocab:
            raise ValueError(f"tokens must be non-empty and in [0, {vocab})")
        pos = np.arange(len(tokens), dtype=np.float64)
        eps = cfg["rms_norm_eps"]
        h = W("model.embed_tokens.weight")[tokens]
        for i in range(cfg["num_hidden_layers"]):  # MTP layers (>= num_hidden_layers) ignored
            p = f"model.layers.{i}."
            x = rms_norm(h, W(p + "input_layernorm.weight"), eps)
            if self.arch in DEEPSEEK:
                h = h + mla_attention(x, cfg, W, p + "self_attn.", pos, self.cache, self.decompressed)
            else:
                h = h + gqa_attention(x, cfg, W, p + "self_attn.", pos, self.arch, self.cache)
            x = rms_norm(h, W(p + "post_attention_layernorm.weight"), eps)
            if self.arch in DEEPSEEK and is_moe_layer(cfg, i):
                h = h + moe(x, cfg, W, p + "mlp.")
            else:
                h = h + swiglu_mlp(x, W, p + "mlp.", bias=cfg.get("mlp_bias", False))
        h = rms_norm(h, W("model.norm.weight"), eps)
        head = "model.embed_tokens.weight" if cfg.get("tie_word_embeddings", False) else "lm_head.weight"
        return linear(h, W(head))

    def greedy(self, tokens, n):
        """Greedy argmax continuation; returns (generated ids, last-row logits of every step)."""
        seq, out, rows = list(tokens), [], []
        for _ in range(n):
            row = self.logits(seq)[-1]
            nxt = int(np.argmax(row))
            rows.append(row)
            out.append(nxt)
            seq.append(nxt)
        return out, rows
