// Turn a SentencePiece unigram model (spiece.model, a serialised ModelProto) into a
// tokenizer.json that Hugging Face tokenizers can load: the model's precompiled normaliser,
// Metaspace pre-tokenisation and a Unigram model with the same pieces and scores.
// Usage: node make_spm_json.js spiece.model out.json
'use strict';
const fs = require('fs');

// Minimal protobuf reader: varints, and the fields we need.
function* fields(buf) {
  let i = 0;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const field = key >> 3, wire = key & 7;
    if (wire === 0) yield { field, value: varint() };
    else if (wire === 1) { yield { field, bytes: buf.subarray(i, i + 8) }; i += 8; }
    else if (wire === 2) { const n = Number(varint()); yield { field, bytes: buf.subarray(i, i + n) }; i += n; }
    else if (wire === 5) { yield { field, bytes: buf.subarray(i, i + 4) }; i += 4; }
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

const [modelPath, outPath] = process.argv.slice(2);
const buf = fs.readFileSync(modelPath);
const vocab = [];
let charsmap = '';
let unkId = 0;
for (const f of fields(buf)) {
  if (f.field === 1) {
    let piece = '', score = 0, type = 1;
    for (const g of fields(f.bytes)) {
      if (g.field === 1) piece = Buffer.from(g.bytes).toString('utf8');
      else if (g.field === 2) score = Buffer.from(g.bytes).readFloatLE(0);
      else if (g.field === 3) type = Number(g.value);
    }
    if (type === 2) unkId = vocab.length;
    vocab.push([piece, score]);
  } else if (f.field === 3) {
    for (const g of fields(f.bytes)) if (g.field === 2) charsmap = Buffer.from(g.bytes).toString('base64');
  }
}
const json = {
  version: '1.0',
  added_tokens: [],
  normalizer: { type: 'Precompiled', precompiled_charsmap: charsmap },
  pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
  post_processor: null,
  decoder: null,
  model: { type: 'Unigram', unk_id: unkId, vocab, byte_fallback: false },
};
fs.writeFileSync(outPath, JSON.stringify(json));
