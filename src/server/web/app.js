// r1 chat: the web page of `r1 serve`. Talks to the same server only (relative URLs), through the
// OpenAI-compatible API: GET v1/models, POST v1/chat/completions with stream: true (server-sent events).
// The conversation lives in this browser (memory + localStorage); nothing else is stored or sent.
"use strict";

const STORE_KEY = "r1.chat.v1";
const $ = (id) => document.getElementById(id);
const ui = {
  model: $("model"), messages: $("messages"), empty: $("empty"), form: $("composer"), input: $("input"),
  send: $("send"), stop: $("stop"), newChat: $("new-chat"),
  system: $("system"), temperature: $("temperature"), maxTokens: $("max-tokens"), apiKey: $("api-key"),
};

// history: [{role: "user"|"assistant", content, reasoning?, meta?}] -- what the next request sends
// (assistant turns without their reasoning), plus what the page shows.
const state = { model: null, history: [], controller: null };

// ---- markdown (answers only) ------------------------------------------------------------------------
// Escapes all HTML first, then adds the few tags below; links only to http(s) URLs.
// Fenced code (```lang), `inline code`, **bold**, *italic*, # headings, - / 1. lists, > quotes, ---,
// [text](https://...), paragraphs.
function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function renderInline(text) {
  // Code spans and links become placeholders first, so that nothing inside them (a URL's _ or *)
  // is taken for emphasis. \u0000 never occurs in the escaped text (stripped).
  const held = [];
  const hold = (html) => `\u0000${held.push(html) - 1}\u0000`;
  let s = text.replace(/`([^`\n]+)`/g, (_, code) => hold(`<code>${code}</code>`));
  s = s.replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s()]+)\)/gi,
    (_, label, url) => hold(`<a href="${url}" target="_blank" rel="noopener noreferrer">${emphasis(label)}</a>`));
  s = emphasis(s);
  for (let i = held.length; i-- > 0;) s = s.replace(`\u0000${i}\u0000`, () => held[i]);  // links hold code
  return s;
}

function emphasis(s) {
  s = s.replace(/\*\*(?=\S)([^*]*?\S)\*\*/g, "<strong>$1</strong>").replace(/__(?=\S)([^_]*?\S)__/g, "<strong>$1</strong>");
  s = s.replace(/(^|[^*\w])\*(?=\S)([^*\n]*?\S)\*(?![*\w])/g, "$1<em>$2</em>")
       .replace(/(^|[^_\w])_(?=\S)([^_\n]*?\S)_(?![_\w])/g, "$1<em>$2</em>");
  return s;
}

function renderMarkdown(markdown) {
  const lines = escapeHtml(markdown.replace(/\u0000/g, "")).split(/\r?\n/);
  const out = [];
  let para = [], list = null;  // list: {tag, start, items}
  const flushPara = () => { if (para.length) out.push(`<p>${renderInline(para.join("\n")).replace(/\n/g, "<br>")}</p>`); para = []; };
  const flushList = () => {
    if (list) out.push(`<${list.tag}${list.start > 1 ? ` start="${list.start}"` : ""}>${list.items.map((i) => `<li>${renderInline(i)}</li>`).join("")}</${list.tag}>`);
    list = null;
  };
  const flush = () => { flushPara(); flushList(); };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let m;
    if ((m = line.match(/^\s*(```+|~~~+)\s*([\w+#.-]*)/))) {  // fenced code; unterminated = still streaming
      flush();
      const fence = m[1], body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence); i++) body.push(lines[i]);
      const cls = m[2] ? ` class="language-${m[2].toLowerCase()}"` : "";
      out.push(`<pre><code${cls}>${body.join("\n")}</code></pre>`);
    } else if (!line.trim()) {
      flush();
    } else if ((m = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/))) {
      flush();
      out.push(`<h${m[1].length}>${renderInline(m[2])}</h${m[1].length}>`);
    } else if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flush();
      out.push("<hr>");
    } else if ((m = line.match(/^\s*(?:([-*+])|(\d{1,9})[.)])\s+(.*)$/))) {
      flushPara();
      const tag = m[1] ? "ul" : "ol";
      if (!list || list.tag !== tag) { flushList(); list = { tag, start: m[2] ? parseInt(m[2], 10) : 1, items: [] }; }
      list.items.push(m[3]);
    } else if ((m = line.match(/^\s{0,3}&gt;\s?(.*)$/))) {
      flush();
      const quote = [m[1]];
      while (i + 1 < lines.length && (m = lines[i + 1].match(/^\s{0,3}&gt;\s?(.*)$/))) { quote.push(m[1]); i++; }
      out.push(`<blockquote>${renderInline(quote.join("\n")).replace(/\n/g, "<br>")}</blockquote>`);
    } else if (list && /^\s+\S/.test(line)) {
      list.items[list.items.length - 1] += " " + line.trim();  // continuation of a list item
    } else {
      flushList();
      para.push(line);
    }
  }
  flush();
  return out.join("\n");
}

// ---- conversation view ------------------------------------------------------------------------------
function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function nearBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}
function scrollDown(really = true) {
  if (really) ui.messages.scrollTop = ui.messages.scrollHeight;
}

function addUserView(text) {
  ui.empty.hidden = true;
  const e = el("div", "message user", text);
  e.dataset.testid = "user-message";
  ui.messages.append(e);
  return e;
}

// The view of one assistant turn: an optional thinking block, the answer, a meta line.
function addAssistantView() {
  ui.empty.hidden = true;
  const root = el("div", "message assistant");
  root.dataset.testid = "assistant-message";
  const thinking = el("details", "thinking");
  thinking.dataset.testid = "thinking";
  const summary = el("summary", "", "Thinking…");
  const thinkingText = el("div", "thinking-text");
  thinking.append(summary, thinkingText);
  thinking.hidden = true;
  const content = el("div", "content");
  content.dataset.testid = "content";
  const meta = el("div", "meta");
  meta.hidden = true;
  root.append(thinking, content, meta);
  ui.messages.append(root);
  return { root, thinking, summary, thinkingText, content, meta };
}

function showAssistant(view, turn) {
  if (turn.reasoning) {
    view.thinking.hidden = false;
    view.thinkingText.textContent = turn.reasoning;
  }
  view.content.innerHTML = renderMarkdown(turn.content || "");
  if (turn.meta) { view.meta.textContent = turn.meta; view.meta.hidden = false; }
}

function showError(view, message) {
  view.root.classList.add("error");
  const e = el("p", "error-text", message);
  e.setAttribute("role", "alert");
  e.dataset.testid = "error";
  view.root.append(e);
}

function renderAll() {
  for (const e of [...ui.messages.querySelectorAll(".message")]) e.remove();
  ui.empty.hidden = state.history.length > 0;
  for (const turn of state.history) {
    if (turn.role === "user") addUserView(turn.content);
    else {
      const view = addAssistantView();
      showAssistant(view, turn);
      if (turn.reasoning) view.summary.textContent = "Thoughts";
      view.thinking.open = Boolean(turn.reasoning) && !turn.content;
    }
  }
  scrollDown();
}

// ---- storage ----------------------------------------------------------------------------------------
function save() {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify({
      history: state.history,
      settings: { system: ui.system.value, temperature: ui.temperature.value, maxTokens: ui.maxTokens.value, apiKey: ui.apiKey.value },
    }));
  } catch { /* storage full or disabled: the conversation stays in memory */ }
}

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    if (!saved) return;
    if (Array.isArray(saved.history)) {
      state.history = saved.history.filter((t) => t && (t.role === "user" || t.role === "assistant") && typeof t.content === "string");
    }
    const s = saved.settings || {};
    ui.system.value = s.system || "";
    ui.temperature.value = s.temperature || "";
    ui.maxTokens.value = s.maxTokens || "";
    ui.apiKey.value = s.apiKey || "";
  } catch { /* a broken entry is ignored */ }
}

// ---- the API ----------------------------------------------------------------------------------------
// The headers of every API request: the key, when the server was started with --api-key.
function apiHeaders(extra) {
  const key = ui.apiKey.value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function errorMessage(response) {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    if (body && body.error && body.error.message) return body.error.message;
  } catch { /* not JSON */ }
  return `HTTP ${response.status} ${response.statusText}${text ? ": " + text.slice(0, 300) : ""}`;
}

async function loadModel() {
  try {
    const response = await fetch("v1/models", { headers: apiHeaders({ Accept: "application/json" }) });
    if (!response.ok) throw new Error(await errorMessage(response));
    const body = await response.json();
    state.model = body.data && body.data[0] ? body.data[0].id : null;
    ui.model.textContent = state.model || "(no model)";
    ui.model.title = state.model || "";
  } catch (e) {
    ui.model.textContent = "server unreachable";
    ui.model.title = String(e.message || e);
  }
}

// Reads a server-sent event stream, calling onData with each event's data until it returns false.
async function readEvents(response, onData) {
  const reader = response.body.getReader();
  try {
    await readLines(reader, onData);
  } finally {
    reader.cancel().catch(() => {});  // after [DONE] or an error: let the connection go
  }
}

async function readLines(reader, onData) {
  const decoder = new TextDecoder();
  let buffer = "", data = [];
  for (;;) {
    const { value, done } = await reader.read();
    buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {  // end of an event
        if (data.length) { const d = data.join("\n"); data = []; if (onData(d) === false) return; }
      } else if (line.startsWith(":")) {
        // comment (heartbeat)
      } else if (line.startsWith("data:")) {
        data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      }  // other fields (event:, id:, retry:) are not used
    }
    if (done) {
      if (data.length) onData(data.join("\n"));
      return;
    }
  }
}

function requestBody() {
  const messages = [];
  const system = ui.system.value.trim();
  if (system) messages.push({ role: "system", content: system });
  for (const t of state.history) messages.push({ role: t.role, content: t.content });
  const body = { model: state.model || undefined, messages, stream: true, stream_options: { include_usage: true } };
  const temperature = parseFloat(ui.temperature.value);
  if (Number.isFinite(temperature)) body.temperature = temperature;
  const maxTokens = parseInt(ui.maxTokens.value, 10);
  if (Number.isFinite(maxTokens) && maxTokens > 0) body.max_tokens = maxTokens;
  return body;
}

function setBusy(busy) {
  document.body.dataset.state = busy ? "busy" : "idle";
  ui.send.disabled = busy;
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  ui.newChat.disabled = busy;
  if (busy) ui.stop.focus(); else ui.input.focus();
}

async function send(text) {
  state.history.push({ role: "user", content: text });
  addUserView(text);
  const view = addAssistantView();
  view.root.classList.add("streaming");
  view.root.setAttribute("aria-busy", "true");
  scrollDown();

  const turn = { role: "assistant", content: "", reasoning: "" };
  const controller = new AbortController();
  state.controller = controller;
  setBusy(true);
  const started = performance.now();
  let thinkingSince = 0, thinkingDone = false, firstToken = 0, usage = null, finish = null, pending = false;

  const endThinking = (answerStarted = true) => {
    if (thinkingDone || !turn.reasoning) return;
    thinkingDone = true;
    if (answerStarted) view.thinking.open = false;  // an answer that is all thinking stays open
    view.summary.textContent = `Thought for ${((performance.now() - thinkingSince) / 1000).toFixed(1)} s`;
  };
  const paint = () => {  // at most once a frame
    pending = false;
    const stick = nearBottom();  // follow the text only when the reader is at the bottom
    if (turn.reasoning) view.thinkingText.textContent = turn.reasoning;
    view.content.innerHTML = renderMarkdown(turn.content);
    scrollDown(stick);
  };
  const schedule = () => { if (!pending) { pending = true; requestAnimationFrame(paint); } };

  let failure = null, stopped = false;
  try {
    const response = await fetch("v1/chat/completions", {
      method: "POST",
      headers: apiHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify(requestBody()),
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    await readEvents(response, (data) => {
      if (data === "[DONE]") return false;
      let chunk;
      try { chunk = JSON.parse(data); } catch { return; }
      if (chunk.error) throw new Error(chunk.error.message || "error from the server");
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices || []) {
        const delta = choice.delta || {};
        if (delta.reasoning_content) {
          if (!turn.reasoning) {
            thinkingSince = performance.now();
            view.thinking.hidden = false;
            view.thinking.open = true;
          }
          turn.reasoning += delta.reasoning_content;
        }
        if (delta.content) {
          endThinking();
          turn.content += delta.content;
        }
        if ((delta.reasoning_content || delta.content) && !firstToken) firstToken = performance.now();
        if (choice.finish_reason) finish = choice.finish_reason;
      }
      schedule();
    });
  } catch (e) {
    if (e.name === "AbortError") stopped = true;
    else failure = e.message || String(e);
  }
  state.controller = null;
  endThinking(turn.content !== "");
  paint();
  view.root.classList.remove("streaming");
  view.root.removeAttribute("aria-busy");

  if (failure && !turn.content && !turn.reasoning) {
    // Nothing came back: the question goes back into the input and out of the history.
    state.history.pop();
    showError(view, failure);
    if (!ui.input.value) ui.input.value = text;
  } else {
    const parts = [];
    if (stopped) parts.push("stopped");
    else if (finish === "length") parts.push("cut at the token limit");
    if (usage && usage.completion_tokens) {
      parts.push(`${usage.completion_tokens} tokens`);
      const seconds = (performance.now() - (firstToken || started)) / 1000;
      if (seconds > 0.05 && usage.completion_tokens > 1) parts.push(`${(usage.completion_tokens / seconds).toFixed(1)} tokens/s`);
    }
    turn.meta = parts.join(" · ");
    if (turn.meta) { view.meta.textContent = turn.meta; view.meta.hidden = false; }
    if (failure) showError(view, failure);
    if (!turn.reasoning) delete turn.reasoning;
    state.history.push(turn);
  }
  save();
  setBusy(false);
}

// ---- controls ---------------------------------------------------------------------------------------
ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = ui.input.value.trim();
  if (!text || state.controller) return;
  ui.input.value = "";
  send(text);
});
ui.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.form.requestSubmit();
  }
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && state.controller) state.controller.abort();
});
ui.stop.addEventListener("click", () => { if (state.controller) state.controller.abort(); });
ui.newChat.addEventListener("click", () => {
  if (state.controller) return;
  state.history = [];
  save();
  renderAll();
  ui.input.focus();
});
for (const input of [ui.system, ui.temperature, ui.maxTokens, ui.apiKey]) input.addEventListener("change", save);
ui.apiKey.addEventListener("change", loadModel);  // the model list needs the key too

load();
renderAll();
setBusy(false);
loadModel();
