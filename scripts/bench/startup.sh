#!/usr/bin/env bash
# Time to the first output: wall time and peak RSS of one short text through a whole process,
# warm page cache, median of R runs after one warm-up, for a MiniLM-L6 and a BERT-base
# geometry (random-initialised checkpoints, the same weights for every system):
#   lector     echo TEXT | lector classify --model M   (M: a head trained on the demo corpus)
#   ORT        node ort_startup.mjs: session creation + one inference (onnxruntime-node)
#   fastText   echo TEXT | fasttext predict MODEL.bin -   (a model trained on the demo corpus)
#   llama.cpp  llama-embedding -m MODEL-f32.gguf -p TEXT   (with --llama: built by
#              scripts/bench/llama.sh, the GGUF converted from the same weights)
# A benchmark, not a test.
#
#   scripts/bench/startup.sh [--repeat R] [--threads N] [--models minilm,base] [--llama]
#
# Prints the load average before each system's runs: on a shared machine the medians move
# with it. Checkpoints and models go to $LECTOR_BENCH_DIR (default build-bench/models).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
repeat=5
threads="$(nproc)"
models="minilm,base"
llama=0
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) repeat="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --llama) llama=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "startup.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

py=/usr/bin/python3
build="$root/build-bench"
work="${LECTOR_BENCH_DIR:-$build/models}"
text="a wonderful film"
corpus="$root/corpora/demo-sentiment/train.csv"
shared="${LECTOR_SHARED:-$root/../shared}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target lector_cli >/dev/null
lector="$build/lector"
if [ ! -d "$here/node_modules/onnxruntime-node" ]; then
  (cd "$here" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --no-audit --no-fund \
     onnxruntime-node@latest >&2)
fi
command -v fasttext >/dev/null || { echo "startup.sh: apt-get install fasttext" >&2; exit 1; }

geometry() {
  case "$1" in
    base) echo "--layers 12 --hidden 768 --heads 12 --ffn 3072 --vocab 30522" ;;
    minilm) echo "--layers 6 --hidden 384 --heads 12 --ffn 1536 --vocab 30522" ;;
    *) echo "startup.sh: unknown model $1 (base, minilm)" >&2; exit 2 ;;
  esac
}

# The checkpoint, its ONNX export, a tokenizer (BERT's uncased one from the shared data when
# present, else a placeholder vocab.txt with BERT's special ids) and a trained head.
prepare() {
  local m=$1 dir="$work/$1"
  if [ ! -f "$dir/model.onnx" ] || [ ! -f "$dir/model.safetensors" ]; then
    # shellcheck disable=SC2046
    "$py" "$root/scripts/dev/random_encoder.py" "$dir" $(geometry "$m") --no-pooler --onnx \
      >/dev/null 2>&1
  fi
  if [ ! -f "$dir/vocab.txt" ]; then
    local tok="$shared/models/mini-mlm-uncased"
    if [ -f "$tok/tokenizer.json" ] && [ -f "$tok/vocab.txt" ]; then
      cp "$tok/tokenizer.json" "$tok/vocab.txt" "$dir/" && chmod u+w "$dir/tokenizer.json" "$dir/vocab.txt"
    else
      "$py" -c 'import sys
sp = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}
open(sys.argv[1], "w").write("".join(sp.get(i, "w%d" % i) + "\n" for i in range(30522)))' "$dir/vocab.txt"
    fi
  fi
  [ -f "$work/$m.lector" ] || "$lector" train --quiet --no-cache --encoder "$dir" --train "$corpus" \
    --epochs 2 --output "$work/$m.lector"
}

# median_of FILE COLUMN
median_of() { sort -n -k"$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {print v[int((NR + 1) / 2)]}'; }

# measure NAME CMD...: one warm-up, then R runs under /usr/bin/time; stdin is the text.
measure() {
  local name=$1; shift
  local log; log="$(mktemp)"
  local load; load="$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "$text" | "$@" >/dev/null 2>&1 || { printf '%-34s %10s %10s  load %s (failed)\n' "$name" - - "$load"; rm -f "$log"; return; }
  for _ in $(seq "$repeat"); do
    echo "$text" | /usr/bin/time -f '%e %M' -a -o "$log" "$@" >/dev/null 2>&1
  done
  printf '%-34s %10s %10.0f  load %s\n' "$name" "$(median_of "$log" 1)" \
         "$(awk -v k="$(median_of "$log" 2)" 'BEGIN { print k / 1024 }')" "$load"
  rm -f "$log"
}

# fastText: a supervised model on the demo corpus, for the time to a first label of a
# program with no encoder.
ft="$work/fasttext"
if [ ! -f "$ft.bin" ]; then
  mkdir -p "$work"
  "$py" -c 'import csv, sys
rows = csv.DictReader(open(sys.argv[1], newline=""))
with open(sys.argv[2], "w") as out:
    for r in rows:
        out.write("__label__%s %s\n" % (r["label"], " ".join(r["text"].split())))' "$corpus" "$ft.txt"
  fasttext supervised -input "$ft.txt" -output "$ft" -epoch 5 -thread "$threads" >/dev/null 2>&1
fi

llama_bin="$build/llama/build/bin/llama-embedding"
if [ "$llama" = 1 ] && [ ! -x "$llama_bin" ]; then
  "$here/llama.sh" build >&2
fi

echo "threads $threads, median of $repeat runs after one warm-up; text: \"$text\""
printf '%-34s %10s %10s\n' system "wall s" "peak MB"
IFS=, read -r -a model_list <<< "$models"
for m in "${model_list[@]}"; do
  prepare "$m"
  dir="$work/$m"
  measure "lector classify ($m)" "$lector" classify --threads "$threads" --model "$work/$m.lector"
  measure "lector embed ($m)" "$lector" embed --threads "$threads" --encoder "$dir"
  measure "ORT session + run ($m)" node "$here/ort_startup.mjs" "$dir" "$threads"
  if [ "$llama" = 1 ]; then
    [ -f "$dir/model-f32.gguf" ] || "$py" "$here/hf_to_gguf.py" "$dir" "$dir/model-f32.gguf" >&2
    measure "llama-embedding ($m)" "$llama_bin" -m "$dir/model-f32.gguf" -p "$text" \
      -t "$threads" --pooling mean --no-warmup
  fi
done
measure "fasttext predict" fasttext predict "$ft.bin" -
