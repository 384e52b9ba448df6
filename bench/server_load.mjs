#!/usr/bin/env node
// Load and endurance benchmark of `r1 serve` (not a test: it reports numbers for bench/RESULTS.md).
//
// 1. Batching speed-up: total decode tokens/s of 16 concurrent greedy streams vs one stream.
// 2. Endurance: N concurrent streaming clients for D seconds, each looping over requests with random
//    prompt lengths and random max_tokens, a share of them cancelled mid-stream (the client aborts).
//    Checks: zero 5xx (and zero 429: the queue is sized for the clients), no leaked slots, queue
//    entries or KV blocks once idle (from /metrics), flat memory (server RSS sampled every 5 s).
//    Reports: total tokens/s, p50/p99 time to first token and inter-token latency.
//
//   node bench/server_load.mjs --r1 build/src/r1 --model DIR [--clients 32] [--duration 300]
//        [--parallel 16] [--ctx 1024] [--threads 2] [--json OUT.json]
import { spawn } from "node:child_process";
import fs from "node:fs";

const args = process.argv.slice(2);
const option = (name, fallback) => { const i = args.indexOf(name); return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback; };
const r1 = option("--r1", null), modelDir = option("--model", null);
if (!r1 || !modelDir) {
  console.error("usage: server_load.mjs --r1 PATH --model DIR [--clients N] [--duration S] [--parallel N] [--json OUT]");
  process.exit(2);
}
const clients = Number(option("--clients", "32"));
const duration = Number(option("--duration", "300"));
const parallel = option("--parallel", "16");
const ctx = option("--ctx", "1024");
const threads = option("--threads", "2");
const jsonOut = option("--json", null);

// Deterministic pseudo-random numbers (mulberry32), so runs are comparable.
function rng(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs, q) => {
  if (!xs.length) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

function startServer() {
  return new Promise((resolve, reject) => {
    const p = spawn(r1, ["serve", modelDir, "--port", "0", "--parallel", parallel, "--ctx", ctx, "--queue", String(clients * 2),
      "-t", threads], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) resolve({ url: m[1], pid: p.pid, process: p, stderr: () => err });
    });
    p.stderr.on("data", (d) => { err = (err + d).slice(-20000); });
    p.on("exit", (code) => reject(new Error(`r1 serve exited ${code}: ${err.slice(-2000)}`)));
  });
}

function rssMb(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

async function metrics(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const get = (name) => Number((text.match(new RegExp(`^${name} ([0-9.e+-]+)$`, "m")) ?? [])[1]);
  return {
    running: get("r1_running_sequences"), queue: get("r1_queue_length"), kvUsed: get("r1_kv_blocks_used"),
    generated: get("r1_generated_tokens_total"), steps: get("r1_decode_steps_total"),
  };
}

// One streamed chat request. Returns per-request timings; `cancelAfter` tokens then abort (0: never).
async function streamRequest(url, body, cancelAfter) {
  const ac = new AbortController();
  const t0 = performance.now();
  const r = { status: 0, tokens: 0, ttft: null, gaps: [], cancelled: false, error: null };
  let res;
  try {
    res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ...body, stream: true }), signal: ac.signal,
    });
  } catch (e) {
    r.error = String(e);
    return r;
  }
  r.status = res.status;
  if (res.status !== 200) {
    await res.text();
    return r;
  }
  const decoder = new TextDecoder();
  let buf = "", last = null;
  try {
    for await (const part of res.body) {
      buf += decoder.decode(part, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
        const chunk = JSON.parse(event.slice(6));
        if (chunk.error) r.error = chunk.error.message;
        const d = chunk.choices?.[0]?.delta;
        if (d && (d.content || d.reasoning_content)) {
          const now = performance.now();
          if (r.ttft === null) r.ttft = (now - t0) / 1000;
          else r.gaps.push((now - last) / 1000);
          last = now;
          r.tokens++;
          if (cancelAfter && r.tokens >= cancelAfter) {
            r.cancelled = true;
            ac.abort();
          }
        }
      }
    }
  } catch (e) {
    if (!r.cancelled) r.error = String(e);
  }
  return r;
}

function words(rand, n) {
  const vocab = ["the", "model", "reasons", "about", "numbers", "and", "answers", "carefully", "step", "by", "why", "how", "cats", "graph"];
  return Array.from({ length: n }, () => vocab[Math.floor(rand() * vocab.length)]).join(" ");
}

const server = await startServer();
const url = server.url;
const result = { machine: `${(await import("node:os")).cpus()[0].model}, ${(await import("node:os")).cpus().length} vCPU`,
  clients, duration_s: duration, parallel: Number(parallel), ctx: Number(ctx), threads: Number(threads) };
try {
  // ---- 1. batch-16 vs batch-1 decode throughput ----
  const greedy = (i) => ({ messages: [{ role: "user", content: `Question ${i}: ${words(rng(i), 8)}` }], max_tokens: 128, temperature: 0 });
  await streamRequest(url, greedy(99), 0);  // warm-up
  let t = performance.now(), tokens = 0;
  for (let i = 0; i < 4; i++) tokens += (await streamRequest(url, greedy(i), 0)).tokens;
  const tps1 = tokens / ((performance.now() - t) / 1000);
  t = performance.now();
  const batch = await Promise.all(Array.from({ length: 16 }, (_, i) => streamRequest(url, greedy(i), 0)));
  const tps16 = batch.reduce((a, r) => a + r.tokens, 0) / ((performance.now() - t) / 1000);
  result.decode_tps_batch1 = tps1;
  result.decode_tps_batch16 = tps16;
  result.batch_speedup = tps16 / tps1;
  console.log(`batch 1: ${tps1.toFixed(1)} tok/s, batch 16: ${tps16.toFixed(1)} tok/s, speed-up ${(tps16 / tps1).toFixed(2)}x`);

  // ---- 2. endurance ----
  const statuses = {};
  const ttfts = [], gaps = [];
  let completed = 0, cancelled = 0, errors = 0, generated = 0;
  const rss = [];
  const deadline = performance.now() + duration * 1000;
  const t0 = performance.now();
  const m0 = await metrics(url);
  const sampler = (async () => {
    while (performance.now() < deadline) {
      const m = await metrics(url);
      rss.push({ t: (performance.now() - t0) / 1000, rss_mb: rssMb(server.pid), running: m.running, queue: m.queue, kv_used: m.kvUsed });
      await sleep(5000);
    }
  })();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    const rand = rng(1000 + c);
    while (performance.now() < deadline) {
      const body = {
        messages: [{ role: "user", content: words(rand, 4 + Math.floor(rand() * 300)) }],
        max_tokens: 16 + Math.floor(rand() * 240), temperature: 0.8, top_p: 0.95, seed: Math.floor(rand() * 1e9),
      };
      const cancelAfter = rand() < 0.2 ? 1 + Math.floor(rand() * 40) : 0;
      const r = await streamRequest(url, body, cancelAfter);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.error) errors++;
      if (r.ttft !== null) ttfts.push(r.ttft);
      gaps.push(...r.gaps);
      generated += r.tokens;
      if (r.cancelled) cancelled++;
      else if (r.status === 200) completed++;
    }
  }));
  await sampler;
  const elapsed = (performance.now() - t0) / 1000;
  // Idle: every slot, queue entry and KV block must come back.
  let idle;
  for (let i = 0; i < 100; i++) {
    idle = await metrics(url);
    if (idle.running === 0 && idle.queue === 0 && idle.kvUsed === 0) break;
    await sleep(100);
  }
  const steady = rss.filter((s) => s.t >= 30);
  Object.assign(result, {
    elapsed_s: elapsed, statuses, requests_completed: completed, requests_cancelled: cancelled, stream_errors: errors,
    server_5xx: Object.entries(statuses).filter(([s]) => Number(s) >= 500).reduce((a, [, n]) => a + n, 0),
    client_tokens: generated, server_tokens: idle.generated - m0.generated,
    total_tps: (idle.generated - m0.generated) / elapsed,
    ttft_p50_s: quantile(ttfts, 0.5), ttft_p99_s: quantile(ttfts, 0.99),
    itl_p50_s: quantile(gaps, 0.5), itl_p99_s: quantile(gaps, 0.99),
    idle_running: idle.running, idle_queue: idle.queue, idle_kv_blocks_used: idle.kvUsed,
    rss_mb_first: steady[0]?.rss_mb, rss_mb_last: steady.at(-1)?.rss_mb, rss_mb_max: Math.max(...rss.map((s) => s.rss_mb)),
    samples: rss,
  });
  const ok = result.server_5xx === 0 && !statuses[429] && idle.running === 0 && idle.queue === 0 && idle.kvUsed === 0;
  result.ok = ok;
  console.log(JSON.stringify({ ...result, samples: undefined }, null, 1));
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(result, null, 1));
  process.exitCode = ok ? 0 : 1;
} finally {
  server.process.kill("SIGTERM");
}
