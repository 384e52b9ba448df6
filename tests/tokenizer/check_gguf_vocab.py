#!/usr/bin/env python3
"""GGUF tokenizer round trip on a real vocabulary.

    check_gguf_vocab.py --checker PATH/TO/r1_gguf_vocab_check --vocab deepseek-v3|deepseek-r1|qwen3|llama3.1

Fetches the pinned tokenizer files (fetch_tokenizers.sh), writes the exactness test lines (the same
lines as check_exact.py: corpus, multi-line chunks, seeded random lines with special-token strings)
and runs the checker, which compares gguf_vocab_from_dir -> tokenizer_from_gguf with
Tokenizer::from_dir on every line.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_exact  # noqa: E402  (the test lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checker", required=True)
    ap.add_argument("--vocab", required=True, choices=["deepseek-v3", "deepseek-r1", "qwen3", "llama3.1"])
    args = ap.parse_args()
    cache = subprocess.run(["bash", os.path.join(HERE, "fetch_tokenizers.sh")], check=True, capture_output=True,
                           text=True).stdout.strip().splitlines()[-1]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lines.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for line in check_exact.test_lines():
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
        p = subprocess.run([args.checker, os.path.join(cache, args.vocab), path], capture_output=True, text=True)
    sys.stdout.write(p.stdout + p.stderr)
    sys.exit(p.returncode)


if __name__ == "__main__":
    main()
