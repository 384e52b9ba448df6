#!/usr/bin/python3
"""Chat templates: `r1 template` must render byte-for-byte what Python's jinja2 renders.

The oracle renders exactly as transformers' apply_chat_template does (transformers/utils/
chat_template_utils.py): an ImmutableSandboxedEnvironment with trim_blocks=True, lstrip_blocks=True and
the loopcontrols extension; the globals raise_exception and strftime_now; the tojson filter replaced by
json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys); and
render(messages=..., tools=..., documents=None, add_generation_prompt=..., **special_tokens, **vars).

For every (template, conversation, variant): if jinja2 renders, r1's prompt must be identical bytes; if
jinja2 raises, r1 must fail too. The first difference is printed with its offset and context. All cases go
through one `r1 template --jsonl` process (hundreds of process starts under the sanitizers took minutes);
the first case with each feature (generation prompt, --var, tools, a raise) also through the single-case
command line, one process each, checked the same way.

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


def write_template_dir(workdir, index, source, tokens):
    """A model directory holding only tokenizer_config.json, as `r1 template` reads it."""
    tdir = os.path.join(workdir, f"template{index}")
    os.makedirs(tdir)
    with open(os.path.join(tdir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"chat_template": source, **tokens}, f, ensure_ascii=False)
    return tdir


def render_r1_jsonl(r1, cases):
    """Every case through one `r1 template --jsonl` process: [(returncode, stdout bytes, error)] as one
    single-case process each would give."""
    jobs = "".join(json.dumps({"model": c.tdir, "messages": c.conv["messages"], "tools": c.conv.get("tools"),
                               "add_generation_prompt": c.variant.get("add_generation_prompt", False),
                               "vars": c.variant.get("vars", {})}, ensure_ascii=False) + "\n" for c in cases)
    p = subprocess.run([r1, "template", "--jsonl"], input=jobs.encode("utf-8"), capture_output=True, timeout=600)
    if p.returncode != 0:
        sys.exit(f"FAIL: r1 template --jsonl exited {p.returncode}: {p.stderr.decode('utf-8', 'replace').strip()}")
    # Split on the newline byte only: the prompts may hold U+2028 or U+0085, which str.splitlines splits on.
    lines = p.stdout.split(b"\n")
    if lines[-1] != b"" or len(lines) - 1 != len(cases):
        sys.exit(f"FAIL: r1 template --jsonl answered {len(lines) - 1} lines for {len(cases)} jobs")
    results = []
    for line in lines[:-1]:
        r = json.loads(line)
        if "prompt" in r:
            results.append((0, r["prompt"].encode("utf-8"), ""))
        elif "prompt_hex" in r:
            results.append((0, bytes.fromhex(r["prompt_hex"]), ""))
        else:
            results.append((1, b"", r["error"]))
    return results


def render_r1(r1, workdir, case):
    """One case through the single-case command line, as a user runs it."""
    msgs = os.path.join(workdir, "messages.json")
    with open(msgs, "w", encoding="utf-8") as f:
        json.dump({"messages": case.conv["messages"], "tools": case.conv.get("tools")}, f, ensure_ascii=False)
    cmd = [r1, "template", case.tdir, "--messages", msgs]
    if case.variant.get("add_generation_prompt", False):
        cmd.append("--add-generation-prompt")
    for k, v in case.variant.get("vars", {}).items():
        cmd += ["--var", f"{k}={json.dumps(v, ensure_ascii=False)}"]
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace").strip()


def spot_checks(cases):
    """The few cases that also go through the single-case command line (one process each, so few): the
    first with each of its features -- the generation prompt, --var, tools, a template that raises."""
    wanted = [lambda c: c.variant.get("add_generation_prompt", False), lambda c: c.variant.get("vars"),
              lambda c: c.conv.get("tools") is not None, lambda c: c.oracle_error is not None]
    picked = []
    for pred in wanted:
        c = next((c for c in cases if pred(c)), None)
        if c is not None and c not in picked:
            picked.append(c)
    return picked


def check(label, want, oracle_error, rc, out, err):
    """What jinja2 did ("rendered" or "raised") and whether r1 failed to match it; prints the failure."""
    if oracle_error is not None:
        if rc == 0:
            print(f"FAIL {label}: jinja2 raised ({oracle_error}) but r1 rendered {len(out)} bytes")
            return "raised", True
        return "raised", False
    want_b = want.encode("utf-8")
    if rc != 0:
        print(f"FAIL {label}: jinja2 rendered {len(want_b)} bytes but r1 failed: {err}")
        return "rendered", True
    if out != want_b:
        k = first_difference(out, want_b)
        print(f"FAIL {label}: first difference at byte {k} (r1 {len(out)} bytes, jinja2 {len(want_b)})")
        print(f"  jinja2: {want_b[max(0, k - 60):k + 60]!r}")
        print(f"  r1:     {out[max(0, k - 60):k + 60]!r}")
        return "rendered", True
    return "rendered", False


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


class Case:
    def __init__(self, label, tdir, conv, variant, want, oracle_error):
        self.label, self.tdir, self.conv, self.variant = label, tdir, conv, variant
        self.want, self.oracle_error = want, oracle_error


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    ap.add_argument("--templates", default=os.path.join(HERE, "templates"))
    ap.add_argument("--conversations", default=os.path.join(HERE, "conversations"))
    ap.add_argument("--only", default="", help="run only templates whose name contains this")
    args = ap.parse_args()

    env = make_env()
    templates, convs = load_cases(args)
    counts = {"rendered": 0, "raised": 0}
    failures = 0
    with tempfile.TemporaryDirectory() as workdir:
        cases = []
        for ti, (tname, source, tokens) in enumerate(templates):
            if args.only and args.only not in tname:
                continue
            tdir = write_template_dir(workdir, ti, source, tokens)
            for cname, conv in convs:
                variants = conv.get("variants") or [{"add_generation_prompt": False}, {"add_generation_prompt": True}]
                for vi, variant in enumerate(variants):
                    label = f"{tname} x {cname} [variant {vi}: {json.dumps(variant)}]"
                    want, oracle_error = render_oracle(env, source, tokens, conv, variant)
                    cases.append(Case(label, tdir, conv, variant, want, oracle_error))
        for c, (rc, out, err) in zip(cases, render_r1_jsonl(args.r1, cases) if cases else []):
            kind, failed = check(c.label, c.want, c.oracle_error, rc, out, err)
            counts[kind] += 1
            failures += failed
        singles = spot_checks(cases)
        for c in singles:
            _, failed = check(c.label + " (single-case command line)", c.want, c.oracle_error,
                              *render_r1(args.r1, workdir, c))
            failures += failed
    print(f"chat templates: {counts['rendered']} renderings byte-equal to jinja2 {jinja2.__version__}, "
          f"{counts['raised']} cases where both raise (one r1 template --jsonl process; {len(singles)} of them "
          f"also through the single-case command line), {failures} failures")
    if counts["rendered"] == 0:
        print("FAIL: nothing was compared")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
