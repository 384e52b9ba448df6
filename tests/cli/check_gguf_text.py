#!/usr/bin/python3
"""The text side of a GGUF file: a tiny DeepSeek-V3 model with the real R1 tokenizer and R1 chat template,
converted with `r1 convert`, must tokenize, render its chat template, chat and generate exactly as the
Hugging Face directory it came from (greedy, same weights: F32).

  check_gguf_text.py --r1 BUILD/r1 --workdir DIR
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEXTS = ["Hello world", "<｜User｜>What is 2+2?<｜Assistant｜><think>\n", "世界 🙂 naïve café\r\n\tcode()", "12345678901234"]


def run(cmd, stdin=None):
    res = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    if res.returncode != 0:
        print(f"FAIL: `{' '.join(cmd)}` exited {res.returncode}\n{res.stderr[-2000:]}")
        sys.exit(1)
    return res.stdout


def same(what, a, b):
    if a != b:
        print(f"FAIL: {what} differ:\n  directory: {a!r}\n  gguf:      {b!r}")
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    cache = run(["bash", os.path.join(ROOT, "tests/tokenizer/fetch_tokenizers.sh")]).strip().splitlines()[-1]
    model, gguf = os.path.join(a.workdir, "model"), os.path.join(a.workdir, "model.gguf")
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    run([a.r1, "synth", "tiny-v3", model, "--seed", "9", "--dtype", "f32", "--tokenizer", os.path.join(cache, "deepseek-r1")])
    cfg_path = os.path.join(model, "tokenizer_config.json")
    cfg = json.load(open(cfg_path, encoding="utf-8"))
    cfg["chat_template"] = open(os.path.join(ROOT, "tests/chat/templates/deepseek-r1.jinja"), encoding="utf-8").read()
    os.remove(cfg_path)
    json.dump(cfg, open(cfg_path, "w", encoding="utf-8"), ensure_ascii=False)
    run([a.r1, "convert", model, gguf, "--type", "f32", "-q"])

    lines = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in TEXTS)
    for flags in ([], ["--add-special"]):
        same(f"token ids {flags}", run([a.r1, "tokenize", model, "--jsonl", *flags], stdin=lines),
             run([a.r1, "tokenize", gguf, "--jsonl", *flags], stdin=lines))
    messages = os.path.join(a.workdir, "messages.json")
    json.dump([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
               {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello!"}, {"role": "user", "content": "2+2?"}],
              open(messages, "w", encoding="utf-8"))
    same("rendered prompts", run([a.r1, "template", model, "--messages", messages, "--add-generation-prompt"]),
         run([a.r1, "template", gguf, "--messages", messages, "--add-generation-prompt"]))
    gen = ["--temp", "0", "--max-tokens", "12", "--ignore-eos", "-q"]
    same("generated text", run([a.r1, "run", model, "-p", "Hello", *gen]), run([a.r1, "run", gguf, "-p", "Hello", *gen]))
    chat = ["--temp", "0", "--max-tokens", "10"]
    same("chat answers", run([a.r1, "chat", model, *chat], stdin="Hello there\nWhat is 2+2?\n"),
         run([a.r1, "chat", gguf, *chat], stdin="Hello there\nWhat is 2+2?\n"))
    print("gguf text: token ids, chat template, generation and chat identical to the HF directory")


if __name__ == "__main__":
    main()
