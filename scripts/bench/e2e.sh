#!/usr/bin/env bash
# End to end on real text: texts -> token ids -> encoder -> mean pooling, in texts/s, lector
# against ONNX Runtime (onnxruntime-node, CPU, all graph optimisations, same thread count),
# on the random BERT-base and MiniLM-L6 checkpoints of scripts/bench/bench.sh. A benchmark,
# not a test.
#
#   scripts/bench/e2e.sh [--threads N] [--repeat R] [--warmup W] [--models base,minilm]
#                        [--batch N] [--max-len N] [--imdb-texts N]
#
# Texts: shared/corpora/sst2/dev.csv (all) and shared/corpora/imdb/test.csv (the first
# --imdb-texts [256], as the reviews run to --max-len [128] tokens and a full pass of BERT-base
# over 2,000 of them takes minutes). ONNX Runtime is fed as a Hugging Face pipeline feeds a
# model: batches of --batch [32] texts in file order, each padded to its longest row, then
# mean pooling; it gets exactly the ids lector's tokenizer (bert-base-uncased vocab.txt) made,
# so its time excludes tokenization. lector (tests/tools/bench_encoder --texts) runs twice,
# tokenizing inside the timed loop both times:
#   sorted  what `lector embed` and `lector classify` do: chunks of 32 x --batch texts, each
#           through lector_embed_texts, which sorts them by length into batches of at most
#           --batch rows and 1,024 padded tokens (or one --max-len window) and restores
#           input order (the headline ratio, "lector/ort");
#   file    the pipeline's own batches (file order, padded to the longest), to separate
#           the kernels' share of the ratio from the batching's ("file/ort").
# Every pass's mean-pooled vectors are compared: "max diff" is the largest absolute
# difference between lector (sorted) and ONNX Runtime over all texts and dimensions. Peak
# RSS is each process's own (getrusage / process.resourceUsage).
#
# Needs what scripts/bench/bench.sh needs (it makes the checkpoints in $LECTOR_BENCH_DIR,
# default build-bench/models, if they are missing) and node for the CSV extraction.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
threads="$(nproc)"
repeat=3
warmup=1
models="base,minilm"
batch=32
max_len=128
imdb_n=256
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --max-len) max_len="$2"; shift 2 ;;
    --imdb-texts) imdb_n="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "e2e.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

shared="${LECTOR_SHARED:-$root/../shared}"
[ -d "$shared/corpora" ] || { echo "e2e.sh: $shared/corpora not found (set LECTOR_SHARED)" >&2; exit 1; }
vocab="$shared/vocab/bert-base-uncased/vocab.txt"
build="$root/build-bench"
work="${LECTOR_BENCH_DIR:-$build/models}"

# checkpoints, ONNX Runtime and bench_encoder, as scripts/bench/bench.sh sets them up
IFS=, read -r -a model_list <<< "$models"
for m in "${model_list[@]}"; do
  if [ ! -f "$work/$m/model.onnx" ]; then
    "$here/bench.sh" --models "$m" --cases 1x8 --repeat 1 >/dev/null
  fi
done
if [ ! -x "$build/tests/bench_encoder" ] || [ ! -d "$here/node_modules/onnxruntime-node" ]; then
  "$here/bench.sh" --models "${model_list[0]}" --cases 1x8 --repeat 1 >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target bench_encoder >/dev/null
bench="$build/tests/bench_encoder"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$here/extract_texts.js" "$shared/corpora/sst2/dev.csv" "$tmp/sst2.txt"
node "$here/extract_texts.js" "$shared/corpora/imdb/test.csv" "$tmp/imdb-all.txt"
head -n "$imdb_n" "$tmp/imdb-all.txt" > "$tmp/imdb.txt"

echo "threads $threads, batch $batch, max-len $max_len, median of $repeat passes after $warmup warm-up"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}"
printf '%-8s %-6s %6s %10s %10s %10s %10s %9s %9s %10s %10s\n' model corpus texts \
       "sorted t/s" "file t/s" "ort t/s" lector/ort file/ort "max diff" "lector MB" "ort MB"
for m in "${model_list[@]}"; do
  for c in sst2 imdb; do
    common=(--threads "$threads" --repeat "$repeat" --warmup "$warmup" --batch "$batch"
            --max-len "$max_len" --texts "$tmp/$c.txt" --vocab "$vocab")
    lf="$("$bench" "${common[@]}" --batching file --save-ids "$tmp/$c.ids" "$work/$m")"
    ls="$("$bench" "${common[@]}" --batching sorted --save-pooled "$tmp/$c.lector.f32" "$work/$m")"
    o="$(cd "$here" && node ort_e2e.mjs "$work/$m" "$tmp/$c.ids" "$threads" "$batch" \
          "$repeat" "$warmup" "$tmp/$c.ort.f32")"
    ft="$(echo "$lf" | awk '$1=="e2e" {print $7}')"
    st="$(echo "$ls" | awk '$1=="e2e" {print $7}')"
    lr="$(echo "$ls" | awk '$1=="rss" {print $3}')"
    read -r n ot orss < <(echo "$o" | awk '$1=="ort_e2e" {print $2, $4, $5}')
    diff="$(node -e '
      const fs = require("fs");
      const a = new Float32Array(fs.readFileSync(process.argv[1]).buffer.slice(0));
      const b = new Float32Array(fs.readFileSync(process.argv[2]).buffer.slice(0));
      if (a.length !== b.length) { console.log("size-mismatch"); process.exit(0); }
      let d = 0;
      for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
      console.log(d.toExponential(2));' "$tmp/$c.lector.f32" "$tmp/$c.ort.f32")"
    r1="$(awk -v l="$st" -v o="$ot" 'BEGIN { if (o > 0) printf "%.2fx", l / o }')"
    r2="$(awk -v l="$ft" -v o="$ot" 'BEGIN { if (o > 0) printf "%.2fx", l / o }')"
    printf '%-8s %-6s %6s %10s %10s %10s %10s %9s %9s %10s %10s\n' "$m" "$c" "$n" "$st" "$ft" \
           "$ot" "$r1" "$r2" "$diff" "$lr" "$orss"
  done
done
echo "core: $(echo "$ls" | head -1 | sed 's/.*openblas core //')"
