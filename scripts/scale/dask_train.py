#!/usr/bin/env python3
"""Train a lector classifier with the encoder pass spread over a Dask cluster.

    scripts/scale/dask_train.py --lector BIN [--workers N | --scheduler ADDR] [--shards K]
                                -- TRAIN-OPTIONS...

The options after `--` are those of `lector train` (--encoder, --train, --valid, --output,
...). The cost of training is the encoder pass over the corpus; the head takes seconds. So K
tasks (default: one per worker) each run `lector featurise --shard I/K` on the training and
validation CSVs into a private feature cache and send the cache files back; they are merged
with `lector cache merge` (every record verified) into the cache `lector train` uses (its
--cache, else the default one), and `lector train TRAIN-OPTIONS` then runs here without
running the encoder. The model is byte-identical to a single `lector train` run.

Without --scheduler a LocalCluster of --workers processes (one thread each) is started on
this machine; with it, the tasks go to an existing cluster whose workers can run lector and
read the encoder and the CSVs at the same paths (the caches travel through Dask, so no
shared file system is needed for them).

Needs Debian's python3-distributed.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dask_cluster import dask_client  # noqa: E402

# Options of `lector train` that decide the features (and so the cache key), with whether
# they take a value: passed on to `lector featurise` as given.
FEATURE_OPTIONS = {
    "--encoder": True, "-e": True, "--text-column": True, "--pooling": True, "-p": True,
    "--max-len": True, "-n": True, "--stride": True, "--doc-pooling": True, "--truncate": False,
}


def split_train_options(opts):
    """(featurise options, CSV paths, cache dir or None, features, no_cache) from train's."""
    feat, csvs, cache, features, no_cache = [], [], None, "both", False
    i = 0
    while i < len(opts):
        arg = opts[i]
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        takes = FEATURE_OPTIONS.get(name)
        value_opts = ("--train", "--valid", "--cache", "--features")
        if takes is None and name not in value_opts:
            if name == "--no-cache":
                no_cache = True
            i += 1
            continue
        if takes is False:
            feat.append(arg)
            i += 1
            continue
        if eq:
            value = inline
            i += 1
        else:
            if i + 1 >= len(opts):
                sys.exit("dask_train: %s needs a value" % name)
            value = opts[i + 1]
            i += 2
        if name in ("--train", "--valid"):
            csvs.append(os.path.abspath(value))
        elif name == "--cache":
            cache = value
        elif name == "--features":
            features = value
        else:
            if name in ("--encoder", "-e"):
                value = os.path.abspath(value)
            feat += [name, value]
    return feat, csvs, cache, features, no_cache


def default_cache_dir():
    x = os.environ.get("XDG_CACHE_HOME", "")
    if x.startswith("/"):
        return os.path.join(x, "lector", "features")
    return os.path.join(os.path.expanduser("~"), ".cache", "lector", "features")


def featurise_shard(lector, feat, csvs, shard, n_shards):
    """Run one shard in a private cache; return its files as {name: bytes}."""
    work = tempfile.mkdtemp(prefix="lector-shard-")
    try:
        # One lector thread per task: the cluster provides the parallelism.
        cmd = [lector, "featurise", "--quiet", "--threads", "1", "--shard", "%d/%d" % (shard, n_shards),
               "--cache", work, "--cache-max-size", "0"] + feat + csvs
        p = subprocess.run(cmd, capture_output=True)
        if p.returncode != 0:
            raise RuntimeError("lector featurise --shard %d/%d failed: %s"
                               % (shard, n_shards, p.stderr.decode(errors="replace")))
        files = {}
        for name in sorted(os.listdir(work)):
            if name.endswith(".lfc"):
                with open(os.path.join(work, name), "rb") as f:
                    files[name] = f.read()
        return files
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit("usage: dask_train.py --lector BIN [--workers N | --scheduler ADDR] [--shards K] "
                 "-- TRAIN-OPTIONS...")
    cut = argv.index("--")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("--lector", default="lector")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    group.add_argument("--scheduler")
    ap.add_argument("--shards", type=int, help="featurisation tasks [one per worker]")
    a = ap.parse_args(argv[:cut])
    train_opts = argv[cut + 1:]

    lector = a.lector if os.sep not in a.lector else os.path.abspath(a.lector)
    feat, csvs, cache, features, no_cache = split_train_options(train_opts)
    if no_cache:
        sys.exit("dask_train: --no-cache leaves nothing to train from; drop it")
    if features != "ngrams" and csvs:
        if cache is None:
            cache = default_cache_dir()
        with dask_client(a.scheduler, a.workers) as client:
            n = a.shards or len(client.scheduler_info()["workers"]) or 1
            futures = [client.submit(featurise_shard, lector, feat, csvs, i, n, pure=False)
                       for i in range(n)]
            parts = tempfile.mkdtemp(prefix="lector-shards-")
            try:
                for i, fut in enumerate(futures):
                    d = os.path.join(parts, "shard-%d" % i)
                    os.mkdir(d)
                    for name, data in fut.result().items():
                        with open(os.path.join(d, name), "wb") as f:
                            f.write(data)
                shards = [os.path.join(parts, "shard-%d" % i) for i in range(n)]
                p = subprocess.run([lector, "cache", "merge", cache] + shards)
                if p.returncode != 0:
                    sys.exit("dask_train: lector cache merge failed (status %d)" % p.returncode)
            finally:
                shutil.rmtree(parts, ignore_errors=True)
        if "--cache" not in train_opts and not any(o.startswith("--cache=") for o in train_opts):
            train_opts = train_opts + ["--cache", cache]
    sys.exit(subprocess.run([lector, "train"] + train_opts).returncode)


if __name__ == "__main__":
    main()
