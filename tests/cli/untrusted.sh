#!/usr/bin/env bash
# One line per input means one line, and no silent wrong answers: labels holding TAB, newline
# or ESC are refused at training and in a model file at load, duplicate labels too; a NaN in
# any tensor of a model file is refused at load; file names and ids that TSV cannot carry are
# refused with a pointer to --format jsonl, and jsonl escapes them (U+FFFD plus the bytes in
# hex when they are not UTF-8); no ESC byte ever reaches stdout or stderr raw; --id-column
# lines without a TAB, paths longer than PATH_MAX under -r, FIFOs, devices and files over
# --max-file-size are each reported; a vocab.txt larger than the encoder's vocab_size is
# refused at load, naming the file. Model files are edited with Python's standard library.
set -uo pipefail
py=${LECTOR_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
bin=${LECTOR_BIN:?LECTOR_BIN not set}
src=${LECTOR_SOURCE_DIR:?}
mk=${LECTOR_MAKE_TINY:?}
"$py" -c 'import csv, json, struct' 2>/dev/null || { echo "skipped: no usable python3 ($py)"; exit 77; }
tmp=$(mktemp -d)
export XDG_CACHE_HOME=$tmp/xdg
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
esc=$(printf '\033')

# run WANT_RC NAME PATTERN CMD... (stdin from $tmp/in): the exit status, PATTERN in stderr,
# and no ESC byte in either stream.
run() {
  local want=$1 name=$2 pat=$3
  shift 3
  "$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || { bad "$name: exit $rc, want $want: $(head -c 300 "$tmp/err")"; return 1; }
  if [ -n "$pat" ] && ! grep -qE -- "$pat" "$tmp/err"; then bad "$name: stderr lacks /$pat/: $(head -c 300 "$tmp/err")"; return 1; fi
  if grep -q "$esc" "$tmp/out" "$tmp/err"; then bad "$name: a raw ESC was printed"; return 1; fi
  ok
}
: >"$tmp/in"

enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 1 >/dev/null || { echo "cannot make the tiny encoder" >&2; exit 1; }
demo=$src/corpora/demo-sentiment
model=$tmp/m.lector
"$bin" train --quiet --encoder "$enc" --train "$demo/train.csv" --epochs 1 -o "$model" || exit 1

# --- labels at training ---------------------------------------------------------------------
"$py" - "$demo/train.csv" "$tmp" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
for name, lab in [("tab", "fake\t0.99\t1.000000"), ("nl", "neg\nfake"), ("esc", "x\x1b[31mred"),
                  ("c1", "x\u009b31m")]:
    with open(f"{sys.argv[2]}/{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        for i, r in enumerate(rows):
            w.writerow([r[0], lab] if i > 0 and i % 3 == 0 else r)
PY
for k in tab nl esc c1; do
  run 1 "train with a $k label" "$k\.csv: label '.*' holds a control character" \
    "$bin" train --quiet --encoder "$enc" --train "$tmp/$k.csv" --epochs 1 -o "$tmp/$k.lector" &&
    { [ ! -e "$tmp/$k.lector" ] && ok || bad "a model was written for the $k label"; }
done

# --- model files --------------------------------------------------------------------------
edit() {  # edit OUT WHAT: a copy of the model with its labels or a tensor changed
  "$py" - "$model" "$@" <<'PY'
import json, struct, sys
src, dst, what = sys.argv[1:4]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
data = bytearray(b[8 + n:])
m = h["__metadata__"]
labs = json.loads(m["labels"])
if what == "dup":
    labs[1] = labs[0]
elif what == "esc":
    labs[0] += "\x1b[2J"
elif what == "tab":
    labs[0] += "\tfake\t0.99"
elif what.startswith("nan:") or what.startswith("inf:"):
    o = h[what[4:]]["data_offsets"][1] - 4
    data[o:o + 4] = struct.pack("<f", float(what[:3]))
m["labels"] = json.dumps(labs)
j = json.dumps(h).encode()
j += b" " * (-len(j) % 8)
open(dst, "wb").write(struct.pack("<Q", len(j)) + j + bytes(data))
PY
}
echo "a good film" >"$tmp/in"
edit "$tmp/dup.lector" dup
run 1 "duplicate labels in a model" "dup\.lector: label '.*' appears twice" "$bin" classify -m "$tmp/dup.lector"
for k in esc tab; do
  edit "$tmp/$k.lector" $k
  run 1 "a $k label in a model" "$k\.lector: label .* holds a control character" "$bin" classify -m "$tmp/$k.lector"
  run 1 "info on a $k label" "holds a control character" "$bin" info "$tmp/$k.lector"
done
for t in nan:head.bias inf:head.weight; do
  edit "$tmp/bad.lector" $t
  run 1 "$t in a model" "bad\.lector: tensor '${t#*:}' holds a non-finite value \(${t%%:*}\)" \
    "$bin" classify -m "$tmp/bad.lector"
  run 1 "eval with $t" "holds a non-finite value" "$bin" eval -m "$tmp/bad.lector" --data "$demo/test.csv"
  [ ! -s "$tmp/out" ] && ok || bad "eval printed figures for a model with $t"
done

# An encoder folder and a tensor name holding ESC: `info` prints both escaped.
evil="$tmp/enc${esc}[31m"
cp -r "$enc" "$evil"
"$py" - "$enc/model.safetensors" "$evil/model.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
data = b[8 + n:]
h["evil\x1b[2J"] = {"dtype": "F32", "shape": [1], "data_offsets": [len(data), len(data) + 4]}
data += struct.pack("<f", 1.0)
j = json.dumps(h).encode()
j += b" " * (-len(j) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(j)) + j + data)
PY
: >"$tmp/in"
run 0 "info on names holding ESC" "" "$bin" info "$evil"
grep -q 'enc\\x1b\[31m' "$tmp/out" && grep -q 'evil\\x1b\[2J' "$tmp/out" && ok || bad "info: names not escaped: $(cat -v "$tmp/out")"

# --- file names and ids ---------------------------------------------------------------------
docs=$tmp/docs
mkdir -p "$docs"
echo "a great film" >"$docs/plain.txt"
echo "a great film" >"$docs/a$(printf '\t')b.txt"
echo "a great film" >"$docs/x${esc}[31my.txt"
echo "a great film" >"$docs/line"$'\n'"fake"$'\t'"0.99.txt"
echo "a great film" >"$docs/n$(printf '\377')m.txt"
: >"$tmp/in"
run 1 "tsv with control characters in file names" "a\\\\x09b\.txt: the file name holds a control character.*--format jsonl" \
  "$bin" classify -m "$model" -r "$docs"
[ "$(wc -l <"$tmp/out")" -eq 2 ] && [ "$(cut -f1 "$tmp/out" | sort | tr '\n' ' ')" = "$docs/n$(printf '\377')m.txt $docs/plain.txt " ] &&
  ok || bad "tsv: want the two clean names, one line each: $(cat -v "$tmp/out")"
grep -q 'x\\x1b\[31my\.txt' "$tmp/err" && grep -q 'line\\x0afake\\x090\.99' "$tmp/err" && ok ||
  bad "the refused names are not escaped in the messages: $(cat -v "$tmp/err")"
run 1 "csv with control characters in file names" "CSV output cannot carry" "$bin" classify -m "$model" -f csv -r "$docs"
run 0 "jsonl with every name" "" "$bin" classify -m "$model" -f jsonl -r "$docs"
"$py" - "$tmp/out" "$docs" <<'PY' && ok || bad "jsonl: names not kept: $(cat -v "$tmp/out")"
import json, os, sys
got = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
d = sys.argv[2]
want = sorted(os.fsencode(os.path.join(d, n)) for n in os.listdir(d))
have = sorted(bytes.fromhex(o["file_hex"]) if "file_hex" in o else o["file"].encode() for o in got)
assert have == want, (have, want)
odd = [o for o in got if "file_hex" in o]
assert len(odd) == 1 and odd[0]["file"].endswith("n\ufffdm.txt"), odd
PY

printf 'id1\ta fine film\nno tab on this line\nid3\tawful\nid\0334\tfine\n' >"$tmp/in"
run 1 "--id-column line without a TAB" "stdin:2: --id-column expects ID<TAB>TEXT, but the line has no TAB" \
  "$bin" classify -m "$model" --id-column
[ "$(wc -l <"$tmp/out")" -eq 4 ] && [ "$(sed -n 2p "$tmp/out")" = "" ] && [ "$(sed -n 4p "$tmp/out")" = "" ] &&
  [ "$(cut -f1 "$tmp/out" | sed -n 3p)" = id3 ] && ok || bad "--id-column: want 4 lines, 2 and 4 empty: $(cat -v "$tmp/out")"
grep -q 'stdin:4: the id holds a control character' "$tmp/err" && ok || bad "--id-column: ESC id not reported"
printf 'id\377x\ta fine film\n' >"$tmp/in"
run 0 "jsonl id that is not UTF-8" "" "$bin" classify -m "$model" --id-column -f jsonl
grep -q '"id":"id\\ufffdx","id_hex":"6964ff78"' "$tmp/out" || grep -q '"id":"id.x","id_hex":"6964ff78"' "$tmp/out" && ok ||
  bad "jsonl id: $(cat -v "$tmp/out")"

# --- paths classify cannot read ---------------------------------------------------------------
: >"$tmp/in"
"$py" - "$tmp/deep" <<'PY'
import os, sys
os.makedirs(sys.argv[1])
os.chdir(sys.argv[1])
open("short.txt", "w").write("a good film\n")
for _ in range(20):  # 20 x 251 bytes: past PATH_MAX (4096)
    os.mkdir("d" * 250)
    os.chdir("d" * 250)
open("deep.txt", "w").write("a bad film\n")
PY
run 1 "-r with a path past PATH_MAX" "deep/d+.*: (cannot read|cannot open folder): File name too long" \
  "$bin" classify -m "$model" -r "$tmp/deep"
[ "$(wc -l <"$tmp/out")" -eq 1 ] && ok || bad "-r deep: $(cat "$tmp/out")"
mkfifo "$tmp/fifo"
run 1 "a FIFO given explicitly" "fifo: not a regular file" timeout 20 "$bin" classify -m "$model" "$tmp/fifo"
head -c 3000 /dev/zero | tr '\0' 'a' >"$tmp/big.txt"
run 1 "a file over --max-file-size" "big\.txt: 3000 bytes, over the --max-file-size limit of 2048 bytes" \
  "$bin" classify -m "$model" --max-file-size 2K "$tmp/big.txt"
run 0 "a file under --max-file-size" "" "$bin" classify -m "$model" --max-file-size 3000 "$tmp/big.txt"
run 2 "a bad --max-file-size" "--max-file-size expects a byte count" "$bin" classify -m "$model" --max-file-size 2X "$tmp/big.txt"
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
  mkdir -p "$tmp/ns"
  unshare -m bash -c '
    mount --make-rprivate / 2>/dev/null || true
    mount -t tmpfs -o size=1m tmpfs "$1" && mknod "$1/zero" c 1 5 || exit 20
    timeout 20 "$2" classify -m "$3" "$1/zero" >/dev/null 2>"$1/err"
    [ $? -eq 1 ] || exit 21
    grep -q "zero: not a regular file" "$1/err" || exit 22' _ "$tmp/ns" "$bin" "$model"
  rc=$?
  [ "$rc" -eq 0 ] && ok || bad "classify a /dev/zero-like device: check $rc failed"
else
  echo "note: no private mount namespace (needs root and unshare -m): device node case not run"
fi

# --- windows per text are bounded ----------------------------------------------------------
"$bin" train --quiet --encoder "$enc" --train "$demo/train.csv" --epochs 1 --max-len 32 --doc-pooling mean \
  -o "$tmp/w.lector" || bad "cannot train a windowed model"
"$py" -c "print(' '.join(['a good film'] * 400))" >"$tmp/in"
run 0 "classify a long line with --max-windows 3" "stdin:1: 1 text longer than 3 windows cut there \(--max-windows\)" \
  "$bin" classify -m "$tmp/w.lector" --max-windows 3
cp "$tmp/out" "$tmp/cut.out"
run 0 "classify a long line without a limit" "" "$bin" classify -m "$tmp/w.lector" --max-windows 0
! cmp -s "$tmp/out" "$tmp/cut.out" && [ ! -s "$tmp/err" ] && ok || bad "--max-windows 3 did not change the result or --max-windows 0 warned"
run 0 "classify a long line under the default" "" "$bin" classify -m "$tmp/w.lector"
cmp -s "$tmp/out" "$tmp/cut.out" && bad "the default cut a text of 1,200 tokens" || ok
run 0 "embed a long line with --max-windows 2" "stdin:1: 1 text longer than 2 windows cut there" \
  "$bin" embed -e "$enc" --max-len 32 --max-windows 2
run 2 "a negative --max-windows" "--max-windows must be between 0 and" "$bin" classify -m "$tmp/w.lector" --max-windows -1

# --- the head's memory is estimated before it is allocated ----------------------------------
"$py" - "$demo/train.csv" "$tmp/labels20k.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))[1:]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["text", "label"])
    for i in range(20000):
        w.writerow([f"{rows[i % len(rows)][0]} {i}", f"label{i}"])
PY
# 20,000 labels x (32 inputs + 1 bias) x 21 bytes = 13.86 MB
run 1 "20,000 labels over --max-memory" "labels20k\.csv: the head for 20000 labels \(C=32 dense inputs, H=0 hidden units, S=0 n-gram features\) and its optimiser state need 13\.9 MB, over the budget of 10\.5 MB \(--max-memory\)" \
  "$bin" train --quiet -e "$enc" --train "$tmp/labels20k.csv" --features encoder --valid-fraction 0 --no-cache \
  --max-memory 10M -o "$tmp/k.lector"
[ ! -e "$tmp/k.lector" ] && ok || bad "a model was written over --max-memory"
run 2 "a bad --max-memory" "--max-memory" "$bin" train --quiet -e "$enc" --train "$demo/train.csv" --max-memory 0 -o "$tmp/k.lector"

# --- a vocab.txt larger than vocab_size --------------------------------------------------------
cp -r "$enc" "$tmp/enc-big-vocab"
for i in $(seq 1 50); do echo "extra$i"; done >>"$tmp/enc-big-vocab/vocab.txt"
echo "a film" >"$tmp/in"
run 1 "embed with a vocab.txt past vocab_size" "enc-big-vocab/vocab\.txt: [0-9]+ tokens, but the encoder's vocab_size is" \
  "$bin" embed -e "$tmp/enc-big-vocab"
run 1 "train with a vocab.txt past vocab_size" "enc-big-vocab/vocab\.txt: .* tokens, but" \
  "$bin" train --quiet -e "$tmp/enc-big-vocab" --train "$demo/train.csv" --epochs 1 -o "$tmp/v.lector"
run 1 "classify with a vocab.txt past vocab_size" "enc-big-vocab/vocab\.txt: .* tokens, but" \
  "$bin" classify -m "$model" -e "$tmp/enc-big-vocab"

echo "untrusted: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
