#!/usr/bin/env node
// A stand-in for `r1 serve` that needs no model: serves the web page from src/server/web/ (read from
// disk on each request, so edits show on reload) and fakes the API the page uses:
//   GET  /v1/models            one model, "mock-r1"
//   POST /v1/chat/completions  streams reasoning_content, then a markdown answer, a few words at a time
//                              (slowly: --delay ms between chunks), heartbeats, usage, [DONE];
//                              stream: false answers in one JSON body
//   GET  /metrics              Prometheus text with the r1_running_sequences gauge
// Requests whose last user message contains "please fail" get HTTP 400 with an OpenAI error body.
// Takes the same arguments as `r1 serve` (the model directory is ignored) and prints the same ready line:
//   node tests/server/mock_server.mjs [serve] [DIR] [--port 8080] [--delay 40]
//   -> r1 serve: listening on http://127.0.0.1:PORT
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const webDir = path.resolve(here, "../../src/server/web");
const args = process.argv.slice(2);
const option = (name, fallback) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : fallback; };
const port = Number(option("--port", "8080"));
const delay = Number(option("--delay", "40"));
const MODEL = "mock-r1";
const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json" };

let running = 0;

const REASONING = "The user wants a short demo. I should show a heading, a list, some code and a link, " +
  "and say a few words about each. Let me also check that nothing in the answer can inject HTML. ";
const ANSWER = "## Demo answer\n\nHere is **bold**, *italic* and `inline code`.\n\n" +
  "- first item\n- second item with a [link](https://example.com/a_b_c)\n\n" +
  "1. one\n2. two\n\n```js\nconst x = 1 < 2 && \"ok\";\n```\n\n" +
  "Unsafe bits stay text: <img src=x onerror=\"window.__xss=1\"> and [bad](javascript:alert(1)).\n\n" +
  "> a quote\n\nThe end. ";

function words(text) { return text.match(/\S+\s*|\s+/g) || []; }

function sendJson(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) });
  res.end(data);
}
function apiError(res, status, message, type = "invalid_request_error", param = null) {
  sendJson(res, status, { error: { message, type, param, code: null } });
}

function chat(req, res, body) {
  let request;
  try { request = JSON.parse(body); } catch { return apiError(res, 400, "the body is not JSON"); }
  if (!Array.isArray(request.messages) || !request.messages.length) return apiError(res, 400, "messages: required", "invalid_request_error", "messages");
  const last = [...request.messages].reverse().find((m) => m.role === "user");
  if (last && String(last.content).includes("please fail")) return apiError(res, 400, "mock: failing as asked", "invalid_request_error", "messages");
  const maxTokens = request.max_tokens ?? request.max_completion_tokens ?? 80;
  // The pieces: reasoning words, then answer words (repeated to fill max_tokens), one "token" each.
  const pieces = [];
  for (const w of words(REASONING)) pieces.push({ reasoning_content: w });
  while (pieces.length < maxTokens) {
    for (const w of words(ANSWER)) pieces.push({ content: w });
    if (maxTokens <= 200) break;  // short requests: one answer, finish_reason "stop"
  }
  const finish = pieces.length > maxTokens ? "length" : "stop";
  pieces.length = Math.min(pieces.length, maxTokens);
  const id = "chatcmpl-mock" + Date.now(), created = Math.floor(Date.now() / 1000);
  const usage = { prompt_tokens: 10, completion_tokens: pieces.length, total_tokens: 10 + pieces.length };

  if (!request.stream) {
    const content = pieces.map((p) => p.content || "").join(""), reasoning = pieces.map((p) => p.reasoning_content || "").join("");
    return sendJson(res, 200, { id, object: "chat.completion", created, model: MODEL, usage,
      choices: [{ index: 0, finish_reason: finish, message: { role: "assistant", content, reasoning_content: reasoning } }] });
  }
  running++;
  let done = false;
  const end = () => { if (!done) { done = true; running--; clearInterval(timer); } };
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" });
  const chunk = (delta, finishReason = null) => res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk",
    created, model: MODEL, choices: [{ index: 0, delta, finish_reason: finishReason }] })}\n\n`);
  res.write(": heartbeat\n\n");
  chunk({ role: "assistant" });
  let i = 0;
  const timer = setInterval(() => {
    if (done) return;
    if (i % 10 === 5) res.write(": heartbeat\n\n");
    if (i < pieces.length) { chunk(pieces[i++]); return; }
    chunk({}, finish);
    if (request.stream_options && request.stream_options.include_usage) {
      res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: MODEL, choices: [], usage })}\n\n`);
    }
    res.write("data: [DONE]\n\n");
    res.end();
    end();
  }, delay);
  res.on("close", end);  // the client went away (stop button): free the "slot" at once
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (req.method === "GET" && url.pathname === "/v1/models") {
    return sendJson(res, 200, { object: "list", data: [{ id: MODEL, object: "model", created: 0, owned_by: "r1" }] });
  }
  if (req.method === "GET" && url.pathname === "/metrics") {
    res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
    return res.end("# HELP r1_running_sequences Sequences being generated.\n# TYPE r1_running_sequences gauge\n" +
                   `r1_running_sequences ${running}\n`);
  }
  if (req.method === "POST" && url.pathname === "/v1/chat/completions") {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d) => { body += d; });
    req.on("end", () => chat(req, res, body));
    return;
  }
  if (req.method === "GET") {
    const name = url.pathname === "/" ? "index.html" : url.pathname.slice(1);
    const file = path.join(webDir, name);
    if (!name.includes("..") && file.startsWith(webDir + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile()) {
      res.writeHead(200, { "Content-Type": types[path.extname(file)] || "application/octet-stream" });
      return res.end(fs.readFileSync(file));
    }
  }
  apiError(res, 404, `not found: ${req.method} ${url.pathname}`, "not_found_error");
});

server.listen(port, "127.0.0.1", () => {
  console.log(`r1 serve: listening on http://127.0.0.1:${server.address().port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
