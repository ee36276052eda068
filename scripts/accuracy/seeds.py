#!/usr/bin/env python3
"""How much the side-by-side figures move with the random seed: for each corpus, the
settings accuracy.py chose (read from DIR/results.json) are trained again with seeds
1..N, for lector `--features both` and for fastText (its learning rate as chosen; with
-thread 1, which makes fastText reproducible for a seed, and with the -thread 2 that
accuracy.py uses, which does not). TF-IDF + LogisticRegression (lbfgs) has no seed.
Prints a Markdown table of test accuracy: median and range (docs/accuracy.md).

    scripts/accuracy/seeds.py --lector build/lector --corpora ../shared/corpora \
        --encoder ../shared/models/mini-mlm-uncased --out DIR [--seeds 5]

DIR is the directory of an accuracy.py run (splits, fastText files, feature cache and
results.json). Run with /usr/bin/python3.
"""
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy  # noqa: E402  (splits and fastText helpers)


def lector_acc(a, paths, cache, opts, seed):
    model = os.path.join(a.out, "seeds.lector")
    subprocess.run([a.lector, "train", "--encoder", a.encoder, "--train", paths["train"], "--valid", paths["valid"],
                    "--features", "both", "--cache", cache, "-o", model, "--threads", "2", "-q", "--seed", str(seed)]
                   + opts, check=True)
    e = subprocess.run([a.lector, "eval", "--model", model, "--data", paths["test"], "--format", "json", "--cache",
                        cache, "-q"], capture_output=True, text=True, check=True)
    os.remove(model)
    return 100 * json.loads(e.stdout)["accuracy"]


def fasttext_acc(a, name, test_labels, lr, threads, seed):
    model = os.path.join(a.out, "seeds.ft")
    train = os.path.join(a.out, name + ".ft.train")
    test = os.path.join(a.out, name + ".ft.test")
    subprocess.run(["fasttext", "supervised", "-input", train, "-output", model, "-epoch", "5", "-wordNgrams", "2",
                    "-lr", lr, "-thread", str(threads), "-seed", str(seed)], check=True, capture_output=True)
    p = subprocess.run(["fasttext", "predict", model + ".bin", test], capture_output=True, text=True,
                       check=True).stdout.split()
    for ext in (".bin", ".vec"):
        if os.path.exists(model + ext):
            os.remove(model + ext)
    return 100 * sum(x == "__label__" + y for x, y in zip(p, test_labels)) / len(test_labels)


def cell(v):
    return "%.1f (%.1f-%.1f)" % (statistics.median(v), min(v), max(v))


def main():
    ap = accuracy.follow_up_args(__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args()
    results = json.load(open(os.path.join(a.out, "results.json")))
    cache = os.path.join(a.out, "cache")
    seeds = range(1, a.seeds + 1)
    print("| corpus | TF-IDF + LR | fastText, -thread 1 | fastText, -thread 2 | lector --features both (mini-mlm) |")
    print("|---|---:|---:|---:|---:|")
    for name in a.corpus or accuracy.CORPORA:
        r = results[name]
        _, _, te, paths = accuracy.splits(a.corpora, name, a.out)
        test_labels = [str(y) for y in te[1]]
        lr = r["fasttext"][-1].split()[-1]
        ft1 = [fasttext_acc(a, name, test_labels, lr, 1, s) for s in seeds]
        ft2 = [fasttext_acc(a, name, test_labels, lr, 2, 1) for _ in seeds]
        lec = [lector_acc(a, paths, cache, r["lector_both"][-1].split(), s) for s in seeds]
        print("| %s | %.1f | %s | %s | %s |" % (name, r["tfidf_lr"][0], cell(ft1), cell(ft2), cell(lec)), flush=True)


if __name__ == "__main__":
    main()
