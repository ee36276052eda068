#!/usr/bin/python3
"""PyTorch side of scripts/bench.sh: the same random BERT (rebuilt from make_checkpoint.py
and loaded from model.safetensors) on the ids bench_encoder saved.

    torch_run.py MODEL_DIR IO_DIR THREADS REPEAT WARMUP 1x128 8x128 ...
Prints "torch B T median_ms sentences_per_s max_abs_diff" per case.
"""
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_checkpoint import Bert  # noqa: E402


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        b, e = h["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype="<f4").reshape(h["shape"]).copy())
    return out


def main():
    model_dir, io_dir, threads, repeat, warmup, *cases = sys.argv[1:]
    threads, repeat, warmup = int(threads), int(repeat), int(warmup)
    torch.set_num_threads(threads)
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    m = Bert(cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"],
             cfg["num_attention_heads"], cfg["intermediate_size"]).eval()
    want = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    with torch.no_grad():
        for hf, p in zip(m.hf_tensors().keys(), _ordered_params(m)):
            p.copy_(want[hf])
    for c in cases:
        B, T = map(int, c.split("x"))
        ids = torch.from_numpy(np.fromfile(os.path.join(io_dir, f"ids_{c}.i32"), dtype="<i4")
                               .astype(np.int64).reshape(B, T))
        mask, types = torch.ones_like(ids), torch.zeros_like(ids)
        times = []
        with torch.inference_mode():
            for r in range(warmup + repeat):
                t0 = time.perf_counter()
                out = m(ids, mask, types)
                if r >= warmup:
                    times.append((time.perf_counter() - t0) * 1e3)
        lector = np.fromfile(os.path.join(io_dir, f"out_{c}.f32"), dtype="<f4")
        diff = float(np.max(np.abs(out.numpy().reshape(-1) - lector)))
        ms = statistics.median(times)
        print(f"torch {B} {T} {ms:.2f} {B / (ms / 1e3):.2f} {diff:.2e}", flush=True)


def _ordered_params(m):
    """The module's parameters in the order hf_tensors lists them."""
    out = [m.word.weight, m.pos.weight, m.tok_type.weight, m.ln.weight, m.ln.bias]
    for l in m.layers:
        for mod in [l.query, l.key, l.value, l.attn_out, l.ln1, l.inter, l.out, l.ln2]:
            out += [mod.weight, mod.bias]
    return out


if __name__ == "__main__":
    main()
