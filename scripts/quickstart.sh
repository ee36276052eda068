#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine: install the dependencies, build lector, get an
# encoder, train a sentiment head on the demo corpus and label a few lines piped on stdin.
#
# The encoder is, in order: $LECTOR_ENCODER (any local Hugging Face checkpoint directory);
# models/all-MiniLM-L6-v2 if fetched before; a download of sentence-transformers/all-MiniLM-L6-v2
# (skipped with LECTOR_OFFLINE=1); else the small test encoder in the shared folder
# ($LECTOR_SHARED, default ../shared) when present.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"

default_id=sentence-transformers/all-MiniLM-L6-v2
default_dir=models/all-MiniLM-L6-v2
encoder=${LECTOR_ENCODER:-}
if [ -z "$encoder" ] && [ -f "$default_dir/config.json" ]; then
  encoder=$default_dir
fi
if [ -z "$encoder" ] && [ "${LECTOR_OFFLINE:-}" != 1 ]; then
  echo "quickstart: downloading $default_id ..." >&2
  if command -v curl >/dev/null && scripts/fetch-model.sh "$default_id" "$default_dir" >/dev/null; then
    encoder=$default_dir
  else
    rm -rf "$default_dir"
    echo "quickstart: could not download $default_id (offline?)" >&2
  fi
fi
shared=${LECTOR_SHARED:-../shared}
if [ -z "$encoder" ] && [ -f "$shared/models/mini-mlm-uncased/config.json" ]; then
  encoder=$shared/models/mini-mlm-uncased
  echo "quickstart: using the small local test encoder $encoder (weak features: a demo only)" >&2
fi
if [ -z "$encoder" ]; then
  cat >&2 <<MSG
quickstart: no encoder available.
  lector needs a BERT-style checkpoint directory (config.json, model.safetensors or
  pytorch_model.bin, vocab.txt). Offline, point LECTOR_ENCODER at one you have:
      LECTOR_ENCODER=/path/to/checkpoint scripts/quickstart.sh
  Online, scripts/fetch-model.sh $default_id fetches the default.
MSG
  exit 1
fi

mkdir -p out
build/lector train --encoder "$encoder" \
  --train corpora/demo-sentiment/train.csv --valid corpora/demo-sentiment/test.csv \
  --epochs 20 --output out/demo-sentiment.lector
build/lector eval --model out/demo-sentiment.lector --data corpora/demo-sentiment/test.csv
printf '%s\n' "What a wonderful film, I loved every minute." \
              "The hotel was dirty and the staff were rude." \
              "A dull, tedious book that I regret buying." |
  build/lector classify --model out/demo-sentiment.lector
