#!/usr/bin/env python3
"""End to end: a tiny synthesized DeepSeek-V3 model with the real DeepSeek-R1 tokenizer.

    check_run.py --r1 PATH/TO/r1 --workdir DIR

`r1 synth tiny-v3 --tokenizer` copies the tokenizer and grows the vocabulary to cover it; then
`r1 run -p "Hello"` must print exactly the text of the ids it generates (as `--ids-only` reports them,
decoded by `r1 tokenize --decode`), and `--stop` must end generation at the first token whose text
completes the stop string.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def r1(*args):
    p = subprocess.run(list(args), capture_output=True)
    if p.returncode != 0:
        sys.exit(f"FAILED: {' '.join(args)}:\n{p.stderr.decode(errors='replace')}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    cache = subprocess.run(["bash", os.path.join(HERE, "fetch_tokenizers.sh")], check=True, capture_output=True,
                           text=True).stdout.strip().splitlines()[-1]
    model = os.path.join(a.workdir, "tiny-v3-r1-tokenizer")
    r1(a.r1, "synth", "tiny-v3", model, "--layers", "2", "--tokenizer", os.path.join(cache, "deepseek-r1"))
    config = json.load(open(os.path.join(model, "config.json")))
    assert config["vocab_size"] >= 128815, config["vocab_size"]
    gen = ["-p", "Hello", "-n", "24", "--seed", "3", "--temp", "1.0", "--ignore-eos", "-q"]
    ids = json.loads(r1(a.r1, "run", model, *gen, "--ids-only"))
    text = r1(a.r1, "run", model, *gen).decode("utf-8")  # strict: the stream never splits a character
    expected = r1(a.r1, "tokenize", model, "--decode", ",".join(map(str, ids)), "--skip-special").decode("utf-8")
    if text != expected:
        sys.exit(f"FAILED: r1 run -p printed {text!r}\n  but its ids {ids} decode to {expected!r}")
    prompt = [int(l.split(b"\t")[0]) for l in r1(a.r1, "tokenize", model, "Hello", "--add-special").splitlines()]
    if prompt[0] != 0:
        sys.exit(f"FAILED: the prompt should start with BOS 0 (add_bos_token), got {prompt}")
    # A stop string that the 6th generated token completes: generation must stop right there.
    prefix6 = r1(a.r1, "tokenize", model, "--decode", ",".join(map(str, ids[:6])), "--skip-special").decode()
    prefix5 = r1(a.r1, "tokenize", model, "--decode", ",".join(map(str, ids[:5])), "--skip-special").decode()
    stop = prefix6[max(0, len(prefix5) - 2):].strip() or prefix6[-1:]
    stopped = json.loads(r1(a.r1, "run", model, *gen, "--ids-only", "--stop", stop))
    stop_at = next(n for n in range(1, len(ids) + 1)
                   if stop in r1(a.r1, "tokenize", model, "--decode", ",".join(map(str, ids[:n]))).decode())
    if stopped != ids[:stop_at]:
        sys.exit(f"FAILED: --stop {stop!r} gave {stopped}, expected the first {stop_at} of {ids}")
    print(f"r1 run -p 'Hello' on tiny-v3 + DeepSeek-R1 tokenizer: {len(ids)} tokens, text == decode(ids) "
          f"({text!r}); --stop {stop!r} stopped after {stop_at} tokens")


if __name__ == "__main__":
    main()
