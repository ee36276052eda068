#!/usr/bin/env python3
"""Compare lector's linear head with scikit-learn's LogisticRegression on the same features.

    scripts/accuracy/compare_sklearn.py --encoder DIR --corpus DIR [--pooling mean] [--lector build/lector]

The corpus folder holds train.csv, test.csv and optionally dev.csv (columns text,label).
Features come from `lector embed` (so both sides see identical vectors); LogisticRegression's
C is tuned on dev.csv (or on a stratified 10% of train.csv when there is none). lector is
trained with `lector train` on the same split and scored with `lector eval`. Prints one line
per system with test accuracy and macro-F1.

Needs Debian's python3-numpy and python3-sklearn.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def embed(lector, encoder, pooling, max_len, texts):
    # One text per line: the CSV texts of these corpora hold no line breaks.
    p = subprocess.run([lector, "embed", "--encoder", encoder, "--pooling", pooling,
                        "--max-len", str(max_len), "--quiet"],
                       input="".join(t.replace("\n", " ") + "\n" for t in texts),
                       capture_output=True, text=True, check=True)
    return np.array([json.loads(l)["embedding"] for l in p.stdout.splitlines()], dtype=np.float64)


def write_csv(path, texts, labels):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encoder", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--pooling", default="mean")
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lector", default=os.path.join(os.path.dirname(__file__), "..", "build", "lector"))
    a = ap.parse_args()

    tr_x, tr_y = read_csv(os.path.join(a.corpus, "train.csv"))
    te_x, te_y = read_csv(os.path.join(a.corpus, "test.csv"))
    dev = os.path.join(a.corpus, "dev.csv")
    tmp = tempfile.mkdtemp()
    if os.path.exists(dev):
        dv_x, dv_y = read_csv(dev)
    else:
        tr_x, dv_x, tr_y, dv_y = train_test_split(tr_x, tr_y, test_size=0.1, random_state=0, stratify=tr_y)
    write_csv(os.path.join(tmp, "train.csv"), tr_x, tr_y)
    write_csv(os.path.join(tmp, "dev.csv"), dv_x, dv_y)
    write_csv(os.path.join(tmp, "test.csv"), te_x, te_y)

    t0 = time.time()
    Xtr = embed(a.lector, a.encoder, a.pooling, a.max_len, tr_x)
    Xdv = embed(a.lector, a.encoder, a.pooling, a.max_len, dv_x)
    Xte = embed(a.lector, a.encoder, a.pooling, a.max_len, te_x)
    t_embed = time.time() - t0
    sc = StandardScaler().fit(Xtr)
    best = None
    for C in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
        clf = LogisticRegression(C=C, max_iter=2000).fit(sc.transform(Xtr), tr_y)
        acc = accuracy_score(dv_y, clf.predict(sc.transform(Xdv)))
        if best is None or acc > best[0]:
            best = (acc, C, clf)
    pred = best[2].predict(sc.transform(Xte))
    print(f"sklearn LogisticRegression (C={best[1]} tuned on dev, dev acc {best[0]:.4f}): "
          f"test accuracy {accuracy_score(te_y, pred):.4f}, macro-F1 {f1_score(te_y, pred, average='macro'):.4f} "
          f"[embedding {t_embed:.1f} s]")

    model = os.path.join(tmp, "m.lector")
    t0 = time.time()
    subprocess.run([a.lector, "train", "--encoder", a.encoder, "--train", os.path.join(tmp, "train.csv"),
                    "--valid", os.path.join(tmp, "dev.csv"), "--pooling", a.pooling, "--max-len", str(a.max_len),
                    "--epochs", str(a.epochs), "--features", "encoder", "--output", model, "--quiet"],
                   check=True)
    t_train = time.time() - t0
    p = subprocess.run([a.lector, "eval", "--model", model, "--data", os.path.join(tmp, "test.csv"),
                        "--format", "json", "--quiet"], capture_output=True, text=True, check=True)
    rep = json.loads(p.stdout)
    print(f"lector linear head on encoder features ({a.epochs} epochs, best on dev): test accuracy {rep['accuracy']:.4f}, "
          f"macro-F1 {rep['macro_f1']:.4f} [train incl. encoding {t_train:.1f} s]")


if __name__ == "__main__":
    sys.exit(main())
