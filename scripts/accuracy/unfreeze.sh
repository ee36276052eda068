#!/usr/bin/env bash
# Test accuracy of `lector train --unfreeze N` with its defaults, per corpus and N, through
# the command line (train, then eval on the corpus's test.csv): the figures of the
# fine-tuning table in docs/training.md.
#
# usage: scripts/accuracy/unfreeze.sh [BUILD_DIR] [OUT_DIR]
#        BUILD_DIR: where lector is built [build]; OUT_DIR: models and logs [a new temporary one]
# env:   CORPORA="sst2-sentences trec"  UNFREEZE="0 1 2 all"  SEEDS="42"  THREADS=2
#        EPOCHS (default: each recipe's own)  PYTHON=/usr/bin/python3
#        LECTOR_SHARED (default ../shared beside the project)
# Validation: the corpus's dev.csv when it has one, else lector's stratified 10% of train.csv.
# Every run uses --features encoder and mean pooling, so N = 0 is the frozen head's own
# defaults (10 epochs, lr 0.003, batch 32) and N > 0 the fine-tuning recipe's (3 epochs,
# head lr 0.001, encoder lr 0.0001, batch 16, texts truncated to 128 tokens).
# Prints one line per run: corpus, N, seed, test accuracy, macro-F1, wall and CPU seconds of
# the training process, its peak RSS, the model file's size, and the load average before it.
set -euo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
  -*) echo "unfreeze.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
out=${2:-$(mktemp -d)}
shared=${LECTOR_SHARED:-$root/../shared}
encoder=$shared/models/mini-mlm-uncased
python=${PYTHON:-/usr/bin/python3}
threads=${THREADS:-2}
epochs=()
[ -n "${EPOCHS:-}" ] && epochs=(--epochs "$EPOCHS")
lector=$build/lector
[ -x "$lector" ] || { echo "build lector first ($build)" >&2; exit 1; }
[ -d "$encoder" ] || { echo "no encoder at $encoder (set LECTOR_SHARED)" >&2; exit 1; }
mkdir -p "$out"
export XDG_CACHE_HOME=$out/cache
printf 'corpus\tN\tseed\ttest_acc\ttest_macro_f1\twall_s\tcpu_s\tpeak_rss_mb\tmodel_bytes\tload\n'
for corpus in ${CORPORA:-sst2-sentences trec}; do
  data=$shared/corpora/$corpus
  valid=()
  [ -f "$data/dev.csv" ] && valid=(--valid "$data/dev.csv")
  for n in ${UNFREEZE:-0 1 2 all}; do
    for seed in ${SEEDS:-42}; do
      run=$out/$corpus-$n-$seed
      load=$(cut -d' ' -f1 /proc/loadavg)
      /usr/bin/time -f '%e %U %S %M' -o "$run.time" \
        "$lector" train -e "$encoder" --train "$data/train.csv" "${valid[@]}" --features encoder \
          --unfreeze "$n" --seed "$seed" --threads "$threads" "${epochs[@]}" --no-cache \
          -o "$run.lector" 2> "$run.train.log"
      "$lector" eval -m "$run.lector" --data "$data/test.csv" --format json --no-cache \
        --threads "$threads" > "$run.eval.json" 2>/dev/null
      read -r wall user sys rss < "$run.time"
      "$python" - "$run.eval.json" "$corpus" "$n" "$seed" "$wall" "$user" "$sys" "$rss" \
          "$(stat -c %s "$run.lector")" "$load" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = r.get("metrics", r)
corpus, n, seed, wall, user, sys_, rss, size, load = sys.argv[2:]
print(f"{corpus}\t{n}\t{seed}\t{100 * m['accuracy']:.1f}\t{100 * m['macro_f1']:.1f}\t"
      f"{float(wall):.0f}\t{float(user) + float(sys_):.0f}\t{int(rss) / 1024:.0f}\t{size}\t{load}")
PY
    done
  done
done
