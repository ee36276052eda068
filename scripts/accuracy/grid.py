#!/usr/bin/env python3
"""How an n-gram option moves lector's whole hyperparameter grid, not just the setting that
validation picks: for each corpus and each value of the option, every entry of
accuracy.py's --features grid is trained and scored on validation and test, and the table
gives the mean and the range over the grid (docs/accuracy.md, "What the column weights do").

    scripts/accuracy/grid.py --lector build/lector --corpora ../shared/corpora \
        --encoder ../shared/models/mini-mlm-uncased --out DIR \
        [--option --ngram-weighting --values idf,idf-nb,nb] [--features both]

DIR holds the splits (the same as accuracy.py writes with the same DIR) and the feature
cache. Run with /usr/bin/python3 (Debian's python3-sklearn makes the splits).
"""
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy  # noqa: E402  (the splits and the grids)


def grid(features):
    base = accuracy.GRID_NGRAM_STEPS
    return accuracy.with_dense_lr(base) if features == "both" else base


def run(lector, enc, paths, features, cache, out, tag, extra):
    model = os.path.join(out, tag + ".lector")
    p = subprocess.run([lector, "train", "--encoder", enc, "--train", paths["train"], "--valid", paths["valid"],
                        "--features", features, "--cache", cache, "-o", model, "--threads", "1",
                        "--report-format", "json"] + extra, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("lector train failed: %s" % p.stderr[-400:])
    rep = json.loads(p.stderr.strip().splitlines()[-1])
    e = subprocess.run([lector, "eval", "--model", model, "--data", paths["test"], "--format", "json",
                        "--cache", cache, "--threads", "1"], capture_output=True, text=True, check=True)
    os.remove(model)
    return 100 * rep["macro_f1"], 100 * json.loads(e.stdout)["accuracy"]


def main():
    ap = accuracy.follow_up_args(__doc__)
    ap.add_argument("--features", default="both", choices=("ngrams", "both"))
    ap.add_argument("--option", default="--ngram-weighting")
    ap.add_argument("--values", default="idf,idf-nb,nb")
    ap.add_argument("--jobs", type=int, default=2, help="trainings at once, one thread each [2]")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    cache = os.path.join(a.out, "cache")
    print("| corpus | %s | validation macro-F1, mean (min-max) | test accuracy, mean (min-max) |" % a.option)
    print("|---|---|---:|---:|")
    for name in a.corpus or accuracy.CORPORA:
        paths = accuracy.splits(a.corpora, name, a.out)[3]
        for v in a.values.split(","):
            entries = grid(a.features)
            with ThreadPoolExecutor(a.jobs) as ex:
                res = list(ex.map(lambda ie: run(a.lector, a.encoder, paths, a.features, cache, a.out,
                                                 "%s.grid%d" % (name, ie[0]), ie[1] + [a.option, v]),
                                  enumerate(entries)))
            va, te = [r[0] for r in res], [r[1] for r in res]
            print("| %s | %s | %.2f (%.1f-%.1f) | %.2f (%.1f-%.1f) |" % (
                name, v, statistics.mean(va), min(va), max(va), statistics.mean(te), min(te), max(te)), flush=True)


if __name__ == "__main__":
    main()
