#!/usr/bin/env bash
# Scaling out: GNU parallel (--pipepart -k) and a Dask LocalCluster (scripts/scale/dask_classify.py)
# must give byte-identical output to one `lector classify` run over the same input, and so
# must --shard I/N jobs merged back, and any --batch-size or --threads.
set -uo pipefail
bin=${LECTOR_BIN:?}
src=${LECTOR_SOURCE_DIR:?}
mk=${LECTOR_MAKE_TINY:?}
py=${LECTOR_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
tmp=$(mktemp -d)
export XDG_CACHE_HOME=$tmp/cache # keep the feature cache inside the test
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 skipped=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }

mkdir -p "$tmp/enc" && "$mk" "$tmp/enc" 5 || exit 1
"$bin" train --quiet --encoder "$tmp/enc" --train "$src/corpora/demo-sentiment/train.csv" --epochs 3 \
  --output "$tmp/m.lector" || exit 1
# 3,000 lines of varied length: many batches, many padding shapes.
"$py" - "$tmp/in.txt" <<'PY'
import random, sys
rng = random.Random(3)
words = "the film was good bad awful lovely book hotel staff room dull great and not very really".split()
with open(sys.argv[1], "w") as f:
    for i in range(3000):
        f.write(" ".join(rng.choice(words) for _ in range(rng.randint(0, 40))) + "\n")
PY
"$bin" classify --model "$tmp/m.lector" <"$tmp/in.txt" >"$tmp/ref.out" || exit 1
[ "$(wc -l <"$tmp/ref.out")" -eq 3000 ] && ok || bad "reference run: $(wc -l <"$tmp/ref.out") lines"

for b in 1 7 64; do
  "$bin" classify --model "$tmp/m.lector" --batch-size $b <"$tmp/in.txt" >"$tmp/b.out"
  cmp -s "$tmp/b.out" "$tmp/ref.out" && ok || bad "--batch-size $b changes the output"
done
for t in 1 2; do
  "$bin" classify --model "$tmp/m.lector" --threads $t <"$tmp/in.txt" >"$tmp/t.out"
  cmp -s "$tmp/t.out" "$tmp/ref.out" && ok || bad "--threads $t changes the output"
done
for i in 0 1 2 3; do
  "$bin" classify --model "$tmp/m.lector" --shard $i/4 --id-column < <(awk '{printf "%08d\t%s\n", NR, $0}' "$tmp/in.txt") >"$tmp/shard$i.out"
done
sort -m "$tmp"/shard*.out | cut -f2- >"$tmp/shards.out"
cmp -s "$tmp/shards.out" "$tmp/ref.out" && ok || bad "--shard jobs merged differ from one run"

if command -v parallel >/dev/null; then
  parallel --will-cite --pipepart -a "$tmp/in.txt" --block 20k -k -j 2 \
    "$bin" classify --model "$tmp/m.lector" --threads 1 >"$tmp/par.out"
  cmp -s "$tmp/par.out" "$tmp/ref.out" && ok || bad "GNU parallel output differs from one run"
else
  echo "GNU parallel not installed: its test is skipped"; skipped=$((skipped + 1))
fi
if "$py" -c 'import distributed' 2>/dev/null; then
  "$py" "$src/scripts/scale/dask_classify.py" --model "$tmp/m.lector" --input "$tmp/in.txt" --workers 2 \
    --chunk-bytes 20000 --lector "$bin" >"$tmp/dask.out" 2>"$tmp/dask.err"
  cmp -s "$tmp/dask.out" "$tmp/ref.out" && ok || bad "Dask output differs from one run: $(tail -3 "$tmp/dask.err")"
else
  echo "python3-distributed not installed: the Dask test is skipped"; skipped=$((skipped + 1))
fi
echo "scale: $pass passed, $fail failed, $skipped skipped"
[ $fail -eq 0 ] || exit 1
[ $skipped -eq 0 ] || exit 77
