// ONNX Runtime side of scripts/bench/e2e.sh: the token ids lector produced for a corpus (one
// JSON array per line, specials included), fed as a Hugging Face pipeline would: batches of
// BATCH texts in file order, each padded with [PAD] (id 0) to its longest row, attention mask
// 1 on real tokens; then mean pooling over the real tokens. The time covers building the
// batches, session.run and the pooling (not tokenization: the ids are given).
//
//   node ort_e2e.mjs MODEL_DIR IDS_FILE THREADS BATCH REPEAT WARMUP [POOLED_OUT]
// Prints "ort_e2e texts seconds texts_per_s peak_rss_mb". POOLED_OUT: the mean-pooled vectors
// of the last pass, float32 little-endian (texts, C) in input order.
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';

const [modelDir, idsPath, threadsArg, batchArg, repeatArg, warmupArg, pooledOut] =
  process.argv.slice(2);
const threads = Number(threadsArg), batch = Number(batchArg);
const repeat = Number(repeatArg), warmup = Number(warmupArg);

const session = await ort.InferenceSession.create(path.join(modelDir, 'model.onnx'), {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
});
const rows = fs.readFileSync(idsPath, 'utf8').split('\n').filter((l) => l.length > 0)
  .map((l) => JSON.parse(l));

let pooledAll = null; // (texts, C), filled by every pass
async function pass() {
  let checksum = 0;
  const t0 = process.hrtime.bigint();
  for (let i0 = 0; i0 < rows.length; i0 += batch) {
    const part = rows.slice(i0, i0 + batch);
    const B = part.length, T = Math.max(...part.map((r) => r.length));
    const ids = new BigInt64Array(B * T), mask = new BigInt64Array(B * T);
    part.forEach((r, b) => r.forEach((id, t) => { ids[b * T + t] = BigInt(id); mask[b * T + t] = 1n; }));
    const out = await session.run({
      input_ids: new ort.Tensor('int64', ids, [B, T]),
      attention_mask: new ort.Tensor('int64', mask, [B, T]),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(B * T), [B, T]),
    });
    const h = out.last_hidden_state.data, C = out.last_hidden_state.dims[2];
    if (!pooledAll) pooledAll = new Float32Array(rows.length * C);
    part.forEach((r, b) => {
      const pooled = pooledAll.subarray((i0 + b) * C, (i0 + b + 1) * C);
      pooled.fill(0);
      for (let t = 0; t < r.length; t++)
        for (let c = 0; c < C; c++) pooled[c] += h[(b * T + t) * C + c];
      for (let c = 0; c < C; c++) {
        pooled[c] /= r.length;
        checksum += pooled[c];
      }
    });
  }
  return [Number(process.hrtime.bigint() - t0) / 1e9, checksum];
}

for (let r = 0; r < warmup; r++) await pass();
const times = [];
let checksum = 0;
for (let r = 0; r < repeat; r++) {
  const [s, c] = await pass();
  times.push(s);
  checksum = c;
}
times.sort((a, b) => a - b);
const n = times.length, med = n % 2 ? times[(n - 1) / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
const rss = process.resourceUsage().maxRSS / 1024;
if (pooledOut) fs.writeFileSync(pooledOut, Buffer.from(pooledAll.buffer));
console.log(`ort_e2e ${rows.length} ${med.toFixed(3)} ${(rows.length / med).toFixed(2)} ${rss.toFixed(1)} checksum ${checksum.toPrecision(6)}`);
