#!/usr/bin/python3
"""End-to-end check of `r1 chat` on a tiny random DeepSeek-V3 model with the real R1 tokenizer and
R1 chat template (greedy):

1. a second turn answered with the first turn's KV cache reused is identical to the same turn
   answered in a new process that prefills the whole saved history (--save / --load);
2. after /reset the answer equals a fresh session's.

  check_chat.py --r1 BUILD/r1 --workdir DIR
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(cmd, stdin=None):
    res = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    if res.returncode != 0:
        print(f"FAIL: `{' '.join(cmd)}` exited {res.returncode}\n{res.stderr[-2000:]}")
        sys.exit(1)
    return res.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    cache = run(["bash", os.path.join(ROOT, "tests/tokenizer/fetch_tokenizers.sh")]).strip().splitlines()[-1]
    model = os.path.join(a.workdir, "model")
    shutil.rmtree(model, ignore_errors=True)
    run([a.r1, "synth", "tiny-v3", model, "--seed", "5", "--tokenizer", os.path.join(cache, "deepseek-r1")])
    # The R1 chat template (forced <think>, earlier reasoning stripped) replaces V3's.
    cfg_path = os.path.join(model, "tokenizer_config.json")
    cfg = json.load(open(cfg_path, encoding="utf-8"))
    cfg["chat_template"] = open(os.path.join(ROOT, "tests/chat/templates/deepseek-r1.jinja"), encoding="utf-8").read()
    os.remove(cfg_path)  # may be a copy of a read-only cache file
    json.dump(cfg, open(cfg_path, "w", encoding="utf-8"), ensure_ascii=False)

    flags = ["--temp", "0", "--max-tokens", "12"]

    def chat(stdin, *extra):
        return run([a.r1, "chat", model, *flags, *extra], stdin=stdin).splitlines()

    # Two turns; the second reuses the first turn's cache.
    saved = os.path.join(a.workdir, "conversation.json")
    two = chat("Hello there\nWhat is 2+2?\n", "--save", saved)
    messages = json.load(open(saved, encoding="utf-8"))
    if len(two) != 2 or not all(two) or [m["role"] for m in messages] != ["user", "assistant"] * 2:
        print(f"FAIL: expected two answers and four saved messages, got {two!r}, {messages!r}")
        sys.exit(1)
    # The same second turn from scratch in a new process: the first turn is prefilled whole.
    first = os.path.join(a.workdir, "first_turn.json")
    json.dump(messages[:2], open(first, "w", encoding="utf-8"), ensure_ascii=False)
    again = chat("What is 2+2?\n", "--load", first)
    if again != [two[1]]:
        print(f"FAIL: second answer with the cache reused {two[1]!r} != from scratch {again!r}")
        sys.exit(1)
    # /reset drops the history: the next answer equals a fresh session's.
    reset = chat("Hello there\n/reset\nAgain\n")
    fresh = chat("Again\n")
    if len(reset) != 3 or reset[1] != "(history cleared)" or [reset[2]] != fresh:
        print(f"FAIL: after /reset got {reset!r}, a fresh session gives {fresh!r}")
        sys.exit(1)
    print("chat: cache-reusing turn identical to a fresh prefill; /reset starts over")


if __name__ == "__main__":
    main()
