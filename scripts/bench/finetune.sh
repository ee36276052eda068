#!/usr/bin/env bash
# Fine-tuning benchmark: lector (bench_finetune) against PyTorch (finetune_torch.py, Debian's
# python3-torch) on the same encoder, the same token ids and the same recipe: top N layers +
# linear head on mean pooling, AdamW (encoder lr 1e-4, head lr 1e-3, weight decay 0.01 on
# weight matrices only), 6% warm-up then linear decay, batch 16, max length 64, dropout 0.1
# in the trained layers and on the pooled vector, 3 epochs, best epoch on dev, 2 threads.
#
# usage: scripts/bench/finetune.sh [BUILD_DIR] [OUT_DIR]
#        BUILD_DIR: where lector is built [build]; OUT_DIR: token ids and logs [a new temporary one]
# env:   CORPORA="sst2-sentences" (also: trec rt-polarity)  UNFREEZE="0 1 2"  SEEDS="42"
#        THREADS=2  EPOCHS=3  PYTHON=/usr/bin/python3
#        TORCH_VARIANTS="cached" (also: plain, every step running the frozen layers too)
#        TORCH_EPOCHS (default EPOCHS: fewer times PyTorch's seconds per epoch in less time)
#        LECTOR_SHARED (default ../shared beside the project)
# Prints one JSON line per run (system, corpus, N, seed, seconds and CPU seconds per epoch,
# the frozen pass, test accuracy of the best epoch, peak RSS) and the load average before
# each run: on a shared machine compare CPU seconds and medians over seeds, not one wall time.
set -euo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
  -*) echo "finetune.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
out=${2:-$(mktemp -d)}
shared=${LECTOR_SHARED:-$root/../shared}
encoder=$shared/models/mini-mlm-uncased
python=${PYTHON:-/usr/bin/python3}
threads=${THREADS:-2}
epochs=${EPOCHS:-3}
torch_epochs=${TORCH_EPOCHS:-$epochs}

[ -x "$build/tests/bench_finetune" ] || { echo "build bench_finetune first ($build)" >&2; exit 1; }
[ -d "$encoder" ] || { echo "no encoder at $encoder (set LECTOR_SHARED)" >&2; exit 1; }
"$python" -c "import torch" || { echo "PyTorch not found: apt-get install python3-torch" >&2; exit 1; }

for corpus in ${CORPORA:-sst2-sentences}; do
  data=$out/$corpus
  [ -f "$data/test.ids" ] || "$python" "$here/finetune_prep.py" --corpus "$shared/corpora/$corpus" \
      --out "$data" --lector "$build/lector" --encoder "$encoder" --max-length 64
  for n in ${UNFREEZE:-0 1 2}; do
    for seed in ${SEEDS:-42}; do
      echo "# $(uptime)" >&2
      run=$("$build/tests/bench_finetune" --encoder "$encoder" --train "$data/train.ids" \
          --dev "$data/dev.ids" --test "$data/test.ids" --unfreeze "$n" --epochs "$epochs" \
          --batch 16 --threads "$threads" --seed "$seed" 2>/dev/null)
      printf '{"system": "lector", "corpus": "%s", "seed": %s, "run": %s}\n' "$corpus" "$seed" "$run"
      for variant in ${TORCH_VARIANTS:-cached}; do
        echo "# $(uptime)" >&2
        run=$("$python" "$here/finetune_torch.py" --encoder "$encoder" --data "$data" \
            --unfreeze "$n" --variant "$variant" --epochs "$torch_epochs" --batch 16 \
            --threads "$threads" --seed "$seed")
        printf '{"system": "pytorch-%s", "corpus": "%s", "seed": %s, "run": %s}\n' "$variant" \
            "$corpus" "$seed" "$run"
      done
    done
  done
done
