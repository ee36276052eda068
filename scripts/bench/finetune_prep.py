#!/usr/bin/env python3
"""Tokenize a corpus once, with lector's own tokenizer, for the fine-tuning benchmark.

Writes OUT/{train,dev,test}.ids: one text a line, "label<TAB>id id ...", ids truncated to
--max-length the way Hugging Face truncates (the first max-1 ids, then the closing [SEP]).
Both bench_finetune (lector) and finetune_torch.py (PyTorch) read these files, so they
train on the same token ids. A corpus without dev.csv gets a stratified 10% of train held
out for validation (seeded), as docs/accuracy.md does.

usage: finetune_prep.py --corpus DIR --out DIR --lector BIN --encoder DIR [--max-length 64]
"""
import argparse
import csv
import json
import os
import random
import subprocess
import sys


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [(r["text"].replace("\n", " ").replace("\r", " "), r["label"]) for r in rows]


def tokenize(lector, encoder, texts):
    out = subprocess.run([lector, "tokenize", "--encoder", encoder],
                         input="\n".join(texts) + "\n", capture_output=True, text=True,
                         check=True).stdout
    ids = [json.loads(line)["ids"] for line in out.splitlines() if line.strip()]
    if len(ids) != len(texts):
        sys.exit("tokenize returned %d rows for %d texts" % (len(ids), len(texts)))
    return ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--lector", required=True)
    ap.add_argument("--encoder", required=True)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--seed", type=int, default=13)
    a = ap.parse_args()
    labels = [l.strip() for l in open(os.path.join(a.corpus, "labels.txt"), encoding="utf-8")
              if l.strip()]
    index = {l: i for i, l in enumerate(labels)}
    splits = {"train": read_csv(os.path.join(a.corpus, "train.csv")),
              "test": read_csv(os.path.join(a.corpus, "test.csv"))}
    dev = os.path.join(a.corpus, "dev.csv")
    if os.path.exists(dev):
        splits["dev"] = read_csv(dev)
    else:  # stratified 10% of train, seeded
        rng = random.Random(a.seed)
        by = {}
        for i, (_, y) in enumerate(splits["train"]):
            by.setdefault(y, []).append(i)
        held = set()
        for y in sorted(by):
            idx = by[y][:]
            rng.shuffle(idx)
            held.update(idx[:max(1, round(0.1 * len(idx)))])
        splits["dev"] = [r for i, r in enumerate(splits["train"]) if i in held]
        splits["train"] = [r for i, r in enumerate(splits["train"]) if i not in held]
    os.makedirs(a.out, exist_ok=True)
    for name, rows in splits.items():
        ids = tokenize(a.lector, a.encoder, [t for t, _ in rows])
        with open(os.path.join(a.out, name + ".ids"), "w") as f:
            for (_, y), row in zip(rows, ids):
                if len(row) > a.max_length:
                    row = row[:a.max_length - 1] + [row[-1]]
                lab = index[y] if y in index else int(y)
                f.write("%d\t%s\n" % (lab, " ".join(map(str, row))))
        print("%s: %d rows" % (name, len(rows)), file=sys.stderr)


if __name__ == "__main__":
    main()
