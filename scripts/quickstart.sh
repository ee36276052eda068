#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine: install the runtime dependencies, build lector,
# find an encoder, train a sentiment head on the demo corpus (corpora/demo-reviews: train and
# validation splits), evaluate it on the test split it never saw, and label a few lines piped
# on stdin.
#
# The encoder is, in order: $LECTOR_ENCODER (any local Hugging Face checkpoint directory);
# models/all-MiniLM-L6-v2 if fetched before; a download of sentence-transformers/all-MiniLM-L6-v2
# (skipped with LECTOR_OFFLINE=1); the small test encoder of the shared folder ($LECTOR_SHARED,
# default ../shared) when present. With none of these (offline, a fresh clone), the head is
# trained on word n-grams alone (--features ngrams) and the script says how to get an encoder.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# The tests need cmocka (scripts/install-deps.sh --test); the quick start builds lector alone.
testing=()
pkg-config --exists cmocka 2>/dev/null || testing=(-DBUILD_TESTING=OFF)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${testing[@]}" >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target lector_cli >/dev/null
echo "quickstart: built build/lector" >&2

default_id=sentence-transformers/all-MiniLM-L6-v2
default_dir=models/all-MiniLM-L6-v2
encoder=${LECTOR_ENCODER:-}
if [ -z "$encoder" ] && [ -f "$default_dir/config.json" ]; then
  encoder=$default_dir
fi
if [ -z "$encoder" ] && [ "${LECTOR_OFFLINE:-}" != 1 ]; then
  echo "quickstart: downloading $default_id ..." >&2
  if scripts/fetch-model.sh "$default_id" "$default_dir" >/dev/null; then
    encoder=$default_dir
  fi
fi
shared=${LECTOR_SHARED:-../shared}
if [ -z "$encoder" ] && [ -f "$shared/models/mini-mlm-uncased/config.json" ]; then
  encoder=$shared/models/mini-mlm-uncased
  echo "quickstart: using the small test encoder $encoder (weak features: a demo only)" >&2
fi

mkdir -p out
train=(--encoder "$encoder")
if [ -z "$encoder" ]; then
  # Word n-grams need no encoder: the model records none, and classify and eval need none.
  train=(--features ngrams)
  cat >&2 <<MSG
quickstart: no encoder found, so this run trains on word n-grams only (--features ngrams).
  For encoder features (better on unseen words), get a BERT-style checkpoint and rerun:
      scripts/fetch-model.sh $default_id        # online
      LECTOR_ENCODER=/path/to/checkpoint scripts/quickstart.sh   # any local checkpoint
MSG
fi

demo=corpora/demo-reviews
build/lector train "${train[@]}" \
  --train $demo/train.csv --valid $demo/valid.csv --output out/demo-reviews.lector
echo "quickstart: test split (rows the model never saw):" >&2
build/lector eval --model out/demo-reviews.lector --data $demo/test.csv
printf '%s\n' "What a wonderful film, I loved every minute." \
              "The hotel was dirty and the staff were rude." \
              "The pasta was not bad at all." |
  build/lector classify --model out/demo-reviews.lector
