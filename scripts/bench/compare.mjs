// Hidden states against hidden states, for scripts/bench/bench.sh: the files out_BxT.f32 (float32
// little-endian (B, T, C)) that bench_encoder --save and ort.mjs (ORT_SAVE) write.
//
//   node compare.mjs DIR_A DIR_B 1x128 8x128 ...
// Prints one line per case: "cmp B T max_abs_diff min_cosine", the cosine taken per token
// row (the smallest over the B*T rows). ort.mjs imports minCosine and maxAbsDiff.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// smallest cosine between rows of C values of a and b (1 where both rows are zero)
export function minCosine(a, b, C) {
  if (a.length !== b.length || !(C > 0)) return NaN;
  let m = 1;
  for (let r = 0; r < a.length; r += C) {
    let ab = 0, aa = 0, bb = 0;
    for (let i = r; i < r + C; i++) {
      ab += a[i] * b[i];
      aa += a[i] * a[i];
      bb += b[i] * b[i];
    }
    const c = aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : aa === bb ? 1 : 0;
    if (!(c >= m)) m = c; // NaN counts as a mismatch
  }
  return m;
}

// largest |a[i] - b[i]|; Infinity when the lengths differ, NaN counting as a mismatch
export function maxAbsDiff(a, b) {
  let diff = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length && i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= diff)) diff = d;
  }
  return diff;
}

function readF32(file) {
  const raw = fs.readFileSync(file);
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dirA, dirB, ...cases] = process.argv.slice(2);
  for (const c of cases) {
    const [B, T] = c.split('x').map(Number);
    const a = readF32(path.join(dirA, `out_${c}.f32`)), b = readF32(path.join(dirB, `out_${c}.f32`));
    console.log(`cmp ${B} ${T} ${maxAbsDiff(a, b).toExponential(2)} ` +
                `${minCosine(a, b, a.length / (B * T)).toFixed(6)}`);
  }
}
