#!/usr/bin/python3
"""Reference CLI.

  ref.py logits MODEL_DIR --tokens 0,17,42        -> {"tokens": [...], "logits": [[...], ...]}
  ref.py greedy MODEL_DIR --tokens 0,17,42 -n 32  -> {"tokens": [32 generated ids]}
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # keep tests/reference free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_ref import Model  # noqa: E402


def parse_tokens(text):
    return [int(t) for t in text.split(",") if t.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["logits", "greedy"])
    ap.add_argument("model_dir")
    ap.add_argument("--tokens", required=True, type=parse_tokens, help="comma-separated token ids")
    ap.add_argument("-n", type=int, default=32, help="tokens to generate (greedy)")
    args = ap.parse_args()
    model = Model(args.model_dir)
    if args.mode == "logits":
        logits = model.logits(args.tokens)
        print(json.dumps({"tokens": args.tokens, "logits": [[float(v) for v in row] for row in logits]}))
    else:
        ids, _ = model.greedy(args.tokens, args.n)
        print(json.dumps({"tokens": ids}))


if __name__ == "__main__":
    main()
