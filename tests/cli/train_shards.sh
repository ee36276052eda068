#!/usr/bin/env bash
# Training scaled out: `lector featurise --shard I/N` fills one cache per worker, `lector
# cache merge` joins them (verifying every record), and `lector train` on the merged cache
# runs no encoder and gives the model bytes of a single-process run. Also the GNU parallel
# recipe of docs/scaling.md, scripts/scale/dask_train.py on a LocalCluster, and bad inputs.
source "$(dirname "$0")/lib/common.bash"
skipped=0
enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 3 || { echo "cannot make the tiny encoder" >&2; exit 1; }
demo=$src/corpora/demo-sentiment
tr=(--encoder "$enc" --train "$demo/train.csv" --valid "$demo/test.csv" --epochs 2 --seed 7)

# The reference: one process, its own fresh cache.
"$bin" train "${tr[@]}" --cache "$tmp/single" -o "$tmp/single.lector" 2>"$tmp/single.err" && ok || bad "single run: $(cat "$tmp/single.err")"
grep -q "encoded 300 texts" "$tmp/single.err" && ok || bad "single run did not encode"

# Three shards, merged, then train: every text cached, nothing encoded, the same bytes.
for i in 0 1 2; do
  "$bin" featurise --encoder "$enc" --shard $i/3 --cache "$tmp/w$i" "$demo/train.csv" "$demo/test.csv" \
    2>"$tmp/f$i.err" && ok || bad "featurise shard $i: $(cat "$tmp/f$i.err")"
done
grep -q "train.csv: 100 texts in this shard, 0 cached before, encoded 100" "$tmp/f0.err" && ok || bad "shard 0: $(cat "$tmp/f0.err")"
grep -q "test.csv: 34 texts in this shard" "$tmp/f0.err" && grep -q "test.csv: 33 texts in this shard" "$tmp/f2.err" \
  && ok || bad "shards of test.csv: $(cat "$tmp/f0.err" "$tmp/f2.err")"
"$bin" cache merge "$tmp/merged" "$tmp/w0" "$tmp/w1" "$tmp/w2" 2>"$tmp/merge.err" && ok || bad "merge: $(cat "$tmp/merge.err")"
grep -q ": 400 records$" "$tmp/merge.err" && ok || bad "merged cache: $(cat "$tmp/merge.err")"
"$bin" train "${tr[@]}" --cache "$tmp/merged" -o "$tmp/merged.lector" 2>"$tmp/merged.err" && ok || bad "train from merged"
grep -q "300 of 300 texts of .*train.csv cached" "$tmp/merged.err" && grep -q "100 of 100 texts of .*test.csv cached" "$tmp/merged.err" \
  && ok || bad "merged cache not used: $(cat "$tmp/merged.err")"
grep -q "encoded" "$tmp/merged.err" && bad "train ran the encoder on a merged cache" || ok
cmp -s "$tmp/single.lector" "$tmp/merged.lector" && ok || bad "model from merged shard caches differs from the single-process one"
# A shard run again finds its texts cached and encodes nothing.
"$bin" featurise --encoder "$enc" --shard 1/3 --cache "$tmp/merged" "$demo/train.csv" 2>"$tmp/again.err" && \
  grep -q "100 cached before, encoded 0 " "$tmp/again.err" && ok || bad "featurise again: $(cat "$tmp/again.err")"
# cache check lists the merged file's records.
"$bin" cache check "$tmp/merged" >"$tmp/check.out" && grep -q "	400 records	0 damaged	" "$tmp/check.out" && ok || bad "cache check: $(cat "$tmp/check.out")"

# A damaged record in a shard is dropped at the merge (said with counts) and encoded again.
f=$(ls "$tmp/w1"/*.lfc)
"$py" - "$f" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
C, klen = struct.unpack_from('<II', b, 12)
b[20 + klen + 5 * (64 + 4 * C) + 40] ^= 1   # a bit of record 5's vector
open(sys.argv[1], 'wb').write(b)
PY
"$bin" cache check "$f" >/dev/null 2>"$tmp/check.err"
[ $? -eq 1 ] && grep -q "1 of 133 records failed their checksum" "$tmp/check.err" && ok || bad "check missed the damage: $(cat "$tmp/check.err")"
"$bin" cache merge "$tmp/m2" "$tmp/w0" "$tmp/w1" "$tmp/w2" 2>"$tmp/m2.err" && ok || bad "merge with a damaged record"
[ "$(grep -c "records failed their checksum" "$tmp/m2.err")" -eq 1 ] && grep -q ": 399 records$" "$tmp/m2.err" && ok || bad "damage at merge: $(cat "$tmp/m2.err")"
"$bin" train "${tr[@]}" --cache "$tmp/m2" -o "$tmp/m2.lector" 2>"$tmp/m2t.err" && grep -q "encoded 1 texts" "$tmp/m2t.err" && ok || bad "damaged record not encoded again: $(cat "$tmp/m2t.err")"

# Bad inputs: not a cache (nothing written), a FIFO, bad --shard values, no CSV.
printf 'not a cache' >"$tmp/junk.lfc"
"$bin" cache merge "$tmp/m3" "$tmp/w0" "$tmp/junk.lfc" 2>"$tmp/m3.err"
[ $? -eq 1 ] && grep -q "junk.lfc: not a feature cache file" "$tmp/m3.err" && [ -z "$(ls -A "$tmp/m3" 2>/dev/null)" ] && ok || bad "junk merged: $(cat "$tmp/m3.err")"
mkfifo "$tmp/fifo.lfc"
timeout 60 "$bin" cache merge "$tmp/m4" "$tmp/fifo.lfc" 2>"$tmp/m4.err"
[ $? -eq 1 ] && grep -q "not a regular file" "$tmp/m4.err" && ok || bad "FIFO merged: $(cat "$tmp/m4.err")"
"$bin" cache merge "$tmp/m5" 2>/dev/null; [ $? -eq 2 ] && ok || bad "merge without inputs"
"$bin" cache frobnicate 2>/dev/null; [ $? -eq 2 ] && ok || bad "unknown cache subcommand"
for s in 3/3 -1/3 1/0 1 a/b; do
  "$bin" featurise --encoder "$enc" --shard "$s" --cache "$tmp/x" "$demo/train.csv" 2>/dev/null
  [ $? -eq 2 ] && ok || bad "--shard $s accepted"
done
"$bin" featurise --encoder "$enc" --cache "$tmp/x" 2>/dev/null; [ $? -eq 2 ] && ok || bad "featurise without a CSV"
"$bin" featurise --encoder "$enc" --cache "$tmp/x" "$tmp/missing.csv" 2>/dev/null; [ $? -eq 1 ] && ok || bad "missing CSV"

# The GNU parallel recipe of docs/scaling.md.
if command -v parallel >/dev/null; then
  seq 0 3 | parallel -j 2 "$bin" featurise --quiet --threads 1 --encoder "$enc" --shard {}/4 --cache "$tmp/par/{}" \
    "$demo/train.csv" "$demo/test.csv" && "$bin" cache merge --quiet "$tmp/par-merged" "$tmp"/par/* && \
    "$bin" train "${tr[@]}" --cache "$tmp/par-merged" -o "$tmp/par.lector" 2>"$tmp/par.err" && ok || bad "parallel recipe"
  grep -q "encoded" "$tmp/par.err" && bad "parallel recipe: train encoded" || ok
  cmp -s "$tmp/single.lector" "$tmp/par.lector" && ok || bad "parallel recipe: another model"
else
  echo "GNU parallel not installed: its test is skipped"; skipped=$((skipped + 1))
fi

# scripts/scale/dask_train.py on a LocalCluster of two workers.
if "$py" -c "import distributed" 2>/dev/null; then
  "$py" "$src/scripts/scale/dask_train.py" --lector "$bin" --workers 2 -- "${tr[@]}" --cache "$tmp/dask" \
    -o "$tmp/dask.lector" >"$tmp/dask.out" 2>"$tmp/dask.err" && ok || bad "dask_train: $(tail -5 "$tmp/dask.err")"
  grep -q "300 of 300 texts of .*train.csv cached" "$tmp/dask.err" && ! grep -q "encoded" "$tmp/dask.err" \
    && ok || bad "dask_train: train encoded: $(grep lector: "$tmp/dask.err")"
  cmp -s "$tmp/single.lector" "$tmp/dask.lector" && ok || bad "dask_train: another model"
else
  echo "python3-distributed not installed: the Dask test is skipped"; skipped=$((skipped + 1))
fi

echo "cli train_shards: $pass passed, $fail failed, $skipped skipped"
[ $fail -eq 0 ] || exit 1
[ $skipped -eq 0 ] || exit 77
