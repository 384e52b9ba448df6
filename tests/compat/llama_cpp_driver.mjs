// llama.cpp on a GGUF file, driven through node-llama-cpp's JS API with its prebuilt CPU binaries:
// nothing is built or downloaded (build: "never", skipDownload). The interface of tests/compat.
//
//   node llama_cpp_driver.mjs INSTALL_DIR REQUEST.json     (INSTALL_DIR: what fetch_llama_cpp.sh prints)
//
// REQUEST.json: {"model": "x.gguf",
//                "texts": ["..."],                           tokenized with special tokens parsed, no BOS
//                "generate": {"tokens": [...], "n": 16},     greedy (temperature 0) continuation
//                "logits": {"tokens": [...], "out": "F"}}    logits after every token, float32 [T][n_vocab] to F
// Each part is optional. Prints one JSON object: {"llama_cpp": {...}, "bos", "eos", "add_bos",
// "add_eos", "tokens": [[...]], "generated": [...], "logits": {"rows", "cols"}, "n_vocab", "log"}, or
// {"load_error": "...", "log": [...]} with llama.cpp's own messages when it rejects the file (exit 0:
// the caller decides).
import fs from "node:fs";
import path from "node:path";
import {pathToFileURL} from "node:url";

const [installDir, requestFile] = process.argv.slice(2);
if (!installDir || !requestFile) {
  console.error("usage: node llama_cpp_driver.mjs INSTALL_DIR REQUEST.json");
  process.exit(2);
}
const req = JSON.parse(fs.readFileSync(requestFile, "utf8"));
const entry = path.join(installDir, "node_modules", "node-llama-cpp", "dist", "index.js");
const {getLlama, LlamaLogLevel} = await import(pathToFileURL(entry).href);

const log = [];
const llama = await getLlama({
  gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true, progressLogs: false,
  logLevel: LlamaLogLevel.warn,
  logger: (level, message) => { log.push(`${level}: ${message.trimEnd()}`); },
});
const info = {release: llama.llamaCppRelease, buildType: llama.buildType, gpu: llama.gpu};

let model;
try {
  model = await llama.loadModel({modelPath: req.model, gpuLayers: 0, useMmap: true});
} catch (e) {
  console.log(JSON.stringify({llama_cpp: info, load_error: String(e && e.message || e), log}));
  process.exit(0);
}
const out = {
  llama_cpp: info,
  bos: model.tokens.bos ?? null, eos: model.tokens.eos ?? null,
  add_bos: model.tokens.shouldPrependBosToken, add_eos: model.tokens.shouldAppendEosToken,
};
out.tokens = (req.texts || []).map((t) => model.tokenize(t, true));

const ctx = await model.createContext({
  contextSize: 512, batchSize: 512, sequences: 1, threads: Number(req.threads || 2), flashAttention: false,
  // F32 cache: the comparison is about the file, not about an F16 cache's rounding.
  experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
});
const seq = ctx.getSequence();
const greedy = {token: true, options: {temperature: 0}};

if (req.generate) {
  const prompt = req.generate.tokens;
  const items = prompt.map((t, i) => (i === prompt.length - 1 ? [t, {generateNext: greedy}] : t));
  let res = await seq.controlledEvaluate(items);
  const gen = [];
  while (gen.length < req.generate.n) {
    const tok = res[res.length - 1].next.token;
    gen.push(tok);
    if (gen.length === req.generate.n) break;
    res = await seq.controlledEvaluate([[tok, {generateNext: greedy}]]);
  }
  out.generated = gen;
  await seq.clearHistory();
}

if (req.logits) {
  const toks = req.logits.tokens;
  const res = await seq.controlledEvaluate(toks.map((t) => [t, {generateNext: {logits: true}}]));
  const cols = res[0].next.logits.size;  // every token of the vocabulary has a logit
  const buf = new Float32Array(toks.length * cols).fill(NaN);
  res.forEach((r, i) => { for (const [id, v] of r.next.logits) buf[i * cols + id] = v; });
  fs.writeFileSync(req.logits.out, Buffer.from(buf.buffer));
  out.logits = {rows: toks.length, cols};
  out.n_vocab = cols;
  await seq.clearHistory();
}
out.log = log;
console.log(JSON.stringify(out));
await ctx.dispose();
await model.dispose();
await llama.dispose();
