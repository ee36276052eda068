// Time to a first output with ONNX Runtime, for scripts/bench/startup.sh: create the session
// for MODEL_DIR/model.onnx (CPU, all graph optimisations, THREADS intra-op threads) and run
// it once on the ids of one short text (those of "a wonderful film" in BERT's uncased
// vocabulary; no tokenizer is loaded), then print the first value of the output.
//
//   node ort_startup.mjs MODEL_DIR THREADS
import path from 'node:path';
import ort from 'onnxruntime-node';

const [modelDir, threadsArg] = process.argv.slice(2);
const session = await ort.InferenceSession.create(path.join(modelDir, 'model.onnx'), {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  intraOpNumThreads: Number(threadsArg),
  interOpNumThreads: 1,
});
const ids = [101n, 1037n, 6919n, 2143n, 102n];
const t = (v) => new ort.Tensor('int64', BigInt64Array.from(v), [1, v.length]);
const out = await session.run({
  input_ids: t(ids), attention_mask: t(ids.map(() => 1n)), token_type_ids: t(ids.map(() => 0n)),
});
console.log(Object.values(out)[0].data[0]);
