// ONNX Runtime side of scripts/bench/bench.sh: runs MODEL_DIR/model.onnx (CPU, all graph
// optimisations, THREADS intra-op threads) on the ids bench_encoder saved in IO_DIR, and
// compares with lector's hidden states there.
//
//   node ort.mjs MODEL_DIR IO_DIR THREADS REPEAT WARMUP 1x128 8x128 ...
// Prints one line per case: "ort B T median_ms sentences_per_s max_abs_diff min_cosine"
// (the smallest cosine between a token row of ORT's and of lector's hidden states).
// Environment: ORT_MODEL=FILE runs MODEL_DIR/FILE instead of model.onnx (model.int8.onnx,
// written by quantize_onnx.py); ORT_SAVE=DIR writes ORT's hidden states of each case to
// DIR/out_BxT.f32, as bench_encoder --save does (for compare.mjs).
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';

import { maxAbsDiff, minCosine } from './compare.mjs';

const [modelDir, ioDir, threadsArg, repeatArg, warmupArg, ...cases] = process.argv.slice(2);
const threads = Number(threadsArg), repeat = Number(repeatArg), warmup = Number(warmupArg);

const modelFile = process.env.ORT_MODEL || 'model.onnx';
const saveDir = process.env.ORT_SAVE || '';
const session = await ort.InferenceSession.create(path.join(modelDir, modelFile), {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
});

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
};

for (const c of cases) {
  const [B, T] = c.split('x').map(Number);
  const raw = fs.readFileSync(path.join(ioDir, `ids_${c}.i32`));
  const ids32 = new Int32Array(raw.buffer, raw.byteOffset, B * T);
  const ids = new ort.Tensor('int64', BigInt64Array.from(ids32, (x) => BigInt(x)), [B, T]);
  const mask = new ort.Tensor('int64', new BigInt64Array(B * T).fill(1n), [B, T]);
  const types = new ort.Tensor('int64', new BigInt64Array(B * T), [B, T]);
  const feeds = { input_ids: ids, attention_mask: mask, token_type_ids: types };
  let out;
  for (let r = 0; r < warmup; r++) out = await session.run(feeds);
  const times = [];
  for (let r = 0; r < repeat; r++) {
    const t0 = process.hrtime.bigint();
    out = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const got = out.last_hidden_state.data;
  const lraw = fs.readFileSync(path.join(ioDir, `out_${c}.f32`));
  const want = new Float32Array(lraw.buffer.slice(lraw.byteOffset, lraw.byteOffset + lraw.length));
  const diff = maxAbsDiff(want, got);
  if (saveDir) {
    fs.writeFileSync(path.join(saveDir, `out_${c}.f32`),
                     Buffer.from(got.buffer, got.byteOffset, got.byteLength));
  }
  const cos = minCosine(want, got, want.length / (B * T));
  const ms = median(times);
  console.log(`ort ${B} ${T} ${ms.toFixed(2)} ${(B / (ms / 1e3)).toFixed(2)} ${diff.toExponential(2)} ${cos.toFixed(6)}`);
}
