#!/usr/bin/env python3
"""Classify a large text file with lector on a Dask cluster, keeping input order.

    scripts/scale/dask_classify.py --model MODEL --input texts.txt [--workers 4]
        [--chunk-lines 10000] [--scheduler tcp://host:8786] [--lector PATH]
        [-- extra classify options]

Each task pipes one partition of the input (whole lines, taken by byte ranges cut at line
ends) through `lector classify --model MODEL`, and the results are written to stdout in
partition order, so the output equals a single `lector classify` run on the same file.
Without --scheduler a LocalCluster of --workers processes (one thread each) is started on
this machine; with it, the tasks go to an existing cluster whose workers can run lector and
read MODEL, the encoder and the input at the same paths.

Needs Debian's python3-distributed.
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dask_cluster import dask_client  # noqa: E402


def line_ranges(path, chunk_bytes):
    """Byte ranges [begin, end) covering the file, each ending just after a newline."""
    size = os.path.getsize(path)
    ranges = []
    with open(path, "rb") as f:
        begin = 0
        while begin < size:
            end = min(begin + chunk_bytes, size)
            if end < size:
                f.seek(end)
                rest = f.readline()
                end += len(rest)
            ranges.append((begin, end))
            begin = end
    return ranges


def classify_range(lector, model, path, begin, end, extra):
    with open(path, "rb") as f:
        f.seek(begin)
        data = f.read(end - begin)
    # One lector thread per task: the cluster provides the parallelism.
    p = subprocess.run([lector, "classify", "--model", model, "--threads", "1", "--quiet"] + extra,
                       input=data, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("lector classify failed on bytes %d-%d: %s" % (begin, end, p.stderr.decode(errors="replace")))
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--chunk-bytes", type=int, default=1 << 20)
    ap.add_argument("--scheduler")
    ap.add_argument("--lector", default="lector")
    ap.add_argument("extra", nargs="*", help="more options for lector classify (after --)")
    a = ap.parse_args()

    model = os.path.abspath(a.model)
    path = os.path.abspath(a.input)
    lector = a.lector if os.sep not in a.lector else os.path.abspath(a.lector)
    with dask_client(a.scheduler, a.workers) as client:
        futures = [client.submit(classify_range, lector, model, path, b, e, a.extra, pure=False)
                   for b, e in line_ranges(path, a.chunk_bytes)]
        out = sys.stdout.buffer
        for fut in futures:  # in partition order: the output keeps the input order
            out.write(fut.result())
        out.flush()


if __name__ == "__main__":
    main()
