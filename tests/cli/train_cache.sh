#!/usr/bin/env bash
# The feature cache: a second training run reads every vector from the cache instead of
# running the encoder, and gives the same model file; --no-cache leaves the cache alone.
# Damaged records, a FIFO or symlink at the cache path, the older format, concurrent runs,
# appends and the size cap.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 1 || { echo "cannot make the tiny encoder" >&2; exit 1; }
demo=$src/corpora/demo-sentiment
t=(train --encoder "$enc" --train "$demo/train.csv" --valid "$demo/test.csv" --epochs 2 --features encoder)

"$bin" "${t[@]}" --cache "$tmp/c" -o "$tmp/1.lector" 2>"$tmp/err1" && ok || bad "first run: $(cat "$tmp/err1")"
grep -q "0 of 300 texts" "$tmp/err1" && grep -q "encoded 300 texts" "$tmp/err1" && ok || bad "first run: $(cat "$tmp/err1")"
[ "$(ls "$tmp/c" | grep -c '\.lfc$')" -eq 1 ] && ok || bad "no cache file: $(ls -la "$tmp/c")"
name=$(ls "$tmp/c" | grep '\.lfc$' | head -n 1)
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


# ---- integrity, opening, layout --------------------------------------------------------
# lfc FILE count|swap I J|nan I|v1: read or edit a format-2 cache file (docs/formats.md).
lfc() {
  python3 - "$@" <<'PY'
import struct, sys
path, op = sys.argv[1], sys.argv[2]
b = bytearray(open(path, 'rb').read())
C, klen = struct.unpack_from('<II', b, 12)
h, rec = 20 + klen, 64 + 4 * C
def vec(i): return slice(h + i * rec + 32, h + i * rec + 32 + 4 * C)
if op == 'count':
    print((len(b) - h) // rec)
    sys.exit(0)
if op == 'swap':
    i, j = int(sys.argv[3]), int(sys.argv[4])
    b[vec(i)], b[vec(j)] = b[vec(j)], b[vec(i)]
elif op == 'nan':
    struct.pack_into('<f', b, vec(int(sys.argv[3])).start + 8, float('nan'))
elif op == 'drop':  # remove records entirely
    gone = {int(x) for x in sys.argv[3:]}
    keep = [b[h + i * rec:h + (i + 1) * rec] for i in range((len(b) - h) // rec) if i not in gone]
    b = b[:h] + b''.join(keep)
elif op == 'v1':  # the same records in the format without checksums
    out = b[:8] + struct.pack('<I', 1) + b[12:h]
    for i in range((len(b) - h) // rec):
        out += b[h + i * rec:h + i * rec + 32 + 4 * C]
    b = out
open(path, 'wb').write(b)
PY
}
[ "$(lfc "$tmp/c/$name" count)" -eq 400 ] && ok || bad "expected 400 records (train + valid)"
# Swapped vectors and a NaN: three records fail their check, are said so in one line and
# encoded again; the model is the one of a cache that lacks these three records (the same
# three texts encoded in one batch).
cp "$tmp/c/$name" "$tmp/clean.lfc"
mkdir -p "$tmp/drop" && cp "$tmp/clean.lfc" "$tmp/drop/$name" && lfc "$tmp/drop/$name" drop 3 17 250
"$bin" "${t[@]}" --cache "$tmp/drop" -o "$tmp/drop.lector" 2>"$tmp/err-drop" && grep -q "encoded 3 texts" "$tmp/err-drop" \
  && ok || bad "reference run: $(cat "$tmp/err-drop")"
lfc "$tmp/c/$name" swap 3 250
lfc "$tmp/c/$name" nan 17
"$bin" "${t[@]}" --cache "$tmp/c" -o "$tmp/5.lector" 2>"$tmp/err6" && ok || bad "damaged cache: $(cat "$tmp/err6")"
[ "$(grep -c "3 of 400 records failed their checksum" "$tmp/err6")" -eq 1 ] && ok || bad "damage not reported: $(cat "$tmp/err6")"
grep -q "encoded 3 texts" "$tmp/err6" && ok || bad "damaged records not encoded again: $(cat "$tmp/err6")"
cmp -s "$tmp/drop.lector" "$tmp/5.lector" && ok || bad "a damaged cache changed the model"
# ... and the file is repaired: the next run finds nothing wrong.
"$bin" "${t[@]}" --cache "$tmp/c" -o "$tmp/6.lector" 2>"$tmp/err7" && ok || bad "after repair"
grep -q "failed their checksum\|encoded" "$tmp/err7" && bad "not repaired: $(cat "$tmp/err7")" || ok
# A FIFO at the cache path is refused at once (it used to block for ever); a symbolic link
# is not followed (its target is left as it was).
mkdir -p "$tmp/fifo" "$tmp/link" && mkfifo "$tmp/fifo/$name" && ln -s "$tmp/clean.lfc" "$tmp/link/$name"
cp "$tmp/clean.lfc" "$tmp/clean.copy"
timeout 120 "$bin" "${t[@]}" --cache "$tmp/fifo" -o "$tmp/7.lector" 2>"$tmp/err8" && ok || bad "FIFO at the cache path: $(cat "$tmp/err8")"
grep -q "not a regular file" "$tmp/err8" && ok || bad "FIFO not reported: $(cat "$tmp/err8")"
[ -p "$tmp/fifo/$name" ] && ok || bad "the FIFO was replaced"
"$bin" "${t[@]}" --cache "$tmp/link" -o "$tmp/8.lector" 2>"$tmp/err9" && ok || bad "symlink at the cache path"
grep -q "symbolic link: not followed" "$tmp/err9" && ok || bad "symlink not reported: $(cat "$tmp/err9")"
cmp -s "$tmp/clean.lfc" "$tmp/clean.copy" && [ -L "$tmp/link/$name" ] && ok || bad "the symlink or its target changed"
cmp -s "$tmp/1.lector" "$tmp/7.lector" && cmp -s "$tmp/1.lector" "$tmp/8.lector" && ok || bad "models differ without a cache"
# The older format without checksums is not read: encoded again, the file rewritten.
mkdir -p "$tmp/old" && cp "$tmp/clean.lfc" "$tmp/old/$name" && lfc "$tmp/old/$name" v1
"$bin" "${t[@]}" --cache "$tmp/old" -o "$tmp/9.lector" 2>"$tmp/err10" && ok || bad "old format"
grep -q "older format without checksums" "$tmp/err10" && grep -q "0 of 300 texts" "$tmp/err10" && ok || bad "old format: $(cat "$tmp/err10")"
[ "$(lfc "$tmp/old/$name" count)" -eq 400 ] && cmp -s "$tmp/1.lector" "$tmp/9.lector" && ok || bad "old format not replaced"
# Append-only: a run with a new validation file adds its records at the end and leaves the
# rest of the file as it was.
head -n 51 "$demo/test.csv" >"$tmp/v50.csv"
sed -n '1p;52,$p' "$demo/test.csv" | sed 's/\.,/ again.,/' >"$tmp/vnew.csv"
size0=$(stat -c %s "$tmp/c/$name") ino0=$(stat -c %i "$tmp/c/$name")
cp "$tmp/c/$name" "$tmp/before.lfc"
"$bin" train --encoder "$enc" --train "$demo/train.csv" --valid "$tmp/vnew.csv" --epochs 1 --features encoder \
  --cache "$tmp/c" -o "$tmp/10.lector" 2>"$tmp/err11" && ok || bad "new valid file: $(cat "$tmp/err11")"
n_new=$(grep -o "encoded [0-9]* texts" "$tmp/err11" | grep -o "[0-9]*")
rec=$(( ( $(stat -c %s "$tmp/c/$name") - size0 ) / ${n_new:-1} ))
[ "${n_new:-0}" -gt 0 ] && [ "$(stat -c %i "$tmp/c/$name")" = "$ino0" ] && \
  cmp -s -n "$size0" "$tmp/c/$name" "$tmp/before.lfc" && [ "$rec" -gt 64 ] && ok || bad "not appended in place"
# Four trains at once sharing a fresh cache: the same model bytes, each text stored once.
for i in 1 2 3 4; do
  "$bin" "${t[@]}" --cache "$tmp/par" -o "$tmp/par$i.lector" 2>"$tmp/par$i.err" &
done
wait
for i in 1 2 3 4; do cmp -s "$tmp/1.lector" "$tmp/par$i.lector" && ok || bad "concurrent run $i: $(cat "$tmp/par$i.err")"; done
[ "$(lfc "$tmp/par/$name" count)" -eq 400 ] && ok || bad "concurrent runs stored $(lfc "$tmp/par/$name" count) records, not 400"
# --cache-max-size: over the cap, other keys' files go first (the max-len 16 one here).
n_before=$(ls "$tmp/c" | grep -c '\.lfc$')
cap=$(( $(stat -c %s "$tmp/c/$name") + 100 ))
"$bin" "${t[@]}" --cache "$tmp/c" --cache-max-size $cap -o "$tmp/11.lector" 2>"$tmp/err12" && ok || bad "--cache-max-size"
grep -q "over the size cap of $cap bytes: removed [1-9]" "$tmp/err12" && ok || bad "no eviction: $(cat "$tmp/err12")"
[ "$(ls "$tmp/c" | grep -c '\.lfc$')" -lt "$n_before" ] && [ -f "$tmp/c/$name" ] && ok || bad "eviction removed the wrong files"
[ "$(du -cb "$tmp"/c/*.lfc | tail -n 1 | cut -f1)" -le $cap ] && ok || bad "cache above its cap"
cmp -s "$tmp/6.lector" "$tmp/11.lector" && ok || bad "--cache-max-size changed the model"
"$bin" "${t[@]}" --cache "$tmp/c" --cache-max-size 1X -o "$tmp/12.lector" 2>"$tmp/err13"
[ $? -eq 2 ] && grep -q "byte count" "$tmp/err13" && ok || bad "bad --cache-max-size accepted"

echo "cli train_cache: $pass passed, $fail failed"
[ $fail -eq 0 ]
