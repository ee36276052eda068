#!/usr/bin/env python3
"""Accuracy tables for docs/accuracy.md: lector (--features encoder, ngrams, both; its plain
defaults; --autotune) against fastText supervised and TF-IDF + LogisticRegression on the same
splits, and lector's linear head against scikit-learn's LogisticRegression on the same lector
features (parity).

    scripts/accuracy/accuracy.py --lector build/lector --corpora ../shared/corpora \
        --encoder ../shared/models/mini-mlm-uncased [--corpus sst2-sentences ...] [--out DIR] \
        [--systems baselines,defaults,autotune,grids,random]

Splits: train.csv and test.csv of each corpus; validation is dev.csv where the corpus has one,
else a stratified 10% of train.csv (seed 42) written to DIR, which every system uses alike
(lector gets it with --valid; LogisticRegression tunes C on it; fastText ignores it).
The random-initialised encoder of the same shape is made with ../dev/random_encoder.py --like
ENCODER --init hf.
Parity features are read back from lector's feature cache (the vectors lector trains on).
"defaults" is one `lector train` with no option but the split and --seed; "autotune" the same
with --autotune, its search bounded by --autotune-trials so that it makes the same choice on
any machine (the time budget given with it is only a safety net).
Needs Debian's python3-numpy, python3-sklearn and (for fastText) the fasttext package; run
with /usr/bin/python3. Prints Markdown tables on stdout and writes DIR/results.json.
"""
import argparse
import csv
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import train_test_split
import pickle

CORPORA = ["sst2-sentences", "rt-polarity", "trec", "ag_news", "imdb"]
C_GRID = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100]
# lector's options tuned on validation macro-F1, like LogisticRegression's C.
# (the n-gram options without the column weighting, which grid.py varies alone)
GRID_NGRAM_STEPS = [["--lr-ngrams", lr, "--epochs", ep] + b for lr in ("0.01", "0.03", "0.1")
                    for ep in ("10", "20") for b in ([], ["--ngram-boundaries"])]
GRID_NGRAMS = [g + ["--ngram-weighting", w] for g in GRID_NGRAM_STEPS for w in ("idf-nb", "nb")]


def with_dense_lr(grid):
    """With n-grams beside it, the dense half may want a smaller step than alone."""
    return [g + ["--lr", lr] for g in grid for lr in ("0.003", "0.0003")]


GRID_BOTH = with_dense_lr(GRID_NGRAMS)
GRID_ENCODER = [["--lr", lr, "--epochs", "20"] for lr in ("0.001", "0.003", "0.01")]


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def write_csv(path, texts, labels):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels))


def splits(corpora, name, out):
    d = os.path.join(corpora, name)
    tr = read_csv(os.path.join(d, "train.csv"))
    te = read_csv(os.path.join(d, "test.csv"))
    dev = os.path.join(d, "dev.csv")
    paths = {"test": os.path.join(d, "test.csv")}
    if os.path.exists(dev):
        va = read_csv(dev)
        paths["train"], paths["valid"] = os.path.join(d, "train.csv"), dev
    else:
        xt, xv, yt, yv = train_test_split(tr[0], tr[1], test_size=0.1, stratify=tr[1], random_state=42)
        tr, va = (xt, yt), (xv, yv)
        paths["train"] = os.path.join(out, name + ".train.csv")
        paths["valid"] = os.path.join(out, name + ".valid.csv")
        write_csv(paths["train"], *tr)
        write_csv(paths["valid"], *va)
    return tr, va, te, paths


def scores(y, p):
    return 100 * accuracy_score(y, p), 100 * f1_score(y, p, average="macro")


# How every system picks its hyperparameters on the validation set: "logloss" (the lowest
# validation log-loss) or "f1" (the best validation macro-F1; for lector, its --min-delta
# rule below). Set from --select.
SELECT = "f1"


def pick(runs):
    """runs: (macro_f1, log_loss, ...) tuples in grid order; the one SELECT chooses."""
    if SELECT == "logloss":
        return min(runs, key=lambda r: r[1])
    return max(runs, key=lambda r: r[0])  # first of the best


def tfidf_lr(tr, va, te):
    t0 = time.time()
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    Xtr = vec.fit_transform(tr[0])
    Xva, Xte = vec.transform(va[0]), vec.transform(te[0])
    runs = []
    for C in C_GRID:
        m = LogisticRegression(C=C, max_iter=2000).fit(Xtr, tr[1])
        f1 = f1_score(va[1], m.predict(Xva), average="macro")
        runs.append((f1, log_loss(va[1], m.predict_proba(Xva), labels=m.classes_), C, m))
    best = pick(runs)
    dt = time.time() - t0
    size = len(pickle.dumps((vec, best[3])))
    return scores(te[1], best[3].predict(Xte)) + (dt, size, "C=%g" % best[2])


def ft_line(text, label):
    return "__label__%s %s\n" % (label, " ".join(text.lower().split()))


def fasttext(tr, va, te, out, name):
    exe = shutil.which("fasttext")
    if not exe:
        return None
    ftr, fte = os.path.join(out, name + ".ft.train"), os.path.join(out, name + ".ft.test")
    with open(ftr, "w", encoding="utf-8") as f:
        f.writelines(ft_line(t, l) for t, l in zip(*tr))
    with open(fte, "w", encoding="utf-8") as f:
        f.writelines(" ".join(t.lower().split()) + "\n" for t in te[0])
    fva = os.path.join(out, name + ".ft.valid")
    with open(fva, "w", encoding="utf-8") as f:
        f.writelines(" ".join(t.lower().split()) + "\n" for t in va[0])

    def predict(model, path):
        p = subprocess.run([exe, "predict", model + ".bin", path], check=True, capture_output=True, text=True)
        return [l.strip().replace("__label__", "") for l in p.stdout.splitlines()]

    def valid_log_loss(model, path, y):
        # every label's probability: "__label__a 0.9 __label__b 0.1" per line
        p = subprocess.run([exe, "predict-prob", model + ".bin", path, "-1"], check=True,
                           capture_output=True, text=True)
        total = 0.0
        for line, label in zip(p.stdout.splitlines(), y):
            f = line.split()
            probs = {f[i].replace("__label__", ""): float(f[i + 1]) for i in range(0, len(f) - 1, 2)}
            total -= np.log(max(probs.get(label, 0.0), 1e-15))
        return total / len(y)

    runs = []
    for lr in ("0.1", "0.5", "1.0"):  # tuned on validation, as LogisticRegression's C is
        model = os.path.join(out, name + ".ft" + lr)
        t0 = time.time()
        subprocess.run([exe, "supervised", "-input", ftr, "-output", model, "-epoch", "5", "-wordNgrams", "2",
                        "-lr", lr, "-thread", "2", "-seed", "1"], check=True, capture_output=True)
        dt = time.time() - t0
        os.remove(model + ".vec")
        f1 = f1_score(va[1], predict(model, fva), average="macro")
        runs.append((f1, valid_log_loss(model, fva, va[1]), model, dt, lr))
    best = pick(runs)
    pred = predict(best[2], fte)
    size = os.path.getsize(best[2] + ".bin")
    for r in runs:
        os.remove(r[2] + ".bin")  # about 800 MB each with the default 2M buckets
    return scores(te[1], pred) + (best[3], size, "lr " + best[4])


# lector's own selection rule (its --min-delta, applied to the grid as to the epochs):
# macro-F1 differences up to MIN_DELTA are ties, broken by the lower validation log-loss.
MIN_DELTA = 0.005


def lector_run(lector, enc, paths, features, out, tag, cache, grid):
    """Train once per grid entry (a list of extra options) and keep one (SELECT "logloss":
    the lowest validation log-loss; "f1": among the runs whose validation macro-F1 is within
    MIN_DELTA of the best one, the lowest log-loss); score it on test. Time is that run's
    wall time."""
    runs = []
    model = os.path.join(out, tag + ".lector")
    for i, extra in enumerate(grid):
        cmd = [lector, "train", "--encoder", enc, "--train", paths["train"], "--valid", paths["valid"],
               "--features", features, "--cache", cache, "-o", "%s.try%d" % (model, i), "--threads", "2",
               "--report-format", "json"] + list(extra)
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.time() - t0
        if p.returncode != 0:
            raise SystemExit("lector train failed: %s\n%s" % (" ".join(cmd), p.stderr))
        enc_s = sum(float(l.split(" in ")[1].split(" s")[0]) for l in p.stderr.splitlines() if "encoded" in l)
        rep = json.loads(p.stderr.strip().splitlines()[-1])
        runs.append((rep["macro_f1"], rep["log_loss"], dt, enc_s, extra, i))
    if SELECT == "logloss":
        best = pick(runs)
    else:
        top = max(r[0] for r in runs)
        best = min((r for r in runs if r[0] >= top - MIN_DELTA), key=lambda r: (r[1], r[5]))
    for r in runs:
        path = "%s.try%d" % (model, r[5])
        if r is best:
            os.replace(path, model)
        else:
            os.remove(path)
    e = subprocess.run([lector, "eval", "--model", model, "--data", paths["test"], "--format", "json",
                        "--cache", cache], capture_output=True, text=True, check=True)
    r = json.loads(e.stdout)
    return (100 * r["accuracy"], 100 * r["macro_f1"], best[2], os.path.getsize(model), best[3], r["ece"],
            " ".join(best[4]))


def lector_single(lector, enc, paths, out, tag, cache, extra):
    """One `lector train` (no grid: the defaults, or --autotune, which chooses on validation
    itself), scored on test. The last column is what was chosen (the autotune line)."""
    model = os.path.join(out, tag + ".lector")
    cmd = [lector, "train", "--encoder", enc, "--train", paths["train"], "--valid", paths["valid"], "--cache", cache,
           "-o", model, "--threads", "2", "--seed", str(SEED)] + list(extra)
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.time() - t0
    if p.returncode != 0:
        raise SystemExit("lector train failed: %s\n%s" % (" ".join(cmd), p.stderr))
    with open(os.path.join(out, tag + ".stderr"), "w") as f:
        f.write(p.stderr)
    enc_s = sum(float(l.split(" in ")[1].split(" s")[0]) for l in p.stderr.splitlines() if "encoded" in l)
    chosen = [l.split("training with ", 1)[1] for l in p.stderr.splitlines() if "autotune: the same as" in l]
    e = subprocess.run([lector, "eval", "--model", model, "--data", paths["test"], "--format", "json",
                        "--cache", cache], capture_output=True, text=True, check=True)
    r = json.loads(e.stdout)
    return (100 * r["accuracy"], 100 * r["macro_f1"], dt, os.path.getsize(model), enc_s, r["ece"],
            chosen[0] if chosen else "defaults (--seed %d)" % SEED)


# The seed of the defaults and autotune runs.
SEED = 1


def cache_vectors(cache_dir):
    """{sha256(text bytes): vector} from every lector feature cache file in cache_dir."""
    vecs = {}
    for name in os.listdir(cache_dir):
        if not name.endswith(".lfc"):
            continue
        b = open(os.path.join(cache_dir, name), "rb").read()
        assert b[:8] == b"LECTORFC"
        _, C, klen = struct.unpack("<III", b[8:20])
        pos, rec = 20 + klen, 32 + 4 * C
        key = b[20:pos].decode()
        while pos + rec <= len(b):
            vecs[(key, b[pos:pos + 32])] = np.frombuffer(b[pos + 32:pos + rec], "<f4")
            pos += rec
    return vecs


def parity(cache_dir, enc_checksum_hint, tr, va, te):
    vecs = cache_vectors(cache_dir)
    keys = {k for k, _ in vecs}
    key = [k for k in keys if enc_checksum_hint in k]
    if len(key) > 1:  # truncated and windowed vectors of the same texts: lector's default is windows
        key = [k for k in key if "doc_pooling=mean" in k]
    if len(key) != 1:
        return None
    key = key[0]

    def X(texts):
        return np.stack([vecs[(key, hashlib.sha256(t.encode()).digest())] for t in texts]).astype(np.float64)

    from sklearn.preprocessing import StandardScaler
    sc = StandardScaler().fit(X(tr[0]))
    Xtr, Xva, Xte = sc.transform(X(tr[0])), sc.transform(X(va[0])), sc.transform(X(te[0]))
    best = None
    for C in C_GRID:
        m = LogisticRegression(C=C, max_iter=3000).fit(Xtr, tr[1])
        f1 = f1_score(va[1], m.predict(Xva), average="macro")
        if best is None or f1 > best[0]:
            best = (f1, C, m)
    return scores(te[1], best[2].predict(Xte)) + (best[1],)


def model_meta(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]


def follow_up_args(doc):
    """The options grid.py and seeds.py share (they rerun parts of a run)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--lector", default="build/lector")
    ap.add_argument("--corpora", required=True)
    ap.add_argument("--encoder", required=True)
    ap.add_argument("--corpus", action="append")
    ap.add_argument("--out", default="accuracy-out")
    return ap


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lector", default="build/lector")
    ap.add_argument("--corpora")
    ap.add_argument("--encoder")
    ap.add_argument("--random-encoder", default=None, help="[DIR/random-encoder, made if missing]")
    ap.add_argument("--corpus", action="append")
    ap.add_argument("--out", default="accuracy-out")
    ap.add_argument("--no-random", action="store_true")
    ap.add_argument("--systems", default="baselines,defaults,autotune,grids,random",
                    help="comma-separated: baselines (fastText, TF-IDF + LR), defaults, autotune, grids "
                         "(lector --features grids and parity), random (the random-initialised encoder)")
    ap.add_argument("--autotune-trials", type=int, default=30, help="--autotune-trials of the autotune runs [30]")
    ap.add_argument("--autotune-budget", type=float, default=1800,
                    help="--autotune-budget of the autotune runs, seconds [1800]")
    ap.add_argument("--select", choices=("logloss", "f1"), default="f1",
                    help="pick every system's hyperparameters on validation macro-F1 [default] or log-loss")
    ap.add_argument("--from-json", action="append", help="print the tables of saved results.json files")
    ap.add_argument("--baselines-from", action="append",
                    help="take fastText and TF-IDF + LR results from these results.json files")
    a = ap.parse_args()
    global SELECT
    SELECT = a.select
    systems = set(a.systems.split(","))
    if a.no_random:
        systems.discard("random")
    if a.from_json:
        results = {}
        for path in a.from_json:
            results.update(json.load(open(path)))
        print_tables(results)
        return
    os.makedirs(a.out, exist_ok=True)
    cache = os.path.join(a.out, "cache")
    rnd = a.random_encoder or os.path.join(a.out, "random-encoder")
    if "random" in systems and not os.path.exists(os.path.join(rnd, "model.safetensors")):
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run([sys.executable, os.path.join(here, "..", "dev", "random_encoder.py"), rnd,
                        "--like", a.encoder, "--init", "hf"], check=True)
    results, old = {}, {}
    for path in a.baselines_from or []:
        old.update(json.load(open(path)))
    for name in a.corpus or CORPORA:
        tr, va, te, paths = splits(a.corpora, name, a.out)
        r = {}
        if name in old:
            r["tfidf_lr"], r["fasttext"] = old[name]["tfidf_lr"], old[name]["fasttext"]
        elif "baselines" in systems:
            r["tfidf_lr"] = tfidf_lr(tr, va, te)
            r["fasttext"] = fasttext(tr, va, te, a.out, name)
        if "defaults" in systems:
            r["lector_defaults"] = lector_single(a.lector, a.encoder, paths, a.out, name + ".defaults", cache, [])
        if "autotune" in systems:
            r["lector_autotune"] = lector_single(a.lector, a.encoder, paths, a.out, name + ".autotune", cache,
                                                 ["--autotune", "--autotune-trials", str(a.autotune_trials),
                                                  "--autotune-budget", str(a.autotune_budget)])
        if "grids" in systems:
            r["lector_ngrams"] = lector_run(a.lector, a.encoder, paths, "ngrams", a.out, name + ".ngrams", cache,
                                            GRID_NGRAMS)
            r["lector_encoder"] = lector_run(a.lector, a.encoder, paths, "encoder", a.out, name + ".encoder",
                                             cache, GRID_ENCODER)
            sha = model_meta(os.path.join(a.out, name + ".encoder.lector"))["encoder_sha256"]
            r["parity_sklearn_lr"] = parity(cache, sha, tr, va, te)
            r["lector_both"] = lector_run(a.lector, a.encoder, paths, "both", a.out, name + ".both", cache,
                                          GRID_BOTH)
        if "random" in systems:
            r["lector_encoder_random"] = lector_run(a.lector, rnd, paths, "encoder", a.out, name + ".rencoder",
                                                    cache, GRID_ENCODER)
            r["lector_both_random"] = lector_run(a.lector, rnd, paths, "both", a.out, name + ".rboth", cache,
                                                 GRID_BOTH)
        results[name] = r
        print(name, json.dumps(r), file=sys.stderr, flush=True)
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
    print_tables(results)


def print_tables(results):

    # lector's time is the wall time of `lector train` minus encoder time (features from the
    # cache), so it is comparable with the baselines, which get no encoder.
    print("| corpus | system | test accuracy | test macro-F1 | training time (s) | model size | chosen on validation |")
    print("|---|---|---:|---:|---:|---:|---|")
    labels = [("fasttext", "fastText supervised (5 epochs, bigrams)"),
              ("tfidf_lr", "TF-IDF 1-2-gram + LogisticRegression (C tuned)"),
              ("lector_defaults", "lector, default options (mini-mlm)"),
              ("lector_autotune", "lector --autotune (mini-mlm)"),
              ("lector_ngrams", "lector --features ngrams"),
              ("lector_encoder", "lector --features encoder (mini-mlm)"),
              ("lector_both", "lector --features both (mini-mlm)"),
              ("lector_encoder_random", "lector --features encoder (random init)"),
              ("lector_both_random", "lector --features both (random init)")]
    for name, r in results.items():
        for k, label in labels:
            v = r.get(k)
            if not v:
                continue
            enc_s = v[4] if k.startswith("lector") else 0.0
            tuned = v[6] if k.startswith("lector") else v[4]
            print("| %s | %s | %.1f | %.1f | %.1f | %.2f MB | %s |" % (
                name, label, v[0], v[1], v[2] - enc_s, v[3] / 1e6, tuned))
    print()
    print("| corpus | best baseline | lector --autotune | lector defaults |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        base = [(r[k][0], label) for k, label in (("tfidf_lr", "TF-IDF + LR"), ("fasttext", "fastText")) if r.get(k)]
        if not base:
            continue
        b = max(base)
        cells = ["%.1f (%+.1f)" % (r[k][0], r[k][0] - b[0]) if r.get(k) else "-"
                 for k in ("lector_autotune", "lector_defaults")]
        print("| %s | %.1f (%s) | %s | %s |" % (name, b[0], b[1], cells[0], cells[1]))
    print()
    print("| corpus | lector linear head (--features encoder) | scikit-learn LogisticRegression (C tuned) | difference |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        p = r.get("parity_sklearn_lr")
        if p:
            print("| %s | %.1f | %.1f (C=%g) | %+.1f |" % (name, r["lector_encoder"][0], p[0], p[2],
                                                         r["lector_encoder"][0] - p[0]))


if __name__ == "__main__":
    main()
