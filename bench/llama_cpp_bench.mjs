// llama.cpp's speed on a GGUF file on this machine, for a same-machine comparison in bench/RESULTS.md: the
// prebuilt CPU binaries of node-llama-cpp (tests/compat/fetch_llama_cpp.sh installs and verifies them),
// timed like llama-bench: pp = P prompt tokens in one batch into an empty context, tg = N tokens decoded one
// at a time (no sampling: each step only evaluates the next token); best of R repetitions after one untimed
// warm-up run of each (llama-bench's default; --no-warmup skips it, as llama-bench's). With -d D the
// decode test starts after D tokens of context (prefilled in batches of P, not timed), as `r1 bench -d D`;
// the KV cache is llama.cpp's default (F16).
//
//   node bench/llama_cpp_bench.mjs INSTALL_DIR MODEL.gguf [-p 512] [-n 64] [-t 2] [-r 2] [-d 0] [--no-warmup]
// Prints one JSON line per test: {"engine": "llama.cpp", "release", "model", "threads", "test", "tokens_per_s"}.
// tg includes the JS API's per-token cost (well under a millisecond). The file must carry tokenizer
// metadata: llama.cpp refuses a GGUF without tokenizer.ggml.model.
import path from "node:path";
import {pathToFileURL} from "node:url";

const args = process.argv.slice(2);
const [installDir, modelPath] = args;
const opt = (name, def) => { const i = args.indexOf(name); return i < 0 ? def : Number(args[i + 1]); };
const P = opt("-p", 512), N = opt("-n", 64), threads = opt("-t", 2), reps = opt("-r", 2), depth = opt("-d", 0);
if (!installDir || !modelPath) {
  console.error("usage: node bench/llama_cpp_bench.mjs INSTALL_DIR MODEL.gguf [-p 512] [-n 64] [-t 2] [-r 2]");
  process.exit(2);
}
const entry = path.join(installDir, "node_modules", "node-llama-cpp", "dist", "index.js");
const {getLlama, LlamaLogLevel} = await import(pathToFileURL(entry).href);
const llama = await getLlama({gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
                              progressLogs: false, logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
const ctx = await model.createContext({contextSize: Math.max(P, depth) + N + 16, batchSize: Math.max(P, 1), sequences: 1, threads});
const seq = ctx.getSequence();

// Ordinary token ids spread over the first 20k of the vocabulary (special tokens sit at the ends).
const tokens = Array.from({length: Math.max(P, depth) + N + 1}, (_, i) => 1000 + ((i * 7919) % 20000));
const now = () => Number(process.hrtime.bigint()) / 1e9;

// The warm-up, untimed: the prompt once and one token decoded (llama-bench's). A process's first passes
// are slower than the ones after them: they touch memory for the first time (the mapped file, buffers).
if (!args.includes("--no-warmup")) {
  if (P > 0) {
    await seq.clearHistory();
    await seq.controlledEvaluate(tokens.slice(0, P));
  }
  await seq.clearHistory();
  await seq.controlledEvaluate([tokens[0]]);
}

let bestPp = 0, bestTg = 0;
for (let r = 0; r < reps; ++r) {
  let t0;
  if (P > 0) {
    await seq.clearHistory();
    t0 = now();
    await seq.controlledEvaluate(tokens.slice(0, P));
    bestPp = Math.max(bestPp, P / (now() - t0));
  }

  await seq.clearHistory();
  const filled = Math.max(depth, 1);
  for (let i = 0; i < filled; i += Math.max(P, 1)) await seq.controlledEvaluate(tokens.slice(i, Math.min(filled, i + Math.max(P, 1))));
  t0 = now();
  for (let i = filled; i < filled + N; ++i) await seq.controlledEvaluate([tokens[i]]);
  bestTg = Math.max(bestTg, N / (now() - t0));
}
const base = {engine: "llama.cpp", release: String(llama.llamaCppRelease?.release ?? ""), model: path.basename(modelPath), threads};
if (P > 0) console.log(JSON.stringify({...base, test: `pp${P}`, tokens_per_s: bestPp}));
console.log(JSON.stringify({...base, test: depth > 0 ? `tg${N}@d${depth}` : `tg${N}`, tokens_per_s: bestTg}));
await ctx.dispose();
await model.dispose();
await llama.dispose();
