#!/usr/bin/env bash
# The feature cache: a second training run reads every vector from the cache instead of
# running the encoder, and gives the same model file; --no-cache leaves the cache alone.
set -uo pipefail
bin=${LECTOR_BIN:?LECTOR_BIN not set}
src=${LECTOR_SOURCE_DIR:?}
mk=${LECTOR_MAKE_TINY:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 1 || { echo "cannot make the tiny encoder" >&2; exit 1; }
demo=$src/corpora/demo-sentiment
t=(train --encoder "$enc" --train "$demo/train.csv" --valid "$demo/test.csv" --epochs 2 --features encoder)

"$bin" "${t[@]}" --cache "$tmp/c" -o "$tmp/1.lector" 2>"$tmp/err1" && ok || bad "first run: $(cat "$tmp/err1")"
grep -q "0 of 300 texts" "$tmp/err1" && grep -q "encoded 300 texts" "$tmp/err1" && ok || bad "first run: $(cat "$tmp/err1")"
[ "$(ls "$tmp/c" | grep -c '\.lfc$')" -eq 1 ] && ok || bad "no cache file: $(ls -la "$tmp/c")"
ls "$tmp/c" | grep -q '\.tmp\.' && bad "temporary cache file left" || ok
"$bin" "${t[@]}" --cache "$tmp/c" -o "$tmp/2.lector" 2>"$tmp/err2" && ok || bad "second run: $(cat "$tmp/err2")"
grep -q "300 of 300 texts" "$tmp/err2" && ok || bad "second run not cached: $(cat "$tmp/err2")"
grep -q "encoded" "$tmp/err2" && bad "second run ran the encoder" || ok
cmp -s "$tmp/1.lector" "$tmp/2.lector" && ok || bad "cached features gave another model"
# Other settings (max length) are another key: encoded again.
"$bin" "${t[@]}" --cache "$tmp/c" --max-len 16 -o "$tmp/3.lector" 2>"$tmp/err3" && ok || bad "third run"
grep -q "0 of 300 texts" "$tmp/err3" && ok || bad "--max-len 16 hit the 128 cache: $(cat "$tmp/err3")"
# eval reads it too
"$bin" eval --model "$tmp/1.lector" --data "$demo/test.csv" --cache "$tmp/c" >"$tmp/out" 2>"$tmp/err4" && ok || bad "eval"
grep -q "100 of 100 texts" "$tmp/err4" && ok || bad "eval not cached: $(cat "$tmp/err4")"
# --no-cache: no cache directory is made
"$bin" "${t[@]}" --cache "$tmp/none" --no-cache -o "$tmp/4.lector" 2>"$tmp/err5" && ok || bad "--no-cache"
[ ! -e "$tmp/none" ] && ok || bad "--no-cache made a cache"
cmp -s "$tmp/1.lector" "$tmp/4.lector" && ok || bad "--no-cache gave another model"

echo "cli train_cache: $pass passed, $fail failed"
[ $fail -eq 0 ]
