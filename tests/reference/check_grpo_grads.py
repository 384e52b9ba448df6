#!/usr/bin/python3
"""GRPO's objective and its gradient through the whole model, against PyTorch autograd in float64.

The objective is written here from the papers' formulas (DeepSeekMath eq. 3 with the k3 KL; DAPO's
asymmetric clip and token-level mean; Dr. GRPO's unscaled advantages and constant normaliser), on the
independent reference model of check_train_grads.py: log π(o_t) = log_softmax(logits)[o_t], advantages
from the group's rewards (sample standard deviation), ρ = exp(log π − log π_old),
min(ρA, clip(ρ)A), kl = exp(ref − log π) − (ref − log π) − 1. The trainer's float64 build
(r1_train_tool grpo-grad: target_logprobs, grpo_sequence_loss, the weighted backward) must give the same
advantages, log-probabilities, loss, KL, clip fractions and parameter gradients. π_old and π_ref are
the model's own log-probabilities perturbed, so ratios fall on both sides of the clip range.

  check_grpo_grads.py --tool BUILD/tests/r1_train_tool --workdir DIR
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_train_grads as ref  # noqa: E402  (the reference model, its file I/O)

VARIANTS = {
    "grpo": dict(clip_low=0.2, clip_high=0.2, kl_beta=0.04, length_norm="sequence", advantage_std=True),
    "dr-grpo": dict(clip_low=0.2, clip_high=0.2, kl_beta=0.0, length_norm="constant", advantage_std=False),
    "dapo": dict(clip_low=0.2, clip_high=0.28, kl_beta=0.0, length_norm="token", advantage_std=True),
    "kl-token": dict(clip_low=0.1, clip_high=0.3, kl_beta=0.5, length_norm="token", advantage_std=False),
}
MAX_TOKENS = 12


def advantages(rewards, scale):
    r = torch.tensor(rewards)
    a = r - r.mean()
    return a / (r.std(unbiased=True) + 1e-4) if scale else a


def logprobs(cfg, W, tokens, targets):
    total, main, _, logits = ref.losses(cfg, W, torch.tensor(tokens), torch.tensor(targets))
    keep = torch.tensor(targets) >= 0
    lp = torch.log_softmax(logits, dim=-1)[keep, torch.tensor(targets)[keep]]
    return lp, total - main  # no MTP module: what is left of the total is the balance loss


def objective(o, lps, olds, refs, adv):
    n = len(lps)
    all_tokens = sum(len(x) for x in lps)
    loss, kl_sum, low, high = torch.zeros(()), 0.0, 0, 0
    for lp, old, rf, a in zip(lps, olds, refs, adv):
        rho = torch.exp(lp - old)
        unclipped, clipped = rho * a, torch.clamp(rho, 1 - o["clip_low"], 1 + o["clip_high"]) * a
        surrogate = torch.min(unclipped, clipped)
        d = rf - lp
        kl = torch.exp(d) - d - 1
        per_token = -(surrogate - o["kl_beta"] * kl)
        if o["length_norm"] == "sequence":
            loss = loss + per_token.sum() / (n * len(lp))
        elif o["length_norm"] == "token":
            loss = loss + per_token.sum() / all_tokens
        else:
            loss = loss + per_token.sum() / (n * MAX_TOKENS)
        kl_sum += float(kl.sum())
        taken = (clipped < unclipped).numpy()
        low += int((taken & (float(a) < 0)).sum())
        high += int((taken & (float(a) > 0)).sum())
    return loss, kl_sum / all_tokens, low / all_tokens, high / all_tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(5)
    cfg = dict(ref.CONFIGS["v3-moe-mtp"], num_nextn_predict_layers=0)
    cfg = {k: v for k, v in cfg.items() if v is not None}
    d = os.path.join(a.workdir, "model")
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "init.json"), "w") as f:
        json.dump(cfg, f)
    ref.run([a.tool, "init", os.path.join(d, "init.json"), d, "3"])  # writes config.json beside the weights
    W0 = ref.read_safetensors(os.path.join(d, "model.safetensors"))
    for k in W0:  # weights large enough that the distribution is far from uniform
        if k.endswith("e_score_correction_bias"):
            W0[k] = rng.uniform(-0.05, 0.05, W0[k].shape)
        elif not k.endswith("norm.weight"):
            W0[k] = W0[k] * 10
    W0 = {k: v.astype(np.float32).astype(np.float64) for k, v in W0.items()}
    ref.write_safetensors(os.path.join(d, "model.safetensors"), W0)

    # A group of three completions of one prompt, of different lengths, with different rewards.
    prompt = list(rng.integers(0, cfg["vocab_size"], 4))
    seqs = []
    for length, reward in ((5, 1.0), (8, 0.0), (6, 0.1)):
        full = prompt + list(rng.integers(0, cfg["vocab_size"], length))
        tokens, targets = full[:-1], full[1:]
        targets = [-1] * (len(prompt) - 1) + targets[len(prompt) - 1:]
        seqs.append({"tokens": [int(x) for x in tokens], "targets": [int(x) for x in targets], "reward": reward})
    W = {k: torch.tensor(v) for k, v in W0.items()}
    for s in seqs:
        lp, _ = logprobs(cfg, W, s["tokens"], s["targets"])
        # alternating signs, |shift| in [0.05, 0.6]: ratios inside and outside the clip range on both sides
        shift = rng.uniform(0.05, 0.6, len(lp)) * np.where(np.arange(len(lp)) % 2 == 0, 1.0, -1.0)
        s["old_logp"] = (lp + torch.tensor(shift)).tolist()
        s["ref_logp"] = (lp + torch.tensor(rng.normal(0, 0.5, len(lp)))).tolist()

    failures = 0
    for name, o in VARIANTS.items():
        W = {k: torch.tensor(v, requires_grad=True) for k, v in W0.items()}
        adv = advantages([s["reward"] for s in seqs], o["advantage_std"])
        lps, balance = [], torch.zeros(())
        for s in seqs:
            lp, bal = logprobs(cfg, W, s["tokens"], s["targets"])
            lps.append(lp)
            balance = balance + bal / len(seqs)  # the trainer's backward scale 1/n for the balance loss
        loss, kl, low, high = objective(o, lps, [torch.tensor(s["old_logp"]) for s in seqs],
                                        [torch.tensor(s["ref_logp"]) for s in seqs], adv)
        (loss + balance).backward()

        inp = {"alpha": ref.ALPHA, "options": dict(o, max_tokens=MAX_TOKENS), "sequences": seqs}
        path = os.path.join(a.workdir, f"{name}.json")
        with open(path, "w") as f:
            json.dump(inp, f)
        got = json.loads(ref.run([a.tool, "grpo-grad", d, path]))
        errs = {
            "advantages": np.max(np.abs(np.array(got["advantages"]) - adv.numpy())),
            "logp": max(np.max(np.abs(np.array(g) - lp.detach().numpy())) for g, lp in zip(got["logp"], lps)),
            "loss": abs(got["loss"] - float(loss)) / max(1e-12, abs(float(loss))),
            "kl": abs(got["kl"] - (kl if o["kl_beta"] > 0 else 0.0)),  # not computed without the KL term
            "clip": abs(got["clip_low_frac"] - low) + abs(got["clip_high_frac"] - high),
        }
        worst = (0.0, "")
        for pname, g in got["grads"].items():
            r = W[pname].grad
            r = np.zeros(W[pname].shape) if r is None else r.numpy()
            diff = np.max(np.abs(np.array(g).reshape(r.shape) - r)) / max(np.max(np.abs(r)), 1e-12)
            worst = max(worst, (diff, pname))
        ok = all(v <= 1e-10 for v in errs.values()) and worst[0] <= 1e-8 and len(got["grads"]) == len(W0)
        print(f"{'ok  ' if ok else 'FAIL'} {name}: loss {float(loss):+.6f} (rel err {errs['loss']:.1e}), "
              f"advantages {errs['advantages']:.1e}, logp {errs['logp']:.1e}, kl {errs['kl']:.1e}, "
              f"clip fractions low {low:.2f} high {high:.2f} (err {errs['clip']:.0e}), "
              f"worst gradient rel err {worst[0]:.2e} ({worst[1]})")
        failures += not ok
        if low == 0 or high == 0:
            print("FAIL: the perturbed ratios should clip on both sides")
            failures += 1
    ref.finish(failures)


if __name__ == "__main__":
    main()
