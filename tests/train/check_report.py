#!/usr/bin/python3
"""`r1 report` on two synthetic run directories (a pretrain-like and a GRPO-like one), checking what the
report promises:

1. one self-contained HTML file: it parses, is well nested, has no script, no link, no src/href at all;
2. every string from the files is escaped (a rollout holding `<script>` and `&` shows as text);
3. a chart per metric the runs have (loss, reward, accuracy, eval accuracy, expert load, an unknown
   numeric field), the runs overlaid, each polyline with one point per metrics line (a truncated last
   line is skipped, not fatal);
4. the summary table has a row per run; the last rollout step is the one shown;
5. a directory without run.json is one line on stderr, `r1: error: ...`, and exit code 1.

  check_report.py --r1 BUILD/src/r1 --workdir DIR
"""
import argparse
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}
EVIL = "<script>alert('x & y')</script> & \"quoted\""


def check(cond, message):
    if not cond:
        print("FAIL:", message)
        sys.exit(1)
    print("ok  ", message)


def write_jsonl(path, rows, tail=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        f.write(tail)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def make_pretrain(d):
    write_json(os.path.join(d, "run.json"), {
        "stage": "pretrain", "config": {"model": {"hidden_size": 64}, "data": {"tasks": []}, "train": {"steps": 5}},
        "git_commit": "0123456789abcdef0123456789abcdef01234567", "build": "g++ Release", "machine": "test <box>",
        "threads": 2, "parameters": 165240, "train_examples": 300, "eval_examples": 16, "data_order": "mix",
        "timing": {"wall_s": 12.5, "cpu_s": 25.0, "cpu_hours": 25.0 / 3600}})
    metrics = [{"step": s, "loss": 6.0 - s * 0.3, "main_loss": 5.0 - s * 0.3, "mtp_loss": 5.1 - s * 0.2,
                "balance_loss": 0.0002, "lr": 1e-3 * s / 5, "grad_norm": 2.0 + 0.1 * s, "tokens": 1280,
                "tokens_per_s": 800.0 + s, "wall_s": 2.5 * s,
                "expert_load": [[10, 20, 30, 40], [25, 25, 25, 25]],
                "router_bias_range": [[-0.001 * s, 0.001 * s], [-0.002 * s, 0.002 * s]]} for s in range(1, 6)]
    # A run still writing: the last line is cut off; the report must skip it, not fail.
    write_jsonl(os.path.join(d, "metrics.jsonl"), metrics, tail='{"step": 6, "loss": 3.')
    write_jsonl(os.path.join(d, "eval.jsonl"), [{"step": 2, "eval_loss": 4.5}, {"step": 4, "eval_loss": 4.0}])
    write_jsonl(os.path.join(d, "data", "manifest.jsonl"), [
        {"file": "arithmetic.jsonl", "split": "train", "generator": "arithmetic", "version": 1, "seed": 1,
         "count": 300, "license": "CC0 & <friends>", "sha256": "ab" * 32, "options": {"max_digits": 2}},
        {"file": "tokenizer.json", "kind": "tokenizer", "sha256": "cd" * 32}])
    return len(metrics)


def make_grpo(d):
    write_json(os.path.join(d, "run.json"), {
        "stage": "grpo", "config": {"train": {"steps": 4}, "grpo": {"group": 4}}, "git_commit": "abc123",
        "machine": "test", "threads": 2, "parameters": 165240})
    metrics = [{"step": s, "loss": 0.1, "lr": 1e-4, "grad_norm": 0.5, "tokens": 512, "tokens_per_s": 300.0,
                "wall_s": 4.0 * s, "reward_mean": 0.2 * s, "reward_std": 0.3, "accuracy": 0.1 * s,
                "zero_adv_frac": 0.5, "response_len_mean": 40 + s, "entropy": 1.2, "kl": 0.01 * s,
                "clip_frac": 0.0, "my_metric": s * s} for s in range(1, 5)]
    write_jsonl(os.path.join(d, "metrics.jsonl"), metrics)
    write_jsonl(os.path.join(d, "eval.jsonl"), [
        {"step": 2, "accuracy": 0.25, "format_rate": 0.5, "by_task": {"arithmetic": {"accuracy": 0.25, "n": 8}}},
        {"step": 4, "accuracy": 0.5, "format_rate": 0.75, "by_task": {"arithmetic": {"accuracy": 0.5, "n": 8}}}])
    write_json(os.path.join(d, "eval", "final.json"), {
        "checkpoint": "checkpoints/step-4", "accuracy": 0.5, "format_rate": 0.75, "samples": 8, "temperature": 0.0,
        "by_task": {"arithmetic": {"accuracy": 0.5, "n": 8}}})
    roll = lambda step, text: {"group": 0, "prompt": f"User: what is 2+2? (step {step})", "completion": text,
                               "reward": {"total": 1.0, "accuracy": 1.0, "format": 1.0}, "advantage": 0.5}
    write_jsonl(os.path.join(d, "rollouts", "step-2.jsonl"), [roll(2, "OLD-ROLLOUT")])
    write_jsonl(os.path.join(d, "rollouts", "step-10.jsonl"), [roll(10, EVIL), roll(10, "<answer>4</answer>")])
    return len(metrics)


class Page(html.parser.HTMLParser):
    """Collects tags, attributes, nesting errors, svg ids with their polylines, and table rows as text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.attrs = [], [], []
        self.svgs = {}  # id -> list of (data-series, points)
        self.svg = None
        self.rows, self.row = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.attrs.append((tag, a))
        if tag == "svg" and a.get("id"):
            self.svg = a["id"]
            self.svgs[self.svg] = []
        if tag == "polyline" and self.svg:
            self.svgs[self.svg].append((a.get("data-series"), a.get("points", "")))
        if tag == "tr":
            self.row = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.attrs.append((tag, dict(attrs)))
        if tag == "polyline" and self.svg:
            self.svgs[self.svg].append((dict(attrs).get("data-series"), dict(attrs).get("points", "")))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag == "svg" and "svg" not in self.stack:
            self.svg = None
        if tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.row is not None:
            self.row.append(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    pre, rl = os.path.join(a.workdir, "pre"), os.path.join(a.workdir, "rl")
    n_pre, n_rl = make_pretrain(pre), make_grpo(rl)
    out = os.path.join(a.workdir, "report.html")

    res = subprocess.run([a.r1, "report", pre, rl + "/", "--out", out], capture_output=True, text=True, timeout=120)
    check(res.returncode == 0, f"r1 report exits 0 ({res.stderr.strip()})")
    with open(out, encoding="utf-8") as f:
        doc = f.read()
    page = Page()
    page.feed(doc)
    page.close()
    check(not page.errors and not page.stack, f"the HTML is well nested ({page.errors[:3]}, open: {page.stack})")
    check("<script" not in doc.lower(), "no <script> element")
    check(not any(t == "link" for t, _ in page.attrs), "no <link> element")
    refs = [(t, k, v) for t, at in page.attrs for k, v in at.items() if k in ("src", "href", "xlink:href")]
    check(not refs, f"no src/href attribute at all: nothing to fetch ({refs[:3]})")
    check(not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", doc) and "url(" not in doc,
          "no URL anywhere (no http(s) reference, no CSS url())")
    check("&lt;script&gt;alert(&#39;x &amp; y&#39;)&lt;/script&gt; &amp; &#34;quoted&#34;" in doc,
          "a rollout's <script> and & are escaped")
    check("test &lt;box&gt;" in doc and "CC0 &amp; &lt;friends&gt;" in doc, "run.json and manifest strings are escaped")
    check("OLD-ROLLOUT" not in doc and "(step 10)" in doc, "the last rollout step (10, not 2) is shown")

    for chart in ("chart-loss", "chart-reward", "chart-accuracy", "chart-eval-accuracy", "chart-eval-loss",
                  "chart-lr", "chart-kl", "chart-router-bias", "chart-metric-my_metric"):
        check(chart in page.svgs, f"an <svg> for {chart}")
    check(any(k.startswith("chart-expert-load") for k in page.svgs), "an <svg> of the expert load")
    loss = dict(page.svgs["chart-loss"])
    check(set(loss) == {"pre (pretrain)", "rl (grpo)"}, f"the loss chart overlays both runs ({sorted(loss)})")
    counts = {k: len(v.split()) for k, v in loss.items()}
    check(counts == {"pre (pretrain)": n_pre, "rl (grpo)": n_rl},
          f"a loss point per metrics line, the cut-off line skipped ({counts})")
    check(list(dict(page.svgs["chart-reward"])) == ["rl (grpo)"], "the reward chart has the GRPO run only")

    run_rows = [" ".join(r) for r in page.rows if r and r[0] in ("pre (pretrain)", "rl (grpo)")]
    check(any(r.startswith("pre (pretrain) pretrain 5 165240") for r in run_rows) and
          any(r.startswith("rl (grpo) grpo 4") for r in run_rows), "the summary table lists both runs")
    check("ab" * 6 in doc and "checkpoints/step-4" in doc, "the manifest and eval/*.json tables are there")

    res = subprocess.run([a.r1, "report", pre], capture_output=True, text=True, timeout=120)
    check(res.returncode == 0 and os.path.isfile(os.path.join(pre, "report.html")),
          "without --out the report goes to FIRST_RUN_DIR/report.html")

    empty = os.path.join(a.workdir, "empty")
    os.makedirs(empty)
    res = subprocess.run([a.r1, "report", pre, empty, "--out", out + ".2"], capture_output=True, text=True,
                         timeout=120)
    lines = res.stderr.strip().splitlines()
    check(res.returncode == 1 and len(lines) == 1 and lines[0].startswith("r1: error:") and "run.json" in lines[0],
          f"a directory without run.json: exit 1 and one line ({res.returncode}, {res.stderr.strip()!r})")
    check(not os.path.exists(out + ".2"), "no report is written then")
    print("all report checks passed")


if __name__ == "__main__":
    main()
