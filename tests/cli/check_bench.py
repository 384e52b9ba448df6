#!/usr/bin/python3
"""`r1 bench` on the embedded default model (models/tiny-r1): one JSON object per test -- the prefill, and
the decode at each context depth -- with positive speeds and the fields the comparison scripts read, with
and without the warm-up runs; a depth beyond the model's context is one clear error.

  check_bench.py --r1 BUILD/r1
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models", "tiny-r1")


def bench(r1, *args):
    p = subprocess.run([r1, "bench", MODEL, "-t", "2", "--json", "--no-bandwidth", *args], capture_output=True, text=True,
                       timeout=300)
    return p.returncode, p.stdout, p.stderr


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


if __name__ == "__main__":
    main()
