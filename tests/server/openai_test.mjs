#!/usr/bin/env node
// `r1 serve` with the official `openai` npm client (pinned in tests/server/npm), unmodified, on a tiny
// random DeepSeek-V3 with the real R1 tokenizer and template (tests/server/make_model.sh):
//   chat (non-streamed and streamed; the streamed deltas add up to the non-streamed message), usage,
//   reasoning_content split (and inline with reasoning_format "none"), forced tool calls whose
//   arguments follow the parameters schema (streamed as deltas too), response_format json_object and
//   json_schema (the output parses and validates), logprobs, stop strings, seeds, /v1/completions,
//   /v1/models, /health, /metrics; greedy outputs identical alone and inside a batch of 16; a client
//   that goes away frees its slot; every error case answers the OpenAI error object with the right status.
//
//   node tests/server/openai_test.mjs --r1 build/src/r1 --model DIR [--npm NODE_MODULES_PARENT]
import { spawn, execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => { const i = args.indexOf(name); return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback; };
const r1 = option("--r1", null), modelDir = option("--model", null);
if (!r1 || !modelDir) {
  console.error("usage: openai_test.mjs --r1 PATH --model DIR [--npm DIR]");
  process.exit(2);
}
const npmDir = option("--npm", null) ??
  execFileSync("bash", [path.join(here, "fetch_npm.sh")], { encoding: "utf8" }).trim().split("\n").pop();
const { default: OpenAI } = await import(pathToFileURL(path.join(npmDir, "node_modules/openai/index.mjs")).href);

const servers = [];
let failures = 0, passed = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function check(cond, message) { if (!cond) throw new Error(message); }
function eq(a, b, message) {
  const ja = JSON.stringify(a), jb = JSON.stringify(b);
  if (ja !== jb) throw new Error(`${message}: ${ja.slice(0, 300)} != ${jb.slice(0, 300)}`);
}

// Starts `r1 serve MODEL --port 0 ...extra` and resolves with its base URL once it listens.
function startServer(extra) {
  return new Promise((resolve, reject) => {
    const p = spawn(r1, ["serve", modelDir, "--port", "0", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
    servers.push(p);
    let out = "", err = "";
    const timer = setTimeout(() => reject(new Error(`r1 serve did not start in 60 s:\n${err.slice(-2000)}`)), 60000);
    p.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) { clearTimeout(timer); resolve({ url: m[1], process: p, log: () => err }); }
    });
    p.stderr.on("data", (d) => { err += d; });
    p.on("exit", (code) => { clearTimeout(timer); reject(new Error(`r1 serve exited ${code}:\n${err.slice(-2000)}`)); });
  });
}

async function metric(url, name, headers = {}) {
  const text = await (await fetch(`${url}/metrics`, { headers })).text();
  const m = text.match(new RegExp(`^${name} ([0-9.e+-]+)$`, "m"));
  return m ? Number(m[1]) : NaN;
}

async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e.stack ?? e}`);
  }
}

// Raw HTTP for what the client library refuses to send (malformed JSON, wrong types).
async function raw(url, pathName, body, headers = {}) {
  const res = await fetch(`${url}${pathName}`, {
    method: "POST", headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text, headers: res.headers };
}

function expectError(r, status, param, what) {
  check(r.status === status, `${what}: status ${r.status}, expected ${status}: ${r.text.slice(0, 300)}`);
  const e = r.json?.error;
  check(e && typeof e.message === "string" && e.message.length > 0, `${what}: no OpenAI error object: ${r.text.slice(0, 300)}`);
  check("type" in e && "param" in e && "code" in e, `${what}: error object lacks type/param/code`);
  if (param !== undefined) check(e.param === param, `${what}: param ${e.param}, expected ${param}`);
}

// A validator for the JSON Schema subset the tests use (independent of the server's grammar).
function validate(value, schema, where = "$") {
  if (schema.enum) check(schema.enum.some((v) => JSON.stringify(v) === JSON.stringify(value)), `${where}: ${JSON.stringify(value)} not in enum`);
  const type = schema.type;
  if (type === "object") {
    check(value && typeof value === "object" && !Array.isArray(value), `${where}: not an object`);
    for (const k of schema.required ?? []) check(k in value, `${where}: missing required '${k}'`);
    for (const [k, v] of Object.entries(value)) {
      const sub = schema.properties?.[k];
      if (!sub) check(schema.additionalProperties !== false, `${where}: unexpected property '${k}'`);
      else validate(v, sub, `${where}.${k}`);
    }
  } else if (type === "array") {
    check(Array.isArray(value), `${where}: not an array`);
    if (schema.maxItems !== undefined) check(value.length <= schema.maxItems, `${where}: too many items`);
    if (schema.minItems !== undefined) check(value.length >= schema.minItems, `${where}: too few items`);
    value.forEach((v, i) => validate(v, schema.items, `${where}[${i}]`));
  } else if (type === "string") {
    check(typeof value === "string", `${where}: not a string`);
    if (schema.maxLength !== undefined) check([...value].length <= schema.maxLength, `${where}: longer than ${schema.maxLength}`);
  } else if (type === "integer") {
    check(Number.isInteger(value), `${where}: not an integer`);
  } else if (type === "number") {
    check(typeof value === "number", `${where}: not a number`);
  } else if (type === "boolean") {
    check(typeof value === "boolean", `${where}: not a boolean`);
  }
}

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["celsius", "fahrenheit"] } },
      required: ["city", "unit"],
      additionalProperties: false,
    },
  },
};
const personSchema = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 16 },
    age: { type: "integer" },
    member: { type: "boolean" },
    tags: { type: "array", items: { type: "string", maxLength: 6 }, maxItems: 3 },
  },
  required: ["name", "age", "member", "tags"],
  additionalProperties: false,
};

async function collect(stream) {
  const msg = { role: null, reasoning: "", content: "", toolCalls: [], finish: null, usage: null, chunks: 0, logprobs: [] };
  for await (const chunk of stream) {
    msg.chunks++;
    if (chunk.usage) msg.usage = chunk.usage;
    for (const c of chunk.choices) {
      const d = c.delta ?? {};
      if (d.role) msg.role = d.role;
      if (d.reasoning_content) msg.reasoning += d.reasoning_content;
      if (d.content) msg.content += d.content;
      for (const t of d.tool_calls ?? []) {
        if (!msg.toolCalls[t.index]) msg.toolCalls[t.index] = { id: t.id, name: "", arguments: "" };
        if (t.function?.name) msg.toolCalls[t.index].name += t.function.name;
        if (t.function?.arguments) msg.toolCalls[t.index].arguments += t.function.arguments;
      }
      if (c.logprobs?.content) msg.logprobs.push(...c.logprobs.content);
      if (c.finish_reason) msg.finish = c.finish_reason;
    }
  }
  return msg;
}

try {
  const main = await startServer(["--parallel", "16", "--ctx", "512", "--queue", "64", "--alias", "tiny-r1"]);
  const url = main.url;
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
  const hello = [{ role: "user", content: "What is 17 * 3? Think step by step." }];

  await test("models, health", async () => {
    const models = await client.models.list();
    eq(models.data.map((m) => m.id), ["tiny-r1"], "model ids");
    const m = await client.models.retrieve("tiny-r1");
    eq(m.id, "tiny-r1", "retrieve");
    const h = await (await fetch(`${url}/health`)).json();
    eq(h.status, "ok", "health");
  });

  let greedy;
  await test("chat, non-streamed: reasoning_content split and usage", async () => {
    const r = await client.chat.completions.create({ model: "tiny-r1", messages: hello, max_tokens: 24, temperature: 0 });
    greedy = r;
    eq(r.object, "chat.completion", "object");
    const c = r.choices[0];
    eq(c.finish_reason, "length", "finish_reason");
    eq(c.message.role, "assistant", "role");
    // R1's template opens <think> in the prompt, so these 24 tokens are all reasoning.
    check(c.message.reasoning_content.length > 0, "no reasoning_content");
    check(!c.message.reasoning_content.includes("<think>") && !c.message.reasoning_content.includes("</think>"), "think tags in reasoning");
    eq(c.message.content, "", "content while still thinking");
    eq(r.usage.completion_tokens, 24, "completion_tokens");
    eq(r.usage.completion_tokens_details.reasoning_tokens, 24, "reasoning_tokens");
    eq(r.usage.total_tokens, r.usage.prompt_tokens + 24, "total_tokens");
    check(r.usage.prompt_tokens > 5, "prompt_tokens");
  });

  await test("chat, streamed: deltas add up to the non-streamed message; include_usage", async () => {
    const s = await client.chat.completions.create({
      model: "tiny-r1", messages: hello, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    const m = await collect(s);
    eq(m.role, "assistant", "role");
    check(m.chunks >= 10, `only ${m.chunks} chunks: not streamed token by token`);
    eq(m.reasoning, greedy.choices[0].message.reasoning_content, "streamed reasoning");
    eq(m.content, greedy.choices[0].message.content, "streamed content");
    eq(m.finish, "length", "finish_reason");
    eq(m.usage?.completion_tokens, 24, "usage chunk");
  });

  await test("reasoning budget: the thinking closes and the answer goes to content", async () => {
    const r = await client.chat.completions.create({ model: "tiny-r1", messages: hello, max_tokens: 30, temperature: 0, reasoning_budget: 6 });
    const msg = r.choices[0].message;
    check(msg.reasoning_content.length > 0, "no reasoning");
    check(msg.content.length > 0, "no content after the reasoning");
    check(!msg.content.includes("</think>") && !msg.reasoning_content.includes("</think>"), "close tag leaked");
    eq(r.usage.completion_tokens_details.reasoning_tokens, 7, "reasoning tokens (6 + the close tag)");
    // reasoning_format "none": the same text inline, tags included.
    const inline = await client.chat.completions.create({
      model: "tiny-r1", messages: hello, max_tokens: 30, temperature: 0, reasoning_budget: 6, reasoning_format: "none",
    });
    const text = inline.choices[0].message.content;
    check(text.startsWith("<think>") && text.includes("</think>"), `inline text lacks the tags: ${text.slice(0, 80)}`);
    check(inline.choices[0].message.reasoning_content === undefined, "reasoning_content in inline mode");
    check(text.includes(msg.content), "inline text lacks the answer");
  });

  await test("forced tool call: arguments follow the schema; streamed deltas agree", async () => {
    const req = {
      model: "tiny-r1", messages: [{ role: "user", content: "Weather in Paris?" }], max_tokens: 120, temperature: 1, seed: 7,
      reasoning_budget: 4, tools: [weatherTool], tool_choice: { type: "function", function: { name: "get_weather" } },
    };
    const r = await client.chat.completions.create(req);
    const c = r.choices[0];
    eq(c.finish_reason, "tool_calls", "finish_reason");
    eq(c.message.tool_calls.length, 1, "one call");
    const call = c.message.tool_calls[0];
    eq(call.type, "function", "type");
    eq(call.function.name, "get_weather", "name");
    check(call.id.startsWith("call_"), "call id");
    validate(JSON.parse(call.function.arguments), weatherTool.function.parameters);
    eq(c.message.content, null, "content of a tool-call message");
    const m = await collect(await client.chat.completions.create({ ...req, stream: true }));
    eq(m.toolCalls.length, 1, "streamed calls");
    eq(m.toolCalls[0].name, "get_weather", "streamed name");
    eq(m.toolCalls[0].arguments, call.function.arguments, "streamed arguments");
    eq(m.finish, "tool_calls", "streamed finish_reason");
    // The tool result goes back through the template.
    const next = await client.chat.completions.create({
      model: "tiny-r1", max_tokens: 4, temperature: 0, tools: [weatherTool],
      messages: [...req.messages, { role: "assistant", content: null, tool_calls: [call] },
        { role: "tool", tool_call_id: call.id, content: "{\"temp\": 21}" }],
    });
    eq(next.choices[0].finish_reason, "length", "turn after the tool result");
  });

  await test("response_format json_schema and json_object: output parses and validates", async () => {
    for (const seed of [1, 2, 3]) {
      const r = await client.chat.completions.create({
        model: "tiny-r1", messages: [{ role: "user", content: "A person, as JSON." }], max_tokens: 200, temperature: 1, seed,
        reasoning_budget: 3, response_format: { type: "json_schema", json_schema: { name: "person", schema: personSchema, strict: true } },
      });
      eq(r.choices[0].finish_reason, "stop", `finish_reason (seed ${seed})`);
      validate(JSON.parse(r.choices[0].message.content), personSchema);
    }
    const o = await client.chat.completions.create({
      model: "tiny-r1", messages: [{ role: "user", content: "JSON please" }], max_tokens: 300, temperature: 0.7, seed: 5,
      reasoning_budget: 3, response_format: { type: "json_object" },
    });
    if (o.choices[0].finish_reason === "stop") {
      const v = JSON.parse(o.choices[0].message.content);
      check(v && typeof v === "object" && !Array.isArray(v), "json_object gave no object");
    } else {
      // A free-form object may not close within the budget; what came must still be a valid prefix.
      check(o.choices[0].message.content.trimStart().startsWith("{"), "json_object output does not start an object");
    }
  });

  await test("logprobs and top_logprobs", async () => {
    const r = await client.chat.completions.create({ model: "tiny-r1", messages: hello, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 });
    const lp = r.choices[0].logprobs.content;
    eq(lp.length, 6, "one entry per token");
    for (const e of lp) {
      check(e.logprob <= 0, "logprob > 0");
      eq(e.top_logprobs.length, 3, "top_logprobs count");
      // Greedy: the chosen token is the most likely one.
      check(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-5, "greedy token is not the top one");
      check(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob && e.top_logprobs[1].logprob >= e.top_logprobs[2].logprob, "not sorted");
      check(Array.isArray(e.bytes), "bytes");
    }
  });

  await test("stop strings end the output before the match", async () => {
    const full = greedy.choices[0].message.reasoning_content;
    const cut = Math.floor(full.length / 2);
    const stop = full.slice(cut, cut + 3);
    const r = await client.chat.completions.create({ model: "tiny-r1", messages: hello, max_tokens: 24, temperature: 0, stop: [stop] });
    eq(r.choices[0].finish_reason, "stop", "finish_reason");
    eq(r.choices[0].message.reasoning_content, full.slice(0, full.indexOf(stop)).trimEnd(), "text before the stop string");
  });

  await test("seeded sampling repeats; different seeds differ", async () => {
    const ask = (seed) => client.chat.completions.create({ model: "tiny-r1", messages: hello, max_tokens: 16, temperature: 1, seed })
      .then((r) => r.choices[0].message.reasoning_content);
    const [a, b, c] = [await ask(42), await ask(42), await ask(43)];
    eq(a, b, "same seed");
    check(a !== c, "different seeds gave the same text");
  });

  await test("/v1/completions: text, streaming, echo", async () => {
    const r = await client.completions.create({ model: "tiny-r1", prompt: "The capital of France is", max_tokens: 8, temperature: 0 });
    eq(r.object, "text_completion", "object");
    eq(r.usage.completion_tokens, 8, "completion_tokens");
    const s = await client.completions.create({ model: "tiny-r1", prompt: "The capital of France is", max_tokens: 8, temperature: 0, stream: true });
    let text = "";
    for await (const c of s) text += c.choices[0]?.text ?? "";
    eq(text, r.choices[0].text, "streamed text");
    const e = await client.completions.create({ model: "tiny-r1", prompt: "The capital of France is", max_tokens: 8, temperature: 0, echo: true });
    eq(e.choices[0].text, "The capital of France is" + r.choices[0].text, "echo");
  });

  await test("greedy outputs are identical alone and in a batch of 16", async () => {
    const prompts = Array.from({ length: 16 }, (_, i) => [{ role: "user", content: `Question ${i}: ${"why ".repeat(i + 1)}` }]);
    const ask = (messages) => client.chat.completions.create({ model: "tiny-r1", messages, max_tokens: 20, temperature: 0 })
      .then((r) => r.choices[0].message.reasoning_content + "|" + r.choices[0].message.content);
    const alone = [];
    for (const p of prompts) alone.push(await ask(p));
    const before = await metric(url, "r1_decode_steps_total");
    const together = await Promise.all(prompts.map(ask));
    const steps = (await metric(url, "r1_decode_steps_total")) - before;
    for (let i = 0; i < 16; i++) eq(together[i], alone[i], `request ${i}`);
    // 16 x 20 tokens alone would take >= 320 steps; batched they share steps.
    check(steps < 160, `${steps} steps for 16 concurrent requests: they did not run as a batch`);
  });

  await test("prefix cache: a repeated conversation reuses cached blocks", async () => {
    const sys = { role: "system", content: "You are a careful assistant. ".repeat(12) };
    const ask = () => client.chat.completions.create({ model: "tiny-r1", messages: [sys, ...hello], max_tokens: 4, temperature: 0 });
    const a = await ask();
    const b = await ask();
    eq(a.usage.prompt_tokens_details.cached_tokens, 0, "first request cached tokens");
    check(b.usage.prompt_tokens_details.cached_tokens >= 64, `second request reused only ${b.usage.prompt_tokens_details.cached_tokens} tokens`);
    eq(b.choices[0].message, a.choices[0].message, "same answer from cached blocks");
  });

  await test("a client that goes away frees its slot and blocks", async () => {
    const ac = new AbortController();
    const s = await client.chat.completions.create({ model: "tiny-r1", messages: hello, max_tokens: 400, stream: true }, { signal: ac.signal });
    let n = 0;
    try {
      for await (const _ of s) { if (++n === 5) ac.abort(); }
    } catch { /* aborted */ }
    const t0 = Date.now();
    while ((await metric(url, "r1_running_sequences")) !== 0) {
      check(Date.now() - t0 < 5000, "slot still running 5 s after the client left");
      await sleep(50);
    }
    eq(await metric(url, "r1_kv_blocks_used"), 0, "KV blocks still held");
  });

  await test("metrics: the Prometheus families exist", async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const name of ["r1_requests_total", "r1_prompt_tokens_total", "r1_generated_tokens_total", "r1_queue_length",
      "r1_running_sequences", "r1_kv_cache_usage_ratio", "r1_prefix_cache_hit_rate",
      "r1_time_to_first_token_seconds_bucket", "r1_inter_token_latency_seconds_bucket"]) {
      check(text.includes(`\n${name}`) || text.startsWith(name), `missing ${name}`);
    }
    check(/r1_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} \d+/.test(text), "no 200 count for chat");
  });

  await test("errors: the OpenAI error object with the right status", async () => {
    const ok = { model: "tiny-r1", messages: hello, max_tokens: 2 };
    expectError(await raw(url, "/v1/chat/completions", "{\"messages\": [", {}), 400, null, "malformed JSON");
    expectError(await raw(url, "/v1/chat/completions", "[1,2]"), 400, null, "not an object");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, temperature: "hot" }), 400, "temperature", "wrong type");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, temperature: 2.5 }), 400, "temperature", "temperature out of range");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, top_p: 0 }), 400, "top_p", "top_p 0");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, max_tokens: 0 }), 400, "max_tokens", "max_tokens 0");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, presence_penalty: 3 }), 400, "presence_penalty", "penalty");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, n: 2 }), 400, "n", "n > 1");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, temprature: 1 }), 400, "temprature", "unknown field");
    expectError(await raw(url, "/v1/chat/completions", { model: "tiny-r1" }), 400, "messages", "missing messages");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, messages: [] }), 400, "messages", "empty messages");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, messages: [{ role: "wizard", content: "x" }] }), 400, "messages[0].role", "bad role");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }),
      400, "messages[0].content[0].type", "image content");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, top_logprobs: 3 }), 400, "top_logprobs", "top_logprobs without logprobs");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, tool_choice: "required" }), 400, "tool_choice", "tool_choice without tools");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, response_format: { type: "yaml" } }), 400, "response_format.type", "bad format");
    expectError(await raw(url, "/v1/chat/completions",
      { ...ok, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", pattern: "^a+$" } } } }),
      400, "response_format.json_schema.schema", "unsupported schema keyword");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, stream_options: { include_usage: true } }), 400, "stream_options", "stream_options without stream");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, model: "gpt-4o" }), 404, "model", "unknown model");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, model: "../../etc/passwd" }), 404, "model", "a path as model");
    const long = [{ role: "user", content: "word ".repeat(600) }];
    const tooLong = await raw(url, "/v1/chat/completions", { ...ok, messages: long });
    expectError(tooLong, 400, "messages", "prompt over the context");
    eq(tooLong.json.error.code, "context_length_exceeded", "context error code");
    expectError(await raw(url, "/v1/chat/completions", { ...ok, max_tokens: 100000 }), 400, "max_tokens", "max_tokens over the context");
    expectError(await raw(url, "/v1/completions", { model: "tiny-r1", prompt: ["a", "b"] }), 400, "prompt", "two prompts");
    expectError(await raw(url, "/v1/completions", { model: "tiny-r1", prompt: "" }), 400, "prompt", "empty prompt");
    expectError(await raw(url, "/v1/nothing", {}), 404, null, "unknown URL");
    const big = await raw(url, "/v1/chat/completions", JSON.stringify({ ...ok, messages: [{ role: "user", content: "x".repeat(9 << 20) }] }));
    expectError(big, 413, null, "body over the size limit");
    // The client library turns these into its typed errors, unchanged.
    try {
      await client.chat.completions.create({ ...ok, model: "nope" });
      throw new Error("no error for an unknown model");
    } catch (e) {
      eq(e.status, 404, "client error status");
      eq(e.code, "model_not_found", "client error code");
    }
    // Still serving after all that.
    const r = await client.chat.completions.create(ok);
    eq(r.choices[0].finish_reason, "length", "still serving");
  });

  // A second server: one slot, one queue place, an API key.
  const small = await startServer(["--parallel", "1", "--queue", "1", "--ctx", "256", "--api-key", "sekret"]);
  await test("API key, queue full (429 + Retry-After), server stays up", async () => {
    const noKey = await raw(small.url, "/v1/chat/completions", { messages: hello, max_tokens: 2 });
    expectError(noKey, 401, null, "no API key");
    const wrong = await raw(small.url, "/v1/chat/completions", { messages: hello, max_tokens: 2 }, { Authorization: "Bearer nope" });
    expectError(wrong, 401, null, "wrong API key");
    const metricsNoKey = await fetch(`${small.url}/metrics`);
    eq(metricsNoKey.status, 401, "/metrics without the key");
    const c = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: "sekret", maxRetries: 0 });
    const auth = { Authorization: "Bearer sekret" };
    const waitFor = async (what, fn) => {
      const t0 = Date.now();
      while (!(await fn())) {
        check(Date.now() - t0 < 20000, `timed out waiting for ${what}`);
        await sleep(25);
      }
    };
    // One request takes the slot, the next the queue place; a third is refused.
    const busy = [];
    const controllers = [new AbortController(), new AbortController()];
    busy.push(c.chat.completions.create({ messages: hello, max_tokens: 200, stream: true }, { signal: controllers[0].signal }).catch(() => null));
    await waitFor("the first request to run", async () => (await metric(small.url, "r1_running_sequences", auth)) === 1);
    busy.push(c.chat.completions.create({ messages: hello, max_tokens: 200, stream: true }, { signal: controllers[1].signal }).catch(() => null));
    await waitFor("the second request to queue", async () => (await metric(small.url, "r1_queue_length", auth)) === 1);
    const refused = await raw(small.url, "/v1/chat/completions", { messages: hello, max_tokens: 2 }, { Authorization: "Bearer sekret" });
    expectError(refused, 429, null, "queue full");
    check(refused.headers.get("retry-after") !== null, "no Retry-After header");
    for (const ac of controllers) ac.abort();
    await Promise.all(busy);
    const t0 = Date.now();
    while ((await metric(small.url, "r1_running_sequences", auth)) !== 0 || (await metric(small.url, "r1_queue_length", auth)) !== 0) {
      check(Date.now() - t0 < 5000, "slots not freed after the clients left");
      await sleep(50);
    }
    const r = await c.chat.completions.create({ messages: hello, max_tokens: 3 });
    eq(r.usage.completion_tokens, 3, "served after the queue drained");
  });
  await test("SIGTERM ends running streams and the server at once", async () => {
    const c = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: "sekret", maxRetries: 0 });
    const s = await c.chat.completions.create({ messages: hello, max_tokens: 200, stream: true });
    const exited = new Promise((resolve) => small.process.on("exit", (code) => resolve(code)));
    let n = 0, finish = null;
    for await (const chunk of s) {
      if (++n === 3) small.process.kill("SIGTERM");
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    // Idle keep-alive connections of earlier requests are closed within the 5 s keep-alive timeout.
    const code = await Promise.race([exited, sleep(10000).then(() => "timeout")]);
    eq(code, 0, "exit code after SIGTERM");
    eq(finish, "stop", "the stream's last finish_reason");
    check(n < 150, `the stream went on for ${n} chunks after SIGTERM`);
  });
} catch (e) {
  failures++;
  console.log(`FAIL setup: ${e.stack ?? e}`);
} finally {
  for (const p of servers) p.kill("SIGTERM");
}
console.log(`openai_test: ${passed} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
