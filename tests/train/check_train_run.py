#!/usr/bin/python3
"""A short pre-training + SFT pipeline through `r1 train`, checking what the run promises:

1. the run directory holds run.json (config with defaults, seeds, commit, build, machine, threads),
   data/manifest.jsonl whose sha256 match the data files and the tokenizer, metrics.jsonl (a line per
   step with the documented fields), eval.jsonl, and checkpoints with SHA256SUMS that match their files;
2. the same config and seed on the same machine and thread count give bit-identical checkpoints;
3. resuming from the middle checkpoint gives the same final checkpoint as the uninterrupted run;
4. the loss goes down, and the checkpoint is a model directory `r1 run` loads and generates from;
5. SFT from the pre-trained checkpoint runs and counts only answer tokens;
6. GRPO from the SFT checkpoint (random-reward control, so advantages are non-zero; two epochs per
   step, so ratios move off 1 and clip; KL with a reference policy that is checkpointed): the RL
   metrics and rollouts are recorded, reruns and resume are bit-identical, `r1 eval` measures the
   final checkpoint and `r1 report` renders the three runs.

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

    # 6. GRPO.
    sft_final = os.path.join(a.workdir, "sft", "final")
    grpo = dict(CONFIG, train=dict(CONFIG["train"], steps=4, lr=3e-2, warmup=0, schedule="constant",
                                   checkpoint_every=2, eval_every=4, eval_examples=4, init_from=sft_final),
                grpo={"group_size": 4, "prompts_per_step": 2, "max_tokens": 40, "epochs": 2, "kl_beta": 0.04,
                      "clip_high": 0.28, "reward": "random", "dynamic_sampling": True, "length_norm": "token"})
    grpo_path = os.path.join(a.workdir, "grpo.json")
    with open(grpo_path, "w") as f:
        json.dump(grpo, f)
    G1, G2, G3 = (os.path.join(a.workdir, n) for n in ("g1", "g2", "g3"))
    run([a.r1, "train", "grpo", grpo_path, "--out", G1])
    gm = [json.loads(l) for l in open(os.path.join(G1, "metrics.jsonl"))]
    check([m["step"] for m in gm] == [1, 2, 3, 4], "GRPO metrics.jsonl has one line per step")
    for k in ("loss", "lr", "grad_norm", "reward_mean", "reward_std", "reward_accuracy", "reward_format", "accuracy",
              "zero_adv_frac", "response_len_mean", "entropy", "kl", "clip_frac_low", "clip_frac_high", "logprob_gap",
              "tokens_per_s", "rollout_s", "train_s", "expert_load", "router_bias_range"):
        check(k in gm[0], f"GRPO metrics lines have '{k}'")
    check(all(m["entropy"] > 0 and m["kl"] >= 0 for m in gm), "entropy > 0 and KL >= 0")
    check(any(m["clip_frac"] > 0 for m in gm), "the second epoch's ratios clip")
    check(max(m["logprob_gap"] for m in gm) < 1e-3, "engine and trainer agree on the sampled tokens' log-probabilities")
    ro = [json.loads(l) for l in open(os.path.join(G1, "rollouts", "step-1.jsonl"))]
    check(len(ro) >= 8 and all(k in ro[0] for k in ("prompt", "completion", "reward", "advantage")),
          "rollouts/step-1.jsonl holds prompts, completions, rewards and advantages")
    check(all(r["reward"]["total"] in (0.0, 1.0) for r in ro), "random-reward control: rewards are coin flips")
    ge = [json.loads(l) for l in open(os.path.join(G1, "eval.jsonl"))]
    check([e["step"] for e in ge] == [0, 4] and all("accuracy" in e for e in ge), "eval.jsonl: accuracy at steps 0 and 4")
    rj = json.load(open(os.path.join(G1, "run.json")))
    check(rj["timing"]["cpu_hours"] > 0 and rj["config"]["grpo"]["group_size"] == 4, "run.json: GRPO config and CPU-hours")
    run([a.r1, "train", "grpo", grpo_path, "--out", G2])
    g_final = os.path.join(G1, "checkpoints", "step-4")
    check(sums(os.path.join(G2, "checkpoints", "step-4")) == sums(g_final), "GRPO: a second run is bit-identical")
    check("optimizer/reference.safetensors" in sums(g_final), "GRPO checkpoints hold the reference policy")
    run([a.r1, "train", "grpo", grpo_path, "--out", G3, "--resume", os.path.join(G1, "checkpoints", "step-2")])
    check(sums(os.path.join(G3, "checkpoints", "step-4")) == sums(g_final), "GRPO resumed from step 2 = uninterrupted")
    out = json.loads(run([a.r1, "eval", G1, "--limit", "4", "--max-tokens", "40"]))
    saved = json.load(open(os.path.join(G1, "eval", "step-4.json")))
    check(out["completions"] == 4 and saved["accuracy"] == out["accuracy"] and 0 <= out["accuracy"] <= 1,
          f"r1 eval writes eval/step-4.json (accuracy {out['accuracy']})")
    check(out["accuracy"] == ge[1]["by_task"]["arithmetic"]["accuracy"] or ge[1]["completions"] != 4,
          "r1 eval measures what GRPO's own evaluation measured")
    report = os.path.join(a.workdir, "report.html")
    run([a.r1, "report", A, os.path.join(a.workdir, "sft"), G1, "--out", report])
    check(os.path.getsize(report) > 10000 and "<svg" in open(report).read(), "r1 report renders the three runs")

    # 7. Bad input: one line naming what is wrong, exit status 1.
    bad = [({"grpo": {"length_norm": "tokens"}}, "grpo.length_norm 'tokens'"),
           ({"grpo": {"group_size": 1}}, "grpo.group_size must be at least 2"),
           ({"grpo": {"reward": "coin"}}, "grpo.reward 'coin'"),
           ({"train": {"init_from": ""}}, "grpo needs train.init_from"),
           ({"train": {"schedule": "linear"}}, "train.schedule 'linear'"),
           ({"grpo": {"clip_lo": 0.1}}, "unknown key 'grpo.clip_lo'")]
    for i, (override, message) in enumerate(bad):
        c = json.loads(json.dumps(grpo))
        for section, values in override.items():
            c[section].update(values)
        path = os.path.join(a.workdir, f"bad{i}.json")
        with open(path, "w") as f:
            json.dump(c, f)
        res = subprocess.run([a.r1, "train", "grpo", path, "--out", os.path.join(a.workdir, f"bad{i}")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        lines = res.stderr.strip().splitlines()
        check(res.returncode == 1 and len(lines) == 1 and lines[0].startswith("r1: error:") and message in lines[0],
              f"bad GRPO config -> one-line error: {lines[-1] if lines else '(none)'}")
    res = subprocess.run([a.r1, "eval", a.workdir], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    check(res.returncode == 1 and "run.json: cannot read" in res.stderr, "r1 eval on a directory that is not a run: one-line error")
    print("PASS")


if __name__ == "__main__":
    main()
