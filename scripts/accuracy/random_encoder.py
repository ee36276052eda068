#!/usr/bin/env python3
"""Write a random-initialised copy of an encoder directory (same shapes, config and tokenizer).

    scripts/accuracy/random_encoder.py SRC_DIR DST_DIR [--seed 0]

Every F32 tensor of SRC_DIR/model.safetensors is replaced, Hugging Face BERT style: LayerNorm
weights 1, biases and LayerNorm biases 0, every other tensor N(0, 0.02). The other files
(config.json, vocab.txt, tokenizer files) are copied. Used by scripts/accuracy/accuracy.py as the
"random encoder of the same shape" baseline. Needs Debian's python3-numpy.
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.dst, exist_ok=True)
    for name in os.listdir(a.src):
        if name not in ("model.safetensors", "README.md") and os.path.isfile(os.path.join(a.src, name)):
            shutil.copy(os.path.join(a.src, name), os.path.join(a.dst, name))
    with open(os.path.join(a.src, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    rng = np.random.default_rng(a.seed)
    meta = header.pop("__metadata__", None)
    out_header, blobs, offset = {}, [], 0
    for name in sorted(header):
        info = header[name]
        if info["dtype"] != "F32":
            raise SystemExit(f"{name}: only F32 tensors are supported, got {info['dtype']}")
        shape = info["shape"]
        if name.endswith("LayerNorm.weight"):
            t = np.ones(shape, np.float32)
        elif name.endswith(".bias"):
            t = np.zeros(shape, np.float32)
        else:
            t = rng.normal(0.0, 0.02, size=shape).astype(np.float32)
        b = t.astype("<f4").tobytes()
        out_header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if meta is not None:
        out_header["__metadata__"] = meta
    h = json.dumps(out_header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(a.dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main()
