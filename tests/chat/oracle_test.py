#!/usr/bin/python3
"""Chat templates: `r1 template` must render byte-for-byte what Python's jinja2 renders.

The oracle renders exactly as transformers' apply_chat_template does (transformers/utils/
chat_template_utils.py): an ImmutableSandboxedEnvironment with trim_blocks=True, lstrip_blocks=True and
the loopcontrols extension; the globals raise_exception and strftime_now; the tojson filter replaced by
json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys); and
render(messages=..., tools=..., documents=None, add_generation_prompt=..., **special_tokens, **vars).

For every (template, conversation, variant): if jinja2 renders, r1's stdout must be identical bytes; if
jinja2 raises, r1 must fail too. The first difference is printed with its offset and context.

Usage: oracle_test.py --r1 PATH [--templates DIR] [--conversations DIR] [--only NAME]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render_oracle(env, source, tokens, conv, variant):
    try:
        template = env.from_string(source)
        kwargs = dict(tokens)
        kwargs.update(variant.get("vars", {}))
        return template.render(messages=conv["messages"], tools=conv.get("tools"), documents=None,
                               add_generation_prompt=variant.get("add_generation_prompt", False), **kwargs), None
    except Exception as e:  # noqa: BLE001 -- any failure of the oracle is a "raises" case
        return None, f"{type(e).__name__}: {e}"


def render_r1(r1, workdir, source, tokens, conv, variant):
    config = {"chat_template": source, **tokens}
    with open(os.path.join(workdir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False)
    msgs = os.path.join(workdir, "messages.json")
    with open(msgs, "w", encoding="utf-8") as f:
        json.dump({"messages": conv["messages"], "tools": conv.get("tools")}, f, ensure_ascii=False)
    cmd = [r1, "template", workdir, "--messages", msgs]
    if variant.get("add_generation_prompt", False):
        cmd.append("--add-generation-prompt")
    for k, v in variant.get("vars", {}).items():
        cmd += ["--var", f"{k}={json.dumps(v, ensure_ascii=False)}"]
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace").strip()


def first_difference(a, b):
    n = min(len(a), len(b))
    for k in range(n):
        if a[k] != b[k]:
            return k
    return n


def load_cases(args):
    with open(os.path.join(args.templates, "sources.json"), encoding="utf-8") as f:
        sources = json.load(f)
    templates = []
    for name, info in sources.items():
        with open(os.path.join(args.templates, info["file"]), encoding="utf-8", newline="") as f:
            templates.append((name, f.read(), info.get("tokens", {})))
    feature_dir = os.path.join(HERE, "features")
    if os.path.isdir(feature_dir):
        for fn in sorted(os.listdir(feature_dir)):
            if fn.endswith(".jinja"):
                with open(os.path.join(feature_dir, fn), encoding="utf-8", newline="") as f:
                    templates.append(("features/" + fn[:-6], f.read(), {"bos_token": "<s>", "eos_token": "</s>"}))
    convs = []
    for fn in sorted(os.listdir(args.conversations)):
        if fn.endswith(".json"):
            with open(os.path.join(args.conversations, fn), encoding="utf-8") as f:
                convs.append((fn[:-5], json.load(f)))
    return templates, convs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    ap.add_argument("--templates", default=os.path.join(HERE, "templates"))
    ap.add_argument("--conversations", default=os.path.join(HERE, "conversations"))
    ap.add_argument("--only", default="", help="run only templates whose name contains this")
    args = ap.parse_args()

    env = make_env()
    templates, convs = load_cases(args)
    rendered = raised = failures = 0
    with tempfile.TemporaryDirectory() as workdir:
        for tname, source, tokens in templates:
            if args.only and args.only not in tname:
                continue
            for cname, conv in convs:
                variants = conv.get("variants") or [{"add_generation_prompt": False}, {"add_generation_prompt": True}]
                for vi, variant in enumerate(variants):
                    label = f"{tname} x {cname} [variant {vi}: {json.dumps(variant)}]"
                    want, oracle_error = render_oracle(env, source, tokens, conv, variant)
                    rc, out, err = render_r1(args.r1, workdir, source, tokens, conv, variant)
                    if oracle_error is not None:
                        raised += 1
                        if rc == 0:
                            failures += 1
                            print(f"FAIL {label}: jinja2 raised ({oracle_error}) but r1 rendered {len(out)} bytes")
                        continue
                    rendered += 1
                    want_b = want.encode("utf-8")
                    if rc != 0:
                        failures += 1
                        print(f"FAIL {label}: jinja2 rendered {len(want_b)} bytes but r1 failed: {err}")
                        continue
                    if out != want_b:
                        failures += 1
                        k = first_difference(out, want_b)
                        print(f"FAIL {label}: first difference at byte {k} (r1 {len(out)} bytes, jinja2 {len(want_b)})")
                        print(f"  jinja2: {want_b[max(0, k - 60):k + 60]!r}")
                        print(f"  r1:     {out[max(0, k - 60):k + 60]!r}")
    print(f"chat templates: {rendered} renderings byte-equal to jinja2 {jinja2.__version__}, "
          f"{raised} cases where both raise, {failures} failures")
    if rendered == 0:
        print("FAIL: nothing was compared")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
