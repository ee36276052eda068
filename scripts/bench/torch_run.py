#!/usr/bin/python3
"""PyTorch side of scripts/bench/bench.sh: the same random BERT (the PyTorch module of
scripts/dev/random_encoder.py, loaded from model.safetensors) on the ids bench_encoder saved.

    torch_run.py MODEL_DIR IO_DIR THREADS REPEAT WARMUP 1x128 8x128 ...
Prints "torch B T median_ms sentences_per_s max_abs_diff" per case.
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dev"))
from random_encoder import read_safetensors, torch_bert  # noqa: E402


def main():
    model_dir, io_dir, threads, repeat, warmup, *cases = sys.argv[1:]
    threads, repeat, warmup = int(threads), int(repeat), int(warmup)
    torch.set_num_threads(threads)
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    m = torch_bert(read_safetensors(os.path.join(model_dir, "model.safetensors")), cfg)
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


if __name__ == "__main__":
    main()
