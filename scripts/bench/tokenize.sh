#!/usr/bin/env bash
# Tokenizer throughput, lector against Hugging Face tokenizers (Rust, through the Node
# package @anush008/tokenizers), on the same texts and vocabularies, one thread each:
# WordPiece (bert-base-uncased), SentencePiece (xlnet-base-cased spiece.model) and byte-level
# BPE (roberta-base), on the texts of shared/corpora/imdb/train.csv and sst2/train.csv.
#
# usage: scripts/bench/tokenize.sh [BUILD_DIR] [RUNS]     (defaults: build, 5)
# env:   LECTOR_SHARED  the shared/ folder [../shared]
# Needs: a built BUILD_DIR (liblector.a), cc, pkg-config, node + npm (installs the package
# into scripts/bench/node_modules, which git ignores). Prints a Markdown table of medians.
set -euo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
runs="${2:-5}"
shared="${LECTOR_SHARED:-$root/../shared}"
[ -d "$shared/corpora" ] || { echo "tokenize.sh: $shared/corpora not found (set LECTOR_SHARED)" >&2; exit 1; }
[ -f "$build/liblector.a" ] || { echo "tokenize.sh: $build/liblector.a not found (build first)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The lector side: a small C program linked against the built library.
cc -O2 -std=c11 -I"$root/include" "$root/tests/tools/bench_tokenize.c" "$build/liblector.a" \
   $(pkg-config --libs libutf8proc jansson libzip openblas sentencepiece libcrypto) -lcsv -lstdc++ -lm -lpthread \
   -o "$tmp/bench_tokenize"

# The Hugging Face side.
(cd "$here" && [ -d node_modules/@anush008/tokenizers ] || npm install --no-audit --no-fund >/dev/null)

for c in imdb sst2; do
  node "$here/extract_texts.js" "$shared/corpora/$c/train.csv" "$tmp/$c.txt"
done
node "$here/make_spm_json.js" "$shared/vocab/xlnet-base-cased/spiece.model" "$tmp/xlnet.json"

# name | lector tokenizer path | tokenizer.json for HF
models=(
  "WordPiece bert-base-uncased|$shared/vocab/bert-base-uncased/vocab.txt|$shared/fixtures/tokenizers/bert-base-uncased/tokenizer.json"
  "SentencePiece xlnet-base-cased|$shared/vocab/xlnet-base-cased/spiece.model|$tmp/xlnet.json"
  "byte-level BPE roberta-base|$shared/fixtures/tokenizers/roberta-base/tokenizer.json|$shared/fixtures/tokenizers/roberta-base/tokenizer.json"
)

field() { node -e "const o=JSON.parse(process.argv[1]); console.log(o[process.argv[2]])" "$1" "$2"; }

echo "| tokenizer | corpus | texts | MB | lector MB/s | lector texts/s | HF MB/s | HF texts/s | lector / HF |"
echo "|---|---|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
  IFS='|' read -r name ltok hjson <<<"$m"
  for c in imdb sst2; do
    l="$("$tmp/bench_tokenize" "$ltok" "$tmp/$c.txt" "$runs")"
    h="$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false node "$here/hf_bench.js" "$hjson" "$tmp/$c.txt" "$runs")"
    node -e '
      const l = JSON.parse(process.argv[1]), h = JSON.parse(process.argv[2]);
      const mb = l.n_bytes / 1e6;
      const f = (x) => x.toFixed(1), g = (x) => Math.round(x).toLocaleString("en-US");
      console.log(`| ${process.argv[3]} | ${process.argv[4]} | ${l.n_texts} | ${mb.toFixed(2)} | ` +
        `${f(mb / l.median_s)} | ${g(l.n_texts / l.median_s)} | ${f(mb / h.median_s)} | ` +
        `${g(h.n_texts / h.median_s)} | ${(h.median_s / l.median_s).toFixed(2)}x |`);
    ' "$l" "$h" "$name" "$c"
  done
done
