#!/usr/bin/env node
// The web chat page of `r1 serve` in a real browser (headless Chromium driven by playwright-core):
//  - the page loads from the server with no console errors and never requests another origin;
//  - a message streams into the assistant message (several intermediate lengths seen), with the model's
//    thinking in an open <details class="thinking"> block while it streams; the request is the
//    OpenAI-style streaming request (stream_options.include_usage);
//  - a second turn sends the first answer back without its reasoning; Stop during a long answer returns
//    the page to idle and the server's r1_running_sequences gauge (GET /metrics) to 0 within seconds;
//  - the conversation survives a reload (localStorage); New chat empties it.
// Against the mock server (--mock) also: the markdown rendering (escaped HTML, code fences with a
// language class, links to http(s) only) and an API error shown in the page.
//
//   node tests/server/browser_test.mjs --r1 build/src/r1 --model DIR   # starts `r1 serve DIR --port 0`
//   node tests/server/browser_test.mjs --server http://127.0.0.1:8080  # a server already running
//   node tests/server/browser_test.mjs --mock                          # tests/server/mock_server.mjs
// Options: --chromium PATH (/usr/bin/chromium), --npm DIR (node_modules from tests/server/fetch_npm.sh,
// run when not given), --timeout S (whole test, 300), --headed, --screenshots DIR (PNGs of the page).
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => { const i = args.indexOf(name); return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback; };

const mock = flag("--mock");
let serverUrl = option("--server", null);
const r1 = mock ? path.join(here, "mock_server.mjs") : option("--r1", null);
const modelDir = mock ? "none" : option("--model", null);
const chromiumPath = option("--chromium", "/usr/bin/chromium");
const timeoutS = Number(option("--timeout", "300"));
const screenshots = option("--screenshots", null);  // a folder for PNGs of the page (for people)
if (!serverUrl && !(r1 && modelDir)) {
  console.error("usage: browser_test.mjs (--server URL | --r1 PATH --model DIR | --mock) [--chromium PATH] [--npm DIR]");
  process.exit(2);
}

let serverProcess = null, context = null, profileDir = null, serverLog = "";
const cleanups = [];

function fail(message) {
  const error = new Error(message);
  error.testFailure = true;
  throw error;
}
function check(condition, message) { if (!condition) fail(message); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...m) => console.log("browser_test:", ...m);

async function until(what, fn, timeoutMs = 10000, intervalMs = 50) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) fail(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---- the server -------------------------------------------------------------------------------------
async function startServer() {
  const cmd = mock ? process.execPath : r1;
  const cmdArgs = mock ? [r1, "serve", modelDir, "--port", "0"] : ["serve", modelDir, "--port", "0"];
  log(`starting ${[cmd, ...cmdArgs].join(" ")}`);
  serverProcess = spawn(cmd, cmdArgs, { stdio: ["ignore", "pipe", "pipe"] });
  cleanups.push(() => stopServer());
  return await new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => reject(new Error(`the server printed no "r1 serve: listening on" line in 180 s\n${serverLog.slice(-3000)}`)), 180000);
    serverProcess.stdout.setEncoding("utf8");
    serverProcess.stderr.setEncoding("utf8");
    const onOutput = (d) => {  // the ready line is on stdout; stderr is only kept for failure messages
      serverLog = (serverLog + d).slice(-100000);
      if (buffered === null) return;
      buffered += d;
      const m = buffered.match(/r1 serve: listening on (http:\/\/\S+)/);
      if (m) { buffered = null; clearTimeout(timer); resolve(m[1].replace(/\/+$/, "")); }
    };
    serverProcess.stdout.on("data", onOutput);
    serverProcess.stderr.on("data", (d) => { serverLog = (serverLog + d).slice(-100000); });
    serverProcess.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${signal || code}) before it was ready\n${serverLog.slice(-3000)}`));
    });
    serverProcess.on("error", (e) => { clearTimeout(timer); reject(new Error(`cannot start the server: ${e.message}`)); });
  });
}

async function stopServer() {
  const p = serverProcess;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  p.removeAllListeners("exit");
  const exited = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  if (await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])) return;
  p.kill("SIGKILL");
  await exited;
}

async function runningSequences() {
  const response = await fetch(`${serverUrl}/metrics`);
  check(response.ok, `GET /metrics: HTTP ${response.status}`);
  const text = await response.text();
  const m = text.match(/^r1_running_sequences(?:\{[^}]*\})?\s+([0-9.eE+-]+)\s*$/m);
  check(m, `GET /metrics has no r1_running_sequences gauge:\n${text.slice(0, 1500)}`);
  return Number(m[1]);
}

// ---- the browser ------------------------------------------------------------------------------------
async function loadPlaywright() {
  let npmDir = option("--npm", null);
  if (!npmDir) {
    const out = execFileSync("bash", [path.join(here, "fetch_npm.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    npmDir = out.trim().split("\n").pop();
  }
  const entry = path.join(npmDir, "node_modules", "playwright-core", "index.mjs");
  check(fs.existsSync(entry), `no playwright-core in ${npmDir} (run tests/server/fetch_npm.sh)`);
  return (await import(pathToFileURL(entry).href)).chromium;
}

async function main() {
  check(fs.existsSync(chromiumPath), `no Chromium at ${chromiumPath} (Debian package chromium: scripts/install-deps.sh)`);
  const chromium = await loadPlaywright();
  if (!serverUrl) serverUrl = await startServer();
  serverUrl = serverUrl.replace(/\/+$/, "");
  const origin = new URL(serverUrl).origin;
  log(`server ${serverUrl}`);

  const models = await (await fetch(`${serverUrl}/v1/models`)).json();
  const modelId = models && models.data && models.data[0] && models.data[0].id;
  check(typeof modelId === "string" && modelId, `GET /v1/models: no data[0].id in ${JSON.stringify(models).slice(0, 500)}`);

  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "r1-browser-test-"));
  cleanups.push(() => fs.rmSync(profileDir, { recursive: true, force: true }));
  // A persistent context on a fresh, empty profile = --user-data-dir (which launch() does not accept).
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: !flag("--headed"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"].filter((a) => a !== "--headless" || !flag("--headed")),
    viewport: { width: 1000, height: 800 },
  });
  cleanups.unshift(() => context.close());
  const page = context.pages()[0] || await context.newPage();

  const consoleErrors = [], foreign = [], chatRequests = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(`uncaught: ${e.message}`));
  context.on("request", (r) => {
    const url = r.url();
    if (/^(data|blob|about):/.test(url)) return;
    let u;
    try { u = new URL(url); } catch { foreign.push(url); return; }
    if (u.origin !== origin || !["127.0.0.1", "localhost", "[::1]"].includes(u.hostname)) foreign.push(url);
    if (u.origin === origin && u.pathname.endsWith("/v1/chat/completions")) chatRequests.push(r.postDataJSON());
  });

  // ---- load ----
  const response = await page.goto(`${serverUrl}/`, { waitUntil: "load" });
  check(response && response.ok(), `GET /: HTTP ${response && response.status()}`);
  check(/text\/html/.test(response.headers()["content-type"] || ""), `GET / is ${response.headers()["content-type"]}, not text/html`);
  await until("the model id in the page", async () => (await page.textContent("#model")) === modelId);
  await page.waitForLoadState("networkidle");
  check(consoleErrors.length === 0, `console errors on load:\n  ${consoleErrors.join("\n  ")}`);
  check(await page.getAttribute("body", "data-state") === "idle", "the page is not idle after load");
  log(`page loaded, model ${modelId}`);

  // Records every state of the newest assistant message: thinking length / open, answer length.
  await page.evaluate(() => {
    window.__seen = [];
    new MutationObserver(() => {
      const all = document.querySelectorAll(".message.assistant");
      const m = all[all.length - 1];
      if (!m) return;
      const t = m.querySelector("details.thinking"), c = m.querySelector(".content");
      const s = { n: all.length, thinking: t.querySelector(".thinking-text").textContent.length, open: t.open,
                  content: c.textContent.length };
      const last = window.__seen[window.__seen.length - 1];
      if (!last || last.n !== s.n || last.thinking !== s.thinking || last.open !== s.open || last.content !== s.content) window.__seen.push(s);
    }).observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true, attributes: true });
  });

  const lastAssistant = () => page.locator(".message.assistant").last();
  const idle = () => page.waitForFunction(() => document.body.dataset.state === "idle", null, { timeout: 120000 });

  const setMaxTokens = async (n) => {  // as a user would: open Settings, type
    if (!(await page.locator("#settings").evaluate((d) => d.open))) await page.click("#settings > summary");
    await page.fill("#max-tokens", String(n));
  };

  // ---- turn 1: streams, with thinking ----
  await setMaxTokens(150);
  await page.fill("#input", "Hello there");
  await page.click("#send");
  await until("the page to be busy", async () => (await page.getAttribute("body", "data-state")) === "busy", 5000, 10);
  check(await page.isVisible("#stop"), "no Stop button while generating");
  await idle();
  const seen1 = (await page.evaluate(() => window.__seen.splice(0))).filter((s) => s.n === 1);
  const totals = seen1.map((s) => s.thinking + s.content);
  const final1 = totals[totals.length - 1] || 0;
  const intermediate = new Set(totals.filter((t) => t > 0 && t < final1));
  check(final1 > 0, "the assistant message stayed empty");
  check(intermediate.size >= 2, `the answer did not stream: intermediate lengths ${[...intermediate].join(", ") || "none"}, final ${final1}`);
  const thinking1 = (await lastAssistant().locator("details.thinking .thinking-text").textContent()) || "";
  const content1 = (await lastAssistant().locator(".content").textContent()) || "";
  check(thinking1.trim().length > 0, "no thinking (reasoning_content) shown in details.thinking");
  check(await lastAssistant().locator("details.thinking").isVisible(), "the thinking block is hidden");
  check(seen1.some((s) => s.thinking > 0 && s.content === 0 && s.open), "the thinking block was not open while thinking streamed");
  if (content1.length) check(!(await lastAssistant().locator("details.thinking").evaluate((d) => d.open)), "the thinking block stayed open after the answer began");
  check(chatRequests.length === 1, `expected 1 chat request, saw ${chatRequests.length}`);
  const req1 = chatRequests[0];
  check(req1.stream === true && req1.stream_options && req1.stream_options.include_usage === true,
        `the request is not streaming with usage: ${JSON.stringify(req1)}`);
  check(req1.model === modelId && req1.max_tokens === 150, `model / max_tokens not sent: ${JSON.stringify(req1)}`);
  check(JSON.stringify(req1.messages) === JSON.stringify([{ role: "user", content: "Hello there" }]), `turn 1 messages: ${JSON.stringify(req1.messages)}`);
  if (screenshots) await page.screenshot({ path: path.join(screenshots, "turn1.png"), fullPage: true });
  log(`turn 1 streamed: ${intermediate.size} intermediate lengths, final ${final1} chars (thinking ${thinking1.length}, answer ${content1.length})`);

  if (mock) {  // the mock's answer is a markdown sample with HTML-injection attempts
    const a = lastAssistant().locator(".content");
    for (const [sel, what] of [["h2", "heading"], ["strong", "bold"], ["em", "italic"], ["p > code", "inline code"],
                               ["ul > li", "bullet list"], ["ol > li", "numbered list"], ["pre > code.language-js", "code fence with language"],
                               ["blockquote", "quote"], ['a[href="https://example.com/a_b_c"][rel~="noopener"]', "http(s) link"]]) {
      check(await a.locator(sel).count() > 0, `markdown: no ${what} (${sel})`);
    }
    check(await a.locator("img, script, [onerror]").count() === 0, "markdown: raw HTML became elements");
    check(await a.locator('a[href^="javascript"]').count() === 0, "markdown: a javascript: link");
    check((await a.textContent()).includes('<img src=x onerror="window.__xss=1">'), "markdown: raw HTML not shown as text");
    check((await a.locator("pre > code").textContent()).includes('1 < 2 && "ok"'), "markdown: code fence text altered");
    check(await page.evaluate(() => window.__xss === undefined), "markdown: injected script ran");
    log("markdown rendered safely");
  }

  // ---- turn 2: history without reasoning; Stop during a long answer ----
  await setMaxTokens(4000);
  await page.fill("#input", "Tell me a very long story.");
  await page.press("#input", "Enter");
  await until("the second answer to stream", async () => {
    const s = (await page.evaluate(() => window.__seen)).filter((x) => x.n === 2);
    return new Set(s.map((x) => x.thinking + x.content)).size >= 4;
  }, 60000);
  check(chatRequests.length === 2, `expected 2 chat requests, saw ${chatRequests.length}`);
  const msgs2 = chatRequests[1].messages;
  check(msgs2.length === 3 && msgs2[0].role === "user" && msgs2[1].role === "assistant" && msgs2[2].role === "user" &&
        msgs2[2].content === "Tell me a very long story.", `turn 2 messages: ${JSON.stringify(msgs2).slice(0, 1000)}`);
  check(JSON.stringify(Object.keys(msgs2[1]).sort()) === '["content","role"]', `the assistant turn has extra fields: ${Object.keys(msgs2[1])}`);
  check(typeof msgs2[1].content === "string" && (thinking1.trim().length < 8 || !msgs2[1].content.includes(thinking1.trim())),
        "the previous answer went back with its reasoning");
  if (mock) check(msgs2[1].content.startsWith("## Demo answer"), `the previous answer did not go back: ${JSON.stringify(msgs2[1])}`);
  const busyRunning = await runningSequences();
  check(busyRunning >= 1, `r1_running_sequences is ${busyRunning} while an answer streams`);
  await page.click("#stop");
  const stoppedAt = Date.now();
  await page.waitForFunction(() => document.body.dataset.state === "idle", null, { timeout: 5000 })
    .catch(() => fail("the page did not return to idle within 5 s of Stop"));
  check(await page.isVisible("#send") && await page.isEnabled("#send") && !(await page.isVisible("#stop")),
        "after Stop: Send should be shown and enabled, Stop hidden");
  check(/stopped/.test(await lastAssistant().locator(".meta").textContent()), "the stopped answer is not marked stopped");
  await until("r1_running_sequences to drop to 0 after Stop", async () => (await runningSequences()) === 0, 5000, 100);
  if (screenshots) await page.screenshot({ path: path.join(screenshots, "stopped.png"), fullPage: true });
  log(`stopped: idle and r1_running_sequences 0 after ${((Date.now() - stoppedAt) / 1000).toFixed(2)} s (was ${busyRunning})`);

  if (mock) {  // an API error is shown, and the question comes back to the input
    const before = consoleErrors.length;
    await page.fill("#input", "please fail");
    await page.click("#send");
    await idle();
    // Chromium itself logs the 4xx response; that one is expected.
    const expected = consoleErrors.splice(before).filter((e) => !/Failed to load resource: .*status of 400/.test(e));
    consoleErrors.push(...expected);
    const error = lastAssistant().locator('[data-testid="error"]');
    check(await error.count() === 1 && (await error.textContent()).includes("mock: failing as asked"), "the API error message is not shown");
    check(await page.inputValue("#input") === "please fail", "the failed question did not come back to the input");
    log("API error shown");
  }

  // ---- the conversation survives a reload (localStorage); New chat empties it ----
  await page.reload({ waitUntil: "load" });
  await until("the model id after reload", async () => (await page.textContent("#model")) === modelId);
  const kept = await page.locator(".message").count();
  check(kept === 4, `after a reload the page shows ${kept} messages, not the 4 of the conversation`);
  check((await lastAssistant().locator(".meta").textContent()).includes("stopped"), "the stopped answer changed on reload");
  await page.click("#new-chat");
  check(await page.locator(".message").count() === 0 && await page.isVisible("#empty"), "New chat did not empty the conversation");
  await page.reload({ waitUntil: "load" });
  await until("the model id after reload", async () => (await page.textContent("#model")) === modelId);
  check(await page.locator(".message").count() === 0, "the cleared conversation came back after a reload");

  check(consoleErrors.length === 0, `console errors:\n  ${consoleErrors.join("\n  ")}`);
  check(foreign.length === 0, `requests to other origins:\n  ${foreign.join("\n  ")}`);
  log(`no console errors; all requests went to ${origin}`);
}

const deadline = setTimeout(() => {
  console.error(`FAIL: browser_test: the whole test took more than ${timeoutS} s`);
  if (serverProcess) serverProcess.kill("SIGKILL");
  process.exit(1);
}, timeoutS * 1000);

let status = 0;
try {
  await main();
  console.log("PASS: browser_test: the chat page streams, shows thinking, stops (server slot freed) and stays on localhost");
} catch (e) {
  status = 1;
  console.error(`FAIL: browser_test: ${e.testFailure ? e.message : e.stack || e}`);
  if (serverLog && !mock) console.error(`--- server output (tail) ---\n${serverLog.slice(-2000)}`);
}
for (const c of cleanups) await Promise.resolve().then(c).catch(() => {});
clearTimeout(deadline);
process.exit(status);
