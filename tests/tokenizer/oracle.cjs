// The independent reference: @lenml/tokenizers (the Hugging Face tokenizers port used by
// transformers.js) encoding with the same tokenizer.json / tokenizer_config.json.
//
//   node oracle.cjs NODE_MODULES_DIR TOKENIZER_DIR [--add-special] [--bench]  < lines.jsonl
//
// Reads one JSON string per stdin line and prints one JSON array of ids per line. With --bench it
// prints nothing per line, only the encode loop's throughput (wall and CPU time) on stdout.
"use strict";
const fs = require("fs");
const path = require("path");

const [modulesDir, tokDir, ...flags] = process.argv.slice(2);
if (!modulesDir || !tokDir) {
  console.error("usage: node oracle.cjs NODE_MODULES_DIR TOKENIZER_DIR [--add-special] [--bench]");
  process.exit(2);
}
const { TokenizerLoader } = require(path.join(modulesDir, "@lenml/tokenizers"));
const readJson = (name) => {
  const file = path.join(tokDir, name);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
};
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: readJson("tokenizer.json"),
  tokenizerConfig: readJson("tokenizer_config.json"),
});
const addSpecial = flags.includes("--add-special");
const bench = flags.includes("--bench");

const lines = fs.readFileSync(0, "utf8").split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
if (bench) {
  let bytes = 0;
  for (const text of lines) bytes += Buffer.byteLength(text, "utf8");
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let n = 0;
  for (const text of lines) n += tokenizer.encode(text, { add_special_tokens: addSpecial }).length;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  const mb = bytes / 1e6;
  console.log(`node oracle: ${lines.length} lines, ${mb.toFixed(2)} MB, ${n} tokens: wall ${seconds.toFixed(3)} s = ` +
              `${(mb / seconds).toFixed(2)} MB/s, cpu ${cpu.toFixed(3)} s = ${(mb / cpu).toFixed(2)} MB/s`);
} else {
  const out = [];
  for (const text of lines) out.push(JSON.stringify(tokenizer.encode(text, { add_special_tokens: addSpecial })));
  process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
}
