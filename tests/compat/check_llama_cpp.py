#!/usr/bin/python3
"""Do the GGUF files r1 writes load and run in llama.cpp, as r1 runs them?

  check_llama_cpp.py --r1 build/src/r1 --preset tiny-v3 --type f16 [--legacy-kv-b] [--mtp] [--via f16]
                     [--config KEY=JSON ...] [--keep] --workdir DIR

llama.cpp is the prebuilt CPU build of node-llama-cpp (tests/compat/fetch_llama_cpp.sh: pinned,
checksummed, from npm), driven by llama_cpp_driver.mjs through its JS API; nothing is built.

1. `r1 synth PRESET --tokenizer VOCAB` (the real DeepSeek-R1 / Qwen3 / Llama-3.1 tokenizer, from
   tests/tokenizer/fetch_tokenizers.sh), --config edits of its config.json, then `r1 convert` to
   --type (with --via T: to T first, then `r1 quantize` that file). The codebook types r1 reads but does
   not write (--type iq1_s, iq1_m, iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s) are made by llama.cpp's own
   quantizer instead (ggml_lib.py): `r1 convert` to F32, then every matrix whose rows are whole blocks
   of 256, except the router and the token embedding, quantized by ggml. With --split-max-size, r1
   writes a split model (NAME-00001-of-0000N.gguf ...) and both engines open it by its first shard.
2. llama.cpp loads the file (a rejection is printed with llama.cpp's own messages).
3. Tokenization: llama.cpp's ids for each of TEXTS (special tokens parsed, no BOS) equal
   `r1 tokenize` on the GGUF and on the HF directory; llama.cpp's BOS / add-BOS equal r1's
   (`--add-special`).
4. Greedy continuation of a fixed prompt: llama.cpp's (its sampler, temperature 0) vs
   `r1 run --temp 0` on the same GGUF; the common prefix must be at least --min-greedy tokens
   (default: 8 for float types, reported only for block types, where both engines quantize the
   activations, each its own way, and a random tiny model has near-ties).
5. Logits after every token of prompt + r1's continuation: llama.cpp's vs `r1 logits` on the same
   GGUF, max |diff| / max |r1 logit| per position within TOLERANCE[type] (MoE models: except at 1
   position in 8 or 4, see below); where the argmax differs, r1's top-two gap must be within the measured
   difference (a near-tie, not a different model).

llama.cpp runs with an F32 KV cache. Its CPU matmul still rounds the activations to the weight's
vec-dot type (F16 for F16 weights, BF16 for BF16, Q8_0/Q8_K for block types); r1 keeps F32
activations for float weights, hence the per-type tolerances.

Known difference, not a file problem: llama.cpp ranks DeepSeek's expert groups by the sum of each
group's top-2 scores (V3's noaux_tc rule) for every deepseek2 file, where V2's group_limited_greedy
uses the group's max; so V2 presets are checked with n_group=1 (no group restriction in either).
The files are removed after a pass (--keep keeps them) and kept after a failure.
"""
import argparse
import json
import mmap
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import ggml_lib  # noqa: E402
TESTS = os.path.dirname(HERE)
FLOAT_TYPES = {"f32", "f16", "bf16"}
# max |llama.cpp - r1| / max |r1| over a position's logits. Largest measured over the tiny presets (seed 1):
# f32 1.3e-6, f16 1.4e-3, bf16 5.8e-3, q8_0 5.9e-2 (MoE; dense 2e-2), q4_k_m 4e-2 (MoE; dense 4e-7: the
# same integer arithmetic); these leave 2-100x room. A wrong layout, hyperparameter or tensor gives
# errors of order 1.
TOLERANCE = {"f32": 1e-4, "f16": 4e-3, "bf16": 2e-2, "q8_0": 0.12, "q4_k_m": 0.12}
# The types made by ggml's quantizer (see 1. above).
GGML_MADE = {name.lower(): name for name in ggml_lib.IQ_TYPES}
VOCAB = {"tiny-v3": "deepseek-r1", "tiny-v3-k": "deepseek-r1", "tiny-v2": "deepseek-r1", "tiny-v2-lite": "deepseek-r1",
         "tiny-moonlight": "deepseek-r1", "tiny-qwen2": "qwen3", "tiny-qwen3": "qwen3", "tiny-llama": "llama3.1",
         "tiny-llama-k": "llama3.1"}
COMMON_TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog. It's 3.14159, isn't it?  Yes!!",
    "  leading spaces,\ttabs,\n\nnewlines\r\n and trailing   ",
    "你好，世界！今天的天气很好。こんにちは、世界。안녕하세요",
    "Emoji: 🤗🚀 👩‍👩‍👧‍👦 ✅ 🦙🦙 and flags 🇫🇷",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])",
    "Numbers 1 12 123 1234 12345 123456 3.0e-8 0x1F",
    "Ünïcödé àccents: café, naïve, Straße, Ελληνικά, русский, العربية, हिन्दी",
]
SPECIAL_TEXTS = {
    "deepseek-r1": ["<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜><think>\nOkay, 2+2=4.\n</think>\n\n4"
                    "<｜end▁of▁sentence｜>"],
    "qwen3": ["<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>"],
    "llama3.1": ["<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>"],
}
PROMPT = "The capital of France is Paris. The capital of Japan is"
N_GENERATE = 16

LABEL = ""


def fail(msg):
    print(f"FAIL {LABEL}: {msg}")
    sys.exit(1)


def run(cmd, stdin=None):
    res = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        fail(f"`{shlex.join(cmd)}` exited {res.returncode}:\n{res.stderr[-3000:]}")
    return res.stdout


def gguf_metadata_keys(path):
    """The metadata keys of a GGUF file (header only)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        pos = 0

        def take(fmt):
            nonlocal pos
            (v,) = struct.unpack_from(fmt, m, pos)
            pos += struct.calcsize(fmt)
            return v

        def skip(vtype):
            nonlocal pos
            if vtype == 8:
                n = take("<Q")  # not `pos += take(...)`: that would add to the old pos
                pos += n
            elif vtype == 9:
                etype, n = take("<I"), take("<Q")
                for _ in range(n):
                    skip(etype)
            else:
                pos += {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}[vtype]

        if m[:4] != b"GGUF":
            fail(f"{path}: not a GGUF file")
        pos = 8
        _, n_kv = take("<Q"), take("<Q")
        keys = []
        for _ in range(n_kv):
            n = take("<Q")
            keys.append(m[pos:pos + n].decode())
            pos += n
            skip(take("<I"))
        return keys


def r1_tokenize(r1, model, texts, add_special=False):
    stdin = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
    out = run([r1, "tokenize", model, "--jsonl"] + (["--add-special"] if add_special else []), stdin)
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def main():
    global LABEL
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    ap.add_argument("--preset", required=True, choices=sorted(VOCAB))
    ap.add_argument("--type", required=True)
    ap.add_argument("--via", help="convert to this type first, then r1 quantize to --type")
    ap.add_argument("--legacy-kv-b", action="store_true")
    ap.add_argument("--mtp", action="store_true", help="r1 convert --mtp: keep the MTP (nextn) layers")
    ap.add_argument("--synth-dtype", default="f16")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--config", action="append", default=[], metavar="KEY=JSON",
                    help="set a config.json field of the synthesized checkpoint before converting")
    ap.add_argument("--min-greedy", type=int, help="greedy tokens that must agree (default 8 for float types, else 0)")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the model files after a pass")
    ap.add_argument("--split-max-size", help="write a split model (r1 --split-max-size): llama.cpp loads its first shard")
    a = ap.parse_args()
    LABEL = (f"{a.preset} {a.type}" + (f" via {a.via}" if a.via else "") + (" legacy kv_b" if a.legacy_kv_b else "")
             + (" mtp" if a.mtp else "") + (f" split {a.split_max_size}" if a.split_max_size else "")
             + "".join(f" {kv}" for kv in a.config))
    min_greedy = a.min_greedy if a.min_greedy is not None else (8 if a.type in FLOAT_TYPES else 0)
    tol = TOLERANCE.get(a.type, 0.15)

    tok_cache = run(["bash", os.path.join(TESTS, "tokenizer", "fetch_tokenizers.sh")]).strip().splitlines()[-1]
    llama_dir = run(["bash", os.path.join(HERE, "fetch_llama_cpp.sh")]).strip().splitlines()[-1]
    vocab = VOCAB[a.preset]

    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    hf = os.path.join(a.workdir, "hf")
    gguf = os.path.join(a.workdir, f"{a.preset}-{a.type}.gguf")
    run([a.r1, "synth", a.preset, hf, "--seed", str(a.seed), "--dtype", a.synth_dtype,
         "--tokenizer", os.path.join(tok_cache, vocab)])
    if a.config:
        with open(os.path.join(hf, "config.json")) as f:
            cfg = json.load(f)
        for kv in a.config:
            key, value = kv.split("=", 1)
            cfg[key] = json.loads(value)
        with open(os.path.join(hf, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
    kvb = (["--legacy-kv-b"] if a.legacy_kv_b else []) + (["--mtp"] if a.mtp else [])
    split = ["--split-max-size", a.split_max_size] if a.split_max_size else []
    if a.type in GGML_MADE:
        mid = os.path.join(a.workdir, f"{a.preset}-f32.gguf")
        run([a.r1, "convert", hf, mid, "--type", "f32", "-q"] + kvb)
        target = GGML_MADE[a.type]
        made = []

        # The token embedding stays F32, as the published low-bit mixes keep it in a wider type; its rows
        # are only looked up (dequantize_row, checked against ggml bit for bit by check_ggml_iq.py), and
        # ggml's codebook search over the vocabulary-sized matrix was half of this test's time.
        def choose(name, ne):
            if len(ne) < 2 or ne[0] % 256 or "ffn_gate_inp" in name or name == "token_embd.weight":
                return None
            made.append(name)
            return target
        ggml_lib.requantize_gguf(mid, gguf, ggml_lib.Ggml(llama_dir), choose)
        os.remove(mid)
        print(f"{LABEL}: {len(made)} tensors quantized to {target} by ggml: {', '.join(made)}")
        if not made:
            fail(f"no tensor of {a.preset} has rows of whole 256-value blocks")
    elif a.via:
        mid = os.path.join(a.workdir, f"{a.preset}-{a.via}.gguf")
        run([a.r1, "convert", hf, mid, "--type", a.via, "-q"] + kvb)
        run([a.r1, "quantize", mid, gguf, a.type] + split)
        os.remove(mid)
    else:
        run([a.r1, "convert", hf, gguf, "--type", a.type, "-q"] + kvb + split)
    if split:
        shards = sorted(f for f in os.listdir(a.workdir) if f.startswith(f"{a.preset}-{a.type}-000"))
        if len(shards) < 2:
            fail(f"--split-max-size {a.split_max_size} gave {shards}: pick a size that splits this model")
        gguf = os.path.join(a.workdir, shards[0])  # r1 and llama.cpp open a split model by its first shard
        print(f"{LABEL}: r1 wrote {len(shards)} shards: {', '.join(shards)}")
    keys = gguf_metadata_keys(gguf)
    if "tokenizer.ggml.model" not in keys:
        fail(f"r1 convert wrote no tokenizer metadata (tokenizer.ggml.*) into {gguf}, though {hf} has tokenizer.json")

    texts = COMMON_TEXTS + SPECIAL_TEXTS[vocab]
    # r1 first: its greedy continuation is what llama.cpp's logits are evaluated on.
    r1_gguf_ids = r1_tokenize(a.r1, gguf, texts)
    r1_hf_ids = r1_tokenize(a.r1, hf, texts)
    prompt = r1_tokenize(a.r1, gguf, [PROMPT], add_special=True)[0]
    r1_gen = json.loads(run([a.r1, "run", gguf, "--tokens", ",".join(map(str, prompt)), "--max-tokens", str(N_GENERATE),
                             "--temp", "0", "--ignore-eos", "--ids-only", "-q"]))
    seq = prompt + r1_gen[:-1]
    r1_logits = np.array(json.loads(run([a.r1, "logits", gguf, "--tokens", ",".join(map(str, seq))]))["logits"])

    with tempfile.TemporaryDirectory(dir=a.workdir) as tmp:
        req = {"model": gguf, "texts": texts + [PROMPT], "generate": {"tokens": prompt, "n": N_GENERATE},
               "logits": {"tokens": seq, "out": os.path.join(tmp, "logits.f32")}}
        with open(os.path.join(tmp, "request.json"), "w") as f:
            json.dump(req, f, ensure_ascii=False)
        res = json.loads(run(["node", os.path.join(HERE, "llama_cpp_driver.mjs"), llama_dir, f.name]))
        release = res["llama_cpp"]["release"]
        if "load_error" in res:
            fail(f"llama.cpp ({release['repo']} {release['release']}) rejected {gguf}: {res['load_error']}\n  "
                 + "\n  ".join(res["log"][-15:]))
        ll_logits = np.fromfile(req["logits"]["out"], dtype=np.float32).reshape(res["logits"]["rows"], res["logits"]["cols"])

    print(f"{LABEL}: llama.cpp {release['repo']} {release['release']} (node-llama-cpp prebuilt, CPU) loaded "
          f"{os.path.basename(gguf)} ({os.path.getsize(gguf) / 2**20:.1f} MiB)")
    problems = []

    # ---- tokenization
    ll_ids = res["tokens"]
    for text, ll, g, h in zip(texts, ll_ids, r1_gguf_ids, r1_hf_ids):
        if not (ll == g == h):
            problems.append(f"tokenize {text!r}:\n    llama.cpp   {ll}\n    r1 on GGUF  {g}\n    r1 on HF    {h}")
    ll_prompt = ([res["bos"]] if res["add_bos"] else []) + ll_ids[-1] + ([res["eos"]] if res["add_eos"] else [])
    if ll_prompt != prompt:
        problems.append(f"with BOS/EOS as the file says, llama.cpp gives {ll_prompt} for {PROMPT!r}, "
                        f"r1 tokenize --add-special {prompt}")
    same = sum(ll == g == h for ll, g, h in zip(ll_ids, r1_gguf_ids, r1_hf_ids))
    print(f"  tokenize: {same}/{len(texts)} texts identical (llama.cpp = r1 on the GGUF = r1 on the HF dir), "
          f"{sum(map(len, ll_ids))} tokens; BOS {res['bos']} add_bos {res['add_bos']}")

    # ---- logits, teacher-forced on prompt + r1's continuation
    if ll_logits.shape != r1_logits.shape:
        fail(f"logits shape: llama.cpp {ll_logits.shape}, r1 {r1_logits.shape} (vocabulary size differs?)")
    # MoE: the experts are a top-k of the router scores, discontinuous in the activations, and llama.cpp
    # rounds its activations (F16, BF16, Q8) where r1 does not: a near-tied expert can flip at a few
    # positions and change their logits by O(1). Allowed at 1 position in 8 (in 4 for block types, whose
    # 8-bit activations flip more), never with F32 weights, and the median must be within the tolerance:
    # a wrong file is off at most positions.
    with open(os.path.join(hf, "config.json")) as f:
        moe = json.load(f).get("n_routed_experts", 0) > 0
    allowed = 0 if not moe or a.type == "f32" else len(seq) // (8 if a.type in FLOAT_TYPES else 4)
    errs, ties, argmax_same, outliers = [], 0, 0, []
    for t in range(len(seq)):
        diff = np.abs(ll_logits[t] - r1_logits[t])
        err = float(diff.max() / max(np.abs(r1_logits[t]).max(), 1e-30))
        errs.append(err)
        if err > tol:
            outliers.append(t)
            continue
        a_ll, a_r1 = int(ll_logits[t].argmax()), int(r1_logits[t].argmax())
        if a_ll == a_r1:
            argmax_same += 1
            continue
        gap = float(r1_logits[t][a_r1] - r1_logits[t][a_ll])
        if gap <= 2 * float(diff.max()):
            ties += 1
        else:
            problems.append(f"position {t}: llama.cpp's argmax {a_ll}, r1's {a_r1}, r1's gap {gap:.4g} > twice the "
                            f"largest logit difference {diff.max():.4g}")
    inside = [e for e in errs if e <= tol]
    print(f"  logits at {len(seq)} positions: max |diff| / max |logit| {max(inside, default=float('nan')):.3g} at the "
          f"{len(inside)} within the {a.type} tolerance {tol:g} (median {float(np.median(errs)):.3g}); argmax equal "
          f"at {argmax_same}" + (f", near-tied at {ties}" if ties else ""))
    if outliers:
        print(f"  over the tolerance at {len(outliers)} position(s), {allowed} allowed"
              + (" (MoE: an expert flipped by activation rounding)" if allowed else "") + ": "
              + ", ".join(f"{t} ({errs[t]:.3g})" for t in outliers))
    if float(np.median(errs)) > tol:
        problems.append(f"median logit difference {float(np.median(errs)):.3g} over the {a.type} tolerance {tol:g}")
    if len(outliers) > allowed:
        problems.append(f"logits over the {a.type} tolerance {tol:g} at {len(outliers)} positions (allowed {allowed})")

    # ---- free-running greedy
    ll_gen = res["generated"]
    agree = next((i for i, (x, y) in enumerate(zip(ll_gen, r1_gen)) if x != y), min(len(ll_gen), len(r1_gen)))
    print(f"  greedy: first {agree}/{N_GENERATE} tokens identical (required {min_greedy})\n    llama.cpp {ll_gen}\n    r1        {r1_gen}")
    if agree < min_greedy:
        problems.append(f"greedy continuations agree on {agree} tokens, fewer than {min_greedy}")

    if problems:
        fail(f"{len(problems)} problem(s); files kept in {a.workdir}\n  " + "\n  ".join(problems))
    if not a.keep:
        shutil.rmtree(a.workdir, ignore_errors=True)
    print(f"PASS {LABEL}")


if __name__ == "__main__":
    main()
