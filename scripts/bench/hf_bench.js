// Hugging Face tokenizers (Rust, via @anush008/tokenizers) on the same texts as
// bench_tokenize: Tokenizer.fromFile(tokenizer.json), encodeBatch over all texts without
// special tokens. Run with RAYON_NUM_THREADS=1 for one thread. Prints one JSON line:
// {"seconds": [per run], "median_s", "n_texts", "n_bytes", "n_ids"}.
// Usage: node hf_bench.js tokenizer.json texts.txt runs
'use strict';
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');

async function main() {
  const [tokPath, textsPath, runsArg] = process.argv.slice(2);
  const runs = parseInt(runsArg || '5', 10);
  const raw = fs.readFileSync(textsPath, 'utf8');
  const texts = raw.split('\n');
  if (texts[texts.length - 1] === '') texts.pop();
  const nBytes = texts.reduce((a, t) => a + Buffer.byteLength(t, 'utf8'), 0);
  const tok = Tokenizer.fromFile(tokPath);
  // One warm-up pass, then timed passes.
  await tok.encodeBatch(texts.slice(0, 100), { addSpecialTokens: false });
  const seconds = [];
  let nIds = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    const enc = await tok.encodeBatch(texts, { addSpecialTokens: false });
    const t1 = process.hrtime.bigint();
    seconds.push(Number(t1 - t0) / 1e9);
    nIds = enc.reduce((a, e) => a + e.getIds().length, 0);
  }
  const sorted = [...seconds].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(JSON.stringify({ seconds, median_s: median, n_texts: texts.length, n_bytes: nBytes, n_ids: nIds }));
}
main().catch((e) => { console.error(`hf_bench: ${e.stack || e}`); process.exit(1); });
