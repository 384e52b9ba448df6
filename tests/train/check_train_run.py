#!/usr/bin/python3
"""A short pre-training + SFT pipeline through `r1 train`, checking what the run promises:

1. the run directory holds run.json (config with defaults, seeds, commit, build, machine, threads),
   data/manifest.jsonl whose sha256 match the data files and the tokenizer, metrics.jsonl (a line per
   step with the documented fields), eval.jsonl, and checkpoints with SHA256SUMS that match their files;
2. the same config and seed on the same machine and thread count give bit-identical checkpoints;
3. resuming from the middle checkpoint gives the same final checkpoint as the uninterrupted run;
4. the loss goes down, and the checkpoint is a model directory `r1 run` loads and generates from;
5. SFT from the pre-trained checkpoint runs and counts only answer tokens.

  check_train_run.py --r1 BUILD/src/r1 --workdir DIR
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

CONFIG = {
    "data": {"tasks": [{"task": "arithmetic", "count": 300, "seed": 1, "eval_count": 16, "eval_seed": 2,
                        "options": {"max_digits": 2}},
                       {"task": "linear", "count": 100, "seed": 3, "eval_count": 8, "eval_seed": 4}]},
    "train": {"steps": 24, "batch": 4, "seq_len": 320, "warmup": 4, "eval_every": 12, "eval_examples": 8,
              "checkpoint_every": 12, "threads": 2},
}


def run(cmd):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
    if res.returncode != 0:
        print(f"FAIL: `{' '.join(cmd)}` exited {res.returncode}\n{res.stderr[-3000:]}")
        sys.exit(1)
    return res.stdout


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def check(cond, message):
    if not cond:
        print("FAIL:", message)
        sys.exit(1)
    print("ok  ", message)


def sums(ckpt):
    with open(os.path.join(ckpt, "SHA256SUMS")) as f:
        return f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    cfg_path = os.path.join(a.workdir, "pretrain.json")
    with open(cfg_path, "w") as f:
        json.dump(CONFIG, f)
    A, B, C = (os.path.join(a.workdir, n) for n in ("a", "b", "c"))
    run([a.r1, "train", "pretrain", cfg_path, "--out", A])

    # 1. The record.
    rj = json.load(open(os.path.join(A, "run.json")))
    for k in ("stage", "config", "git_commit", "build", "machine", "threads", "parameters", "data_order"):
        check(k in rj, f"run.json has '{k}'")
    check(rj["config"]["train"]["lr"] > 0 and rj["config"]["model"]["hidden_size"] > 0, "run.json holds the defaults too")
    manifest = [json.loads(l) for l in open(os.path.join(A, "data", "manifest.jsonl"))]
    files = [m for m in manifest if m.get("kind") != "tokenizer"]
    check(len(files) == 4, "manifest.jsonl lists 2 tasks x (train, eval)")
    for m in files:
        check(sha256(os.path.join(A, "data", m["file"])) == m["sha256"], f"manifest sha256 of {m['file']} matches")
        for k in ("generator", "version", "seed", "count", "license", "options"):
            check(k in m, f"manifest entry of {m['file']} has '{k}'")
    tok = [m for m in manifest if m.get("kind") == "tokenizer"][0]
    final = os.path.join(A, "checkpoints", "step-24")
    check(sha256(os.path.join(final, "tokenizer.json")) == tok["sha256"], "manifest records the tokenizer's sha256")
    for line in sums(final).splitlines():
        digest, name = line.split("  ")
        check(sha256(os.path.join(final, name)) == digest, f"SHA256SUMS matches {name}")
    metrics = [json.loads(l) for l in open(os.path.join(A, "metrics.jsonl"))]
    check([m["step"] for m in metrics] == list(range(1, 25)), "metrics.jsonl has one line per step")
    for k in ("loss", "main_loss", "mtp_loss", "balance_loss", "lr", "grad_norm", "tokens_per_s", "wall_s",
              "expert_load", "router_bias_range"):
        check(k in metrics[0], f"metrics lines have '{k}'")
    evals = [json.loads(l) for l in open(os.path.join(A, "eval.jsonl"))]
    check([e["step"] for e in evals] == [12, 24], "eval.jsonl at steps 12 and 24")

    # 2. Determinism.
    run([a.r1, "train", "pretrain", cfg_path, "--out", B])
    check(sums(os.path.join(B, "checkpoints", "step-24")) == sums(final), "a second run gives bit-identical checkpoints")
    # 3. Resume.
    run([a.r1, "train", "pretrain", cfg_path, "--out", C, "--resume", os.path.join(A, "checkpoints", "step-12")])
    check(sums(os.path.join(C, "checkpoints", "step-24")) == sums(final), "resumed from step 12 = uninterrupted, bit for bit")

    # 4. Learning, and the checkpoint runs in the engine.
    first, last = sum(m["main_loss"] for m in metrics[:4]) / 4, sum(m["main_loss"] for m in metrics[-4:]) / 4
    check(last < 0.8 * first, f"loss goes down ({first:.3f} -> {last:.3f})")
    check(evals[1]["eval_loss"] < evals[0]["eval_loss"], "held-out loss goes down")
    out = run([a.r1, "run", final, "-p", "User: What is 12 + 7?\nAssistant: <think>", "-n", "16", "--temp", "0", "-q"])
    check(len(out) > 0, f"r1 run generates from the checkpoint: {out.strip()[:60]!r}")

    # 5. SFT from the pre-trained model: loss only on the answer.
    sft = dict(CONFIG, train=dict(CONFIG["train"], steps=6, checkpoint_every=6, eval_every=6, init_from=final))
    sft_path = os.path.join(a.workdir, "sft.json")
    with open(sft_path, "w") as f:
        json.dump(sft, f)
    run([a.r1, "train", "sft", sft_path, "--out", os.path.join(a.workdir, "sft")])
    sm = [json.loads(l) for l in open(os.path.join(a.workdir, "sft", "metrics.jsonl"))]
    check(len(sm) == 6 and all(m["main_loss"] == m["main_loss"] for m in sm), "SFT ran 6 steps with finite losses")
    check(sm[0]["main_loss"] < metrics[0]["main_loss"], "SFT starts from the pre-trained weights")
    print("PASS")


if __name__ == "__main__":
    main()
