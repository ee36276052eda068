#!/usr/bin/env bash
# Outputs never destroy inputs: every output path of train and eval (--output, --report) is
# refused with exit 2 and one error line when it is an input (the CSVs, the model, any file
# of the encoder folder or of the feature cache), another output, or an existing path that is
# not a regular file (a FIFO, a symbolic link, a device node); the input is left byte for
# byte as it was. `--report -` writes the report to stdout. Everything happens in a
# temporary directory; the device node is made in a private mount namespace (unshare -m, as
# root), and that one case is reported as not run when the namespace cannot be made.
set -uo pipefail
bin=${LECTOR_BIN:?LECTOR_BIN not set}
src=${LECTOR_SOURCE_DIR:?}
mk=${LECTOR_MAKE_TINY:?}
tmp=$(mktemp -d)
export XDG_CACHE_HOME=$tmp/xdg
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/run"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }

enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 1 >/dev/null || { echo "cannot make the tiny encoder" >&2; exit 1; }
cp "$src/corpora/demo-sentiment/train.csv" "$tmp/t.csv"
cp "$src/corpora/demo-sentiment/test.csv" "$tmp/te.csv"
model=$tmp/m.lector
"$bin" train --quiet --encoder "$enc" --train "$tmp/t.csv" --epochs 1 --cache "$tmp/cache" \
  -o "$model" 2>"$tmp/err" || { echo "cannot train: $(cat "$tmp/err")" >&2; exit 1; }
# The encoder checksum cache ($XDG_CACHE_HOME/lector/checksums) is lector's own bookkeeping:
# an open may add an entry there.
snapshot() { (cd "$tmp" && find . \( -path ./run -o -path ./xdg/lector/checksums \) -prune -o -type f -print0 |
              sort -z | xargs -0 sha256sum); }

# refused NAME PATTERN CMD...: exit 2, one "lector: error" line matching PATTERN, and every
# file of the temporary directory as it was.
refused() {
  local name=$1 pat=$2
  shift 2
  snapshot >"$tmp/run/before"
  "$@" >"$tmp/run/out" 2>"$tmp/run/err" </dev/null
  local rc=$?
  snapshot >"$tmp/run/after"
  if [ "$rc" -ne 2 ]; then bad "$name: exit $rc, want 2: $(head -c 300 "$tmp/run/err")"; return; fi
  local n
  n=$(grep -c 'lector: error' "$tmp/run/err")
  [ "$n" -eq 1 ] || { bad "$name: want one error line, got $n: $(cat "$tmp/run/err")"; return; }
  grep -qE -- "$pat" "$tmp/run/err" || { bad "$name: stderr lacks /$pat/: $(cat "$tmp/run/err")"; return; }
  cmp -s "$tmp/run/before" "$tmp/run/after" || { bad "$name: files changed: $(diff "$tmp/run/before" "$tmp/run/after" | head -5)"; return; }
  ok
}
tr=("$bin" train --quiet --encoder "$enc" --train "$tmp/t.csv" --epochs 1 --cache "$tmp/cache")

refused "train --report is the training data" "--report .*t\.csv is the same file as the input --train" \
  "${tr[@]}" -o "$tmp/new.lector" --report "$tmp/t.csv"
refused "train --output is the training data" "--output .*t\.csv is the same file as the input --train" \
  "${tr[@]}" -o "$tmp/t.csv"
refused "train --report is the validation data" "is the same file as the input --valid" \
  "${tr[@]}" --valid "$tmp/te.csv" -o "$tmp/new.lector" --report "$tmp/te.csv"
printf 'negative\npositive\n' > "$tmp/labels.txt"
refused "train --output is the labels.txt beside --train" "--output .*labels\.txt is the same file as the input labels\.txt beside --train" \
  "${tr[@]}" -o "$tmp/labels.txt"
rm -f "$tmp/labels.txt"
refused "train --output and --report the same new file" "--report .*same\.lector and --output .*same\.lector are the same file" \
  "${tr[@]}" -o "$tmp/same.lector" --report "$tmp/same.lector"
refused "train --output and --report the same existing model" "are the same file" \
  "${tr[@]}" -o "$model" --report "$model"
ln "$model" "$tmp/hardlink.html"
refused "train --report a hard link of --output" "are the same file" \
  "${tr[@]}" -o "$model" --report "$tmp/hardlink.html"
rm -f "$tmp/hardlink.html"
refused "train --output inside the encoder" "is the input file .*model\.safetensors \(under --encoder\)" \
  "${tr[@]}" -o "$enc/model.safetensors"
refused "train --output the encoder's vocab" "vocab\.txt \(under --encoder\)" \
  "${tr[@]}" -o "$enc/vocab.txt"
lfc=$(find "$tmp/cache" -type f | head -1)
if [ -n "$lfc" ]; then
  refused "train --report a feature cache file" "under --cache" "${tr[@]}" -o "$tmp/new.lector" --report "$lfc"
else
  bad "training wrote no feature cache file under $tmp/cache"
fi
refused "eval --report is the model" "--report .*m\.lector is the same file as the input --model" \
  "$bin" eval -m "$model" --data "$tmp/te.csv" --report "$model"
refused "eval --report is the data" "--report .*te\.csv is the same file as the input --data" \
  "$bin" eval -m "$model" --data "$tmp/te.csv" --report "$tmp/te.csv"
refused "eval --report inside the encoder" "under --encoder" \
  "$bin" eval -m "$model" --data "$tmp/te.csv" --report "$enc/config.json"

# Paths that are not regular files: refused, and still what they were.
mkfifo "$tmp/fifo"
refused "train --output a FIFO" "fifo exists and is not a regular file" "${tr[@]}" -o "$tmp/fifo"
refused "eval --report a FIFO" "fifo exists and is not a regular file" \
  "$bin" eval -m "$model" --data "$tmp/te.csv" --report "$tmp/fifo"
[ -p "$tmp/fifo" ] && ok || bad "the FIFO is no longer a FIFO"
ln -s "$tmp/te.csv" "$tmp/link.html"
refused "eval --report a symbolic link to the data" "link\.html is a symbolic link" \
  "$bin" eval -m "$model" --data "$tmp/te.csv" --report "$tmp/link.html"
ln -s "$tmp/elsewhere.lector" "$tmp/dangling.lector"
refused "train --output a dangling symbolic link" "dangling\.lector is a symbolic link" \
  "${tr[@]}" -o "$tmp/dangling.lector"
[ -L "$tmp/link.html" ] && [ -L "$tmp/dangling.lector" ] && [ ! -e "$tmp/elsewhere.lector" ] && ok ||
  bad "a symbolic link was replaced or written through"
refused "train --output a directory" "enc exists and is not a regular file" "${tr[@]}" -o "$enc"
refused "train --output -" "a model is written to a file, not to stdout" "${tr[@]}" -o -

# A device node, made on a private tmpfs in a private mount namespace: never the real /dev.
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
  mkdir -p "$tmp/ns"
  unshare -m bash -c '
    set -e
    mount --make-rprivate / 2>/dev/null || true
    mount -t tmpfs -o size=1m tmpfs "$1"
    mknod "$1/null" c 1 3
    "$2" train --quiet --encoder "$3" --train "$4" --epochs 1 --no-cache -o "$1/null" 2>"$1/err" && exit 10
    [ $? -eq 2 ] || exit 11
    grep -q "null exists and is not a regular file" "$1/err" || exit 12
    [ -c "$1/null" ] || exit 13
    exit 0' _ "$tmp/ns" "$bin" "$enc" "$tmp/t.csv"
  rc=$?
  [ "$rc" -eq 0 ] && ok || bad "train -o DEVICE: check $rc failed (10 accepted, 11 wrong exit, 12 message, 13 node replaced)"
else
  echo "note: no private mount namespace (needs root and unshare -m): device node case not run"
fi

# `--report -` is stdout: the report there, the figures on stderr.
"$bin" eval -m "$model" --data "$tmp/te.csv" --report - >"$tmp/run/out" 2>"$tmp/run/err"
rc=$?
[ "$rc" -eq 0 ] && head -c 15 "$tmp/run/out" | grep -q '<!DOCTYPE html>' && grep -q '^accuracy' "$tmp/run/err" && ok ||
  bad "eval --report -: exit $rc, stdout $(head -c 80 "$tmp/run/out"), stderr $(head -c 200 "$tmp/run/err")"
[ ! -e "$tmp/-" ] && ok || bad "eval --report - wrote a file named -"
"${tr[@]}" -o "$tmp/new.lector" --report - >"$tmp/run/out" 2>"$tmp/run/err"
rc=$?
[ "$rc" -eq 0 ] && head -c 15 "$tmp/run/out" | grep -q '<!DOCTYPE html>' && [ -s "$tmp/new.lector" ] && ok ||
  bad "train --report -: exit $rc, $(head -c 200 "$tmp/run/err")"

echo "outputs: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
