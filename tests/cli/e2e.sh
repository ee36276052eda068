#!/usr/bin/env bash
# End-to-end tests of the lector command line on a tiny random encoder (made by
# make_tiny_encoder) and the demo corpus: train, classify stdin and files, eval, embed,
# tokenize, and the failure paths (exit codes, one-line messages, files left intact).
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
# expect_rc WANT CMD...: run CMD, stdout to $tmp/out, stderr to $tmp/err, check the status.
one_line_err() { [ "$(grep -c . "$tmp/err")" -eq 1 ] && ok || bad "stderr is not one line: $(cat "$tmp/err")"; }

enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 1 || { echo "cannot make the tiny encoder" >&2; exit 1; }
enc2=$tmp/enc2
mkdir -p "$enc2" && "$mk" "$enc2" 2
demo=$src/corpora/demo-sentiment
model=$tmp/m.lector

# --- help and usage ---------------------------------------------------------------------
for c in tokenize embed train classify eval info; do
  expect_rc 0 "$bin" "$c" --help
  grep -q "usage: lector $c" "$tmp/out" && ok || bad "$c --help not on stdout"
done
expect_rc 0 "$bin" --help
expect_rc 0 "$bin" --version
expect_rc 2 "$bin" frobnicate
expect_rc 2 "$bin" train --encoder "$enc" --train "$demo/train.csv" --output "$model" --bogus
expect_err "unknown option '--bogus'"; expect_err "try 'lector train --help'"
expect_rc 2 "$bin" train --encoder "$enc" --train "$demo/train.csv" --output
expect_err "needs a value"
expect_rc 2 "$bin" train --encoder "$enc" --train "$demo/train.csv" --output "$model" --epochs 0
expect_rc 2 "$bin" train --encoder "$enc" --train "$demo/train.csv" --output "$model" --lr abc
expect_rc 2 "$bin" train --encoder "$enc" --train "$demo/train.csv" --output "$model" --max-len 100000
expect_rc 2 "$bin" train --encoder "$enc" --train "$demo/train.csv"
expect_rc 2 "$bin" train --encoder "$enc" --train "$demo/train.csv" --output "$demo/train.csv"
[ ! -e "$model" ] && ok || bad "usage errors wrote a model"

# --- train, classify, eval ----------------------------------------------------------------
expect_rc 0 "$bin" train --encoder "$enc" --train "$demo/train.csv" --valid "$demo/test.csv" \
  --epochs 5 --output "$model"
[ -s "$model" ] && ok || bad "no model written"
ls "$tmp" | grep -q '\.tmp\.' && bad "temporary file left behind" || ok
[ ! -s "$tmp/out" ] && ok || bad "train wrote to stdout"
grep -q "epoch 5/5" "$tmp/err" && ok || bad "no per-epoch progress"

printf 'a wonderful film\n\nterrible, boring book\r\nno final newline' >"$tmp/in.txt"
"$bin" classify --model "$model" <"$tmp/in.txt" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && ok || bad "classify stdin exit $rc: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/out")" -eq 4 ] && ok || bad "classify: want 4 lines, got $(wc -l <"$tmp/out")"
# The empty line keeps its place with no label, and is reported once on stderr.
awk -F'\t' 'NR==2 {if ($0!="") exit 1; next} NF!=2 || ($1!="positive" && $1!="negative") || $2<0.5 || $2>1 {exit 1}' \
  "$tmp/out" && ok || bad "classify output malformed: $(cat "$tmp/out")"
grep -q "stdin:2: empty text" "$tmp/err" && ok || bad "no warning for the empty line: $(cat "$tmp/err")"

printf 'good\n\xff\xfe bad bytes\nbad\n' | "$bin" classify --model "$model" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && ok || bad "invalid UTF-8 line: exit $rc"
[ "$(wc -l <"$tmp/out")" -eq 3 ] && ok || bad "invalid UTF-8: want 3 output lines"
[ -z "$(sed -n 2p "$tmp/out")" ] && ok || bad "bad line should give an empty output line"
grep -q "stdin:2:" "$tmp/err" && ok || bad "invalid UTF-8 message lacks line: $(cat "$tmp/err")"

echo "what a lovely hotel" >"$tmp/a.txt"; printf 'dull\nand slow' >"$tmp/b.txt"
expect_rc 0 "$bin" classify --model "$model" "$tmp/a.txt" "$tmp/b.txt"
[ "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "$tmp/a.txt $tmp/b.txt " ] && ok || bad "file mode: $(cat "$tmp/out")"
expect_rc 1 "$bin" classify --model "$model" "$tmp/missing.txt"
expect_err "missing.txt"
expect_rc 1 "$bin" classify --model "$model" "$tmp"
expect_err "is a directory"

# output formats, top-k, ids, shards, folders, lists
printf 'a\tgood film\nb\tbad book\n' | "$bin" classify --model "$model" --id-column >"$tmp/out" 2>"$tmp/err"
[ "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "a b " ] && ok || bad "--id-column: $(cat "$tmp/out")"
printf 'good\n' | "$bin" classify --model "$model" --all-scores >"$tmp/out"
awk -F'\t' 'NF!=4 || $2<$4 {exit 1}' "$tmp/out" && ok || bad "--all-scores: $(cat "$tmp/out")"
printf 'good\n' | "$bin" classify --model "$model" --label-only >"$tmp/out"
grep -qxE 'positive|negative' "$tmp/out" && ok || bad "--label-only: $(cat "$tmp/out")"
printf 'good\n' | "$bin" classify --model "$model" --format jsonl --top-k 2 >"$tmp/out"
"$py" -c "
import json; o=json.loads(open('$tmp/out').read()); assert set(o)=={'label','prob','scores'} and len(o['scores'])==2" && ok || bad "jsonl: $(cat "$tmp/out")"
echo 'x,y' >"$tmp/c,1.txt"
"$bin" classify --model "$model" --format csv "$tmp/c,1.txt" >"$tmp/out"
grep -q '^"'"$tmp"'/c,1.txt",' "$tmp/out" && ok || bad "csv quoting: $(cat "$tmp/out")"
seq 1 10 | sed 's/^/line /' >"$tmp/lines.txt"
"$bin" classify --model "$model" <"$tmp/lines.txt" >"$tmp/all.out"
for i in 0 1 2; do "$bin" classify --model "$model" --shard $i/3 <"$tmp/lines.txt" >"$tmp/s$i.out"; done
paste -d'\n' "$tmp/s0.out" "$tmp/s1.out" "$tmp/s2.out" | grep -v '^$' >"$tmp/merged.out"
cmp -s "$tmp/merged.out" "$tmp/all.out" && ok || bad "--shard outputs do not interleave to the full run"
expect_rc 2 "$bin" classify --model "$model" --shard 3/3
mkdir -p "$tmp/docs/sub" && echo "lovely" >"$tmp/docs/b.txt" && echo "awful" >"$tmp/docs/sub/a.txt"
printf 'bin\0ary' >"$tmp/docs/z.bin"
expect_rc 0 "$bin" classify --model "$model" -r "$tmp/docs"
[ "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "$tmp/docs/b.txt $tmp/docs/sub/a.txt " ] && ok || bad "-r: $(cat "$tmp/out")"
expect_err "binary file skipped"
printf '%s\n' "$tmp/docs/b.txt" "$tmp/docs/sub/a.txt" | "$bin" classify --model "$model" --files-from - >"$tmp/out"
[ "$(wc -l <"$tmp/out")" -eq 2 ] && ok || bad "--files-from: $(cat "$tmp/out")"
seq 1 5000 | sed 's/^/row /' | "$bin" classify --model "$model" | head -n 3 >"$tmp/out" 2>"$tmp/err"
[ "$(wc -l <"$tmp/out")" -eq 3 ] && [ ! -s "$tmp/err" ] && ok || bad "EPIPE was not quiet: $(cat "$tmp/err")"

# eval --precision: int8 where the CPU has AVX2 or AVX-512 VNNI (else a one-line refusal, exit 1);
# either way a bad name is a usage error
expect_rc 2 "$bin" eval --model "$model" --data "$demo/test.csv" --precision fp16
"$bin" eval --model "$model" --data "$demo/test.csv" --format json --precision int8 >"$tmp/out" 2>"$tmp/err"
rc=$?
case $rc in
  0) "$py" -c "import json; r=json.load(open('$tmp/out')); assert r['n'] == 100 and r['accuracy'] > 0.5" \
       && ok || bad "eval --precision int8: $(cat "$tmp/out")" ;;
  1) grep -q "int8" "$tmp/err" && ok || bad "eval --precision int8 refused without saying why: $(cat "$tmp/err")" ;;
  *) bad "eval --precision int8 exited $rc" ;;
esac

# eval agrees with classify on the same texts
expect_rc 0 "$bin" eval --model "$model" --data "$demo/test.csv" --format json
"$py" - "$tmp/out" "$demo/test.csv" "$bin" "$model" <<'PY' && ok || bad "eval json disagrees with classify"
import csv, json, subprocess, sys
rep = json.load(open(sys.argv[1]))
for k in ("accuracy", "macro_f1", "per_class", "confusion"):
    assert k in rep, k
rows = list(csv.DictReader(open(sys.argv[2], encoding="utf-8")))
out = subprocess.run([sys.argv[3], "classify", "--model", sys.argv[4]], input="\n".join(r["text"] for r in rows) + "\n",
                     capture_output=True, text=True, check=True).stdout.splitlines()
assert len(out) == len(rows)
acc = sum(o.split("\t")[0] == r["label"] for o, r in zip(out, rows)) / len(rows)
assert abs(acc - rep["accuracy"]) < 1e-6, (acc, rep["accuracy"])
assert sum(map(sum, rep["confusion"])) == len(rows)
PY
expect_rc 0 "$bin" eval --model "$model" --data "$demo/test.csv"
grep -q "^accuracy" "$tmp/out" && ok || bad "eval text report lacks accuracy"

# embed: long texts as pooled windows, or truncated
awk 'BEGIN { for (i = 0; i < 200; i++) printf "the film was good %d ", i; print "" }' >"$tmp/long.txt"
"$bin" embed --encoder "$enc" --max-len 32 <"$tmp/long.txt" >"$tmp/win.out" 2>"$tmp/err" &&
  "$bin" embed --encoder "$enc" --max-len 32 --truncate <"$tmp/long.txt" >"$tmp/trunc.out" 2>>"$tmp/err" &&
  [ "$(wc -l <"$tmp/win.out")" -eq 1 ] && ! cmp -s "$tmp/win.out" "$tmp/trunc.out" && ok ||
  bad "embed windows vs --truncate: $(cat "$tmp/err")"
expect_rc 2 "$bin" embed --encoder "$enc" --max-len 32 --stride 40

# embed and tokenize
printf 'hello world\nthe film\n' | "$bin" embed --encoder "$enc" >"$tmp/out" 2>"$tmp/err" && ok || bad "embed failed"
"$py" -c "
import json,sys
rows=[json.loads(l) for l in open('$tmp/out')]
assert len(rows)==2 and all(len(r['embedding'])==32 for r in rows)" && ok || bad "embed output"
printf '[2,5,6,3]\n{"ids":[2,5,3],"token_type_ids":[0,0,1]}\n' | "$bin" embed --encoder "$enc" --ids --pooling none >"$tmp/out" 2>"$tmp/err" && ok || bad "embed --ids: $(cat "$tmp/err")"
"$py" -c "
import json
rows=[json.loads(l) for l in open('$tmp/out')]
assert [len(r['hidden']) for r in rows]==[4,3] and len(rows[0]['hidden'][0])==32" && ok || bad "embed --ids output"
printf 'Hello, World!\n' | "$bin" tokenize --encoder "$enc" >"$tmp/out" 2>"$tmp/err"
grep -qF '"tokens":["[CLS]","he","##l","##l","##o",",","w","##o","##r","##l","##d","!","[SEP]"]' "$tmp/out" && ok ||
  bad "tokenize: $(cat "$tmp/out")"

# info: encoder directory and model card
expect_rc 0 "$bin" info --format json "$enc"
"$py" -c "
import json; o=json.load(open('$tmp/out'))
assert o['family']=='bert' and o['layers']==2 and o['hidden']==32 and o['heads']==2 and o['tokenizer']=='wordpiece'
assert o['n_params']>0 and len(o['sha256'])==64 and o['ignored_tensors']==[]" && ok || bad "info json: $(cat "$tmp/out")"
expect_rc 0 "$bin" info "$model"
grep -q "^labels *2: negative positive" "$tmp/out" && grep -q "^family *bert" "$tmp/out" && ok || bad "info model card: $(cat "$tmp/out")"
expect_rc 1 "$bin" info "$tmp/nothing-here"
expect_rc 2 "$bin" info

# --- failure paths: data files ------------------------------------------------------------
printf 'review,label\nfine,positive\nbad,negative\n' >"$tmp/cols.csv"
expect_rc 1 "$bin" train --encoder "$enc" --train "$tmp/cols.csv" --output "$model.x"
expect_err "no column 'text'"; one_line_err
printf 'text,label\nfine,positive\nbad,negative,extra\n' >"$tmp/ragged.csv"
expect_rc 1 "$bin" train --encoder "$enc" --train "$tmp/ragged.csv" --output "$model.x"
expect_err "ragged.csv:3"; one_line_err
printf 'text,label\n"unterminated,positive\n' >"$tmp/quote.csv"
expect_rc 1 "$bin" train --encoder "$enc" --train "$tmp/quote.csv" --output "$model.x"
expect_err "quote.csv"
printf 'text,label\nfine,positive\nok,positive\n' >"$tmp/oneclass.csv"
expect_rc 1 "$bin" train --encoder "$enc" --train "$tmp/oneclass.csv" --output "$model.x"
expect_err "only one distinct label"
printf 'text,label\nfine,happy\n' >"$tmp/unseen.csv"
expect_rc 1 "$bin" eval --model "$model" --data "$tmp/unseen.csv"
expect_err "unseen.csv:2: label 'happy' was not seen in training"
[ ! -e "$model.x" ] && ok || bad "a failed train wrote a model"
expect_rc 1 "$bin" train --encoder "$enc" --train "$demo/train.csv" --output "$tmp/no/such/dir/m.lector"
expect_err "no/such/dir"

# --- failure paths: checkpoints and models ------------------------------------------------
cp -r "$enc" "$tmp/corrupt"
head -c 1000 "$enc/model.safetensors" >"$tmp/corrupt/model.safetensors"
expect_rc 1 "$bin" embed --encoder "$tmp/corrupt"
expect_err "model.safetensors"; one_line_err
printf '\xff\xff\xff\xff\xff\xff\xff\x7f{}' >"$tmp/corrupt/model.safetensors"
expect_rc 1 "$bin" embed --encoder "$tmp/corrupt"
expect_err "model.safetensors"; one_line_err
expect_rc 1 "$bin" classify --model "$model" --encoder "$enc2"
expect_err "checksum"; one_line_err
head -c 200 "$model" >"$tmp/trunc.lector"
expect_rc 1 "$bin" classify --model "$tmp/trunc.lector"
expect_err "trunc.lector"; one_line_err
expect_rc 1 "$bin" classify --model "$tmp/none.lector"
expect_err "none.lector"

# --- an interrupted training run leaves the old model intact --------------------------------
cp "$model" "$tmp/old.lector"
"$py" - "$tmp/big.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("text,label\n")
    for i in range(150000):
        f.write("the film was %s and the book was %s number %d,%s\n" % (
            "good" if i % 2 else "bad", "great" if i % 3 else "dull", i, "pos" if i % 2 else "neg"))
PY
# ready PID: wait (up to 120 s) until train has written to stderr, which it does only after
# installing its signal handlers (the feature cache line, then progress), instead of
# guessing a delay; fails if the process ended first. $tmp/err is removed before each start:
# left over from the command before, it would make ready return at once and the signal
# would reach the forked shell before it runs lector.
ready() {
  for _ in $(seq 1200); do
    [ -s "$tmp/err" ] && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
rm -f "$tmp/err"
"$bin" train --encoder "$enc" --train "$tmp/big.csv" --output "$model" --progress >/dev/null 2>"$tmp/err" &
pid=$!
ready $pid || bad "train on big.csv wrote nothing before it ended: $(cat "$tmp/err")"
kill -INT $pid
wait $pid; rc=$?
[ $rc -eq 130 ] && ok || bad "interrupted train: exit $rc (want 130): $(cat "$tmp/err")"
cmp -s "$model" "$tmp/old.lector" && ok || bad "interrupted train changed the old model"
ls "$tmp" | grep -q '\.tmp\.' && bad "interrupted train left a temporary file" || ok

# SIGTERM: the same, with exit status 143
rm -f "$tmp/err"
"$bin" train --encoder "$enc" --train "$tmp/big.csv" --output "$model" --progress >/dev/null 2>"$tmp/err" &
pid=$!
ready $pid || bad "train on big.csv wrote nothing before it ended: $(cat "$tmp/err")"
kill -TERM $pid
wait $pid; rc=$?
[ $rc -eq 143 ] && ok || bad "terminated train: exit $rc (want 143): $(cat "$tmp/err")"
cmp -s "$model" "$tmp/old.lector" && ok || bad "terminated train changed the old model"
ls "$tmp" | grep -q '\.tmp\.' && bad "terminated train left a temporary file" || ok

echo "cli e2e: $pass passed, $fail failed"
[ $fail -eq 0 ]
