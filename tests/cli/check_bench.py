#!/usr/bin/python3
"""`r1 bench` on the embedded default model (models/tiny-r1): one JSON object per test -- the prefill, and
the decode at each context depth -- with positive speeds and the fields the comparison scripts read, with
and without the warm-up runs; a depth beyond the model's context is one clear error. With --profile,
each test's stages (model/step_profile.h) are all there, add up to the time measured around the same runs,
and put the decode's extra time at a context depth in the attention, for MLA (tiny-r1) and GQA (a tiny
Qwen2 made with `r1 synth`).

  check_bench.py --r1 BUILD/r1
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models", "tiny-r1")


STAGES = ["attn_input", "attention", "attn_output", "ffn", "head", "other"]


def bench(r1, *args, model=MODEL, threads=2):
    p = subprocess.run([r1, "bench", model, "-t", str(threads), "--json", "--no-bandwidth", *args], capture_output=True, text=True,
                       timeout=300)
    return p.returncode, p.stdout, p.stderr


def check_profile(r1, model, label):
    """The stage profile of a prefill and of decodes at depths 0 and 1000. Timing enters only through sums
    that must hold on any machine (the stages partition the forward pass, which is most of a feed) and
    through the attention's growth with depth -- 20-30x here; a 2x floor, one thread (two threads on a
    machine busy with other tests wait for each other at every parallel loop: 0.3 ms a token of depth-0
    attention), and the run is retried before failing, so that one preemption landing in the short
    depth-0 attention cannot fail it."""
    for attempt in range(3):
        rc, out, err = bench(r1, "-p", "16", "-n", "16", "-r", "2", "-d", "0,1000", "--profile", model=model, threads=1)
        if rc != 0:
            sys.exit(f"{label}: r1 bench --profile failed ({rc}): {err}")
        rows = {r["test"]: r for r in (json.loads(line) for line in out.splitlines() if line.startswith("{"))}
        if sorted(rows) != ["pp16", "tg16", "tg16@d1000"]:
            sys.exit(f"{label}: tests {sorted(rows)}")
        for test, r in rows.items():
            prof, measured = r.get("profile_ms_per_token"), r.get("measured_ms_per_token", 0)
            if prof is None or list(prof) != STAGES or min(prof.values()) < 0 or not measured > 0:
                sys.exit(f"{label} {test}: bad profile {r}")
            for stage in ("attn_input", "attention", "ffn", "head"):
                if not prof[stage] > 0:
                    sys.exit(f"{label} {test}: stage {stage} took no time: {prof}")
            total = sum(prof.values())
            if not 0.5 * measured <= total <= measured:
                sys.exit(f"{label} {test}: the stages add up to {total:.4f} ms per token, measured {measured:.4f}")
        shallow, deep = rows["tg16"]["profile_ms_per_token"], rows["tg16@d1000"]["profile_ms_per_token"]
        if deep["attention"] > 2 * shallow["attention"]:
            print(f"{label} --profile: attention {shallow['attention']:.4f} -> {deep['attention']:.4f} ms per token "
                  f"at depth 1000; stages add up to {sum(deep.values()):.4f} of {rows['tg16@d1000']['measured_ms_per_token']:.4f}")
            return
        print(f"{label}: attention {shallow['attention']:.4f} ms at depth 0, {deep['attention']:.4f} at 1000: again")
    sys.exit(f"{label}: the decode's attention stage did not grow with the context depth")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    a = ap.parse_args()
    for extra in ([], ["--no-warmup"]):
        rc, out, err = bench(a.r1, "-p", "16", "-n", "4", "-r", "2", "-d", "0,40", "--cache-type", "q8", *extra)
        if rc != 0:
            sys.exit(f"r1 bench {extra} failed ({rc}): {err}")
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        tests = [r["test"] for r in rows]
        if tests != ["pp16", "tg4", "tg4@d40"]:
            sys.exit(f"r1 bench {extra}: tests {tests}, expected pp16, tg4, tg4@d40")
        for r in rows:
            if not (r["tokens_per_s"] > 0 and r["threads"] == 2 and r["cache_type"] == "q8" and r["peak_rss_mb"] > 0):
                sys.exit(f"r1 bench {extra}: bad row {r}")
        print(f"r1 bench {' '.join(extra) or '(warm-up runs)'}: " + ", ".join(f"{r['test']} {r['tokens_per_s']:.0f} t/s" for r in rows))
    rc, out, err = bench(a.r1, "-p", "0", "-n", "4", "-d", "100000000")
    if rc == 0 or "exceed the model's context" not in err:
        sys.exit(f"r1 bench at a depth past the context: rc {rc}, stderr {err!r}")
    print("a depth past the context:", err.strip().splitlines()[-1])

    check_profile(a.r1, MODEL, "tiny-r1 (MLA)")
    with tempfile.TemporaryDirectory() as tmp:
        qwen = os.path.join(tmp, "tiny-qwen2")
        p = subprocess.run([a.r1, "synth", "tiny-qwen2", qwen, "--seed", "1"], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            sys.exit(f"r1 synth tiny-qwen2 failed: {p.stderr}")
        check_profile(a.r1, qwen, "tiny-qwen2 (GQA)")


if __name__ == "__main__":
    main()
