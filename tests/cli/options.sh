#!/usr/bin/env bash
# Each command-line option has its effect, not only exit status 0: a different model, a
# value stored in the model, a changed report or output. On a tiny random encoder and the
# demo corpus. Options whose documented effect is an invariance (--threads, --batch-size:
# the same results) are checked for that.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
# run WANT NAME CMD...: run CMD (stdout to $tmp/NAME.out, stderr to $tmp/NAME.err), check status
run() {
  local want=$1 name=$2; shift 2
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
  local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else bad "$name: exit $rc (want $want): $* -- $(head -c 300 "$tmp/$name.err")"; fi
}
# runin WANT NAME INPUT CMD...: the same with INPUT on stdin
runin() {
  local want=$1 name=$2 input=$3; shift 3
  "$@" <"$input" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else bad "$name: exit $rc (want $want): $* -- $(head -c 300 "$tmp/$name.err")"; fi
}
same() { cmp -s "$tmp/$1" "$tmp/$2" && ok || bad "$3: $1 and $2 differ"; }
differ() { cmp -s "$tmp/$1" "$tmp/$2" && bad "$3: $1 and $2 are the same" || ok; }
has() { grep -q -- "$2" "$tmp/$1" && ok || bad "$1 lacks '$2': $(head -c 300 "$tmp/$1")"; }
# check PYTHON-CODE ARGS...: python helpers below, then the code; fail with its message
check() {
  local code=$1; shift
  "$py" - "$@" <<PY && ok || bad "check: $code"
import json, struct, sys, array
def model(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    t = {}
    for k, v in h.items():
        if k != "__metadata__" and v["dtype"] == "F32":
            s, e = v["data_offsets"]; a = array.array("f"); a.frombytes(b[8 + n + s:8 + n + e]); t[k] = list(a)
    return h["__metadata__"], t
def meta(p): return model(p)[0]
def tensor(p, name): return model(p)[1][name]
def sq(x): return sum(v * v for v in x)
def ngp(p): return json.loads(meta(p)["ngram_params"])
def rows(p): return [json.loads(l) for l in open(p) if l.strip()]
def best_epoch(err): return int(open(err).read().split("best epoch ")[1].split(";")[0])
# The documented selection rule over an epoch history: (best epoch, epochs run) for
# --min-delta d and --patience pat (0: off)
def select(h, d, pat=0):
    best = bf = bl = mx = None; since = 0
    for i, e in enumerate(h):
        f, l = e["valid_macro_f1"], e["valid_loss"]
        mx = f if mx is None else max(mx, f)
        if best is None or f > bf + d or (f >= bf - d and f >= mx - d and l < bl):
            best, bf, bl, since = e["epoch"], f, l, 0
        else:
            since += 1
        if pat and since >= pat:
            return best, i + 1
    return best, len(h)
a = sys.argv[1:]
$code
PY
}

enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 1 || { echo "cannot make the tiny encoder" >&2; exit 1; }
cp -r "$enc" "$tmp/enc-copy"
enc2=$tmp/enc2
mkdir -p "$enc2" && "$mk" "$enc2" 2
demo=$src/corpora/demo-sentiment
# the demo corpus with its text column renamed, and one with every 4th label flipped (noisy
# enough that epochs differ in validation F1 and loss), and an unbalanced one (1 in 3
# negatives dropped)
"$py" - "$demo/train.csv" "$tmp" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
def write(name, head, body):
    with open(f"{sys.argv[2]}/{name}", "w", newline="") as f:
        w = csv.writer(f); w.writerow(head); w.writerows(body)
write("review.csv", ["review", "label"], rows[1:])
flip = {"positive": "negative", "negative": "positive"}
write("noisy.csv", rows[0], [[r[0], flip[r[1]] if i % 4 == 0 else r[1]] for i, r in enumerate(rows[1:])])
write("unbalanced.csv", rows[0], [r for i, r in enumerate(rows[1:]) if r[1] == "positive" or i % 3])
PY

# --- train --------------------------------------------------------------------------------
t=(train --encoder "$enc" --epochs 3 --seed 3)
run 0 base "$bin" "${t[@]}" --train "$demo/train.csv" -o "$tmp/base.lector"
run 0 base2 "$bin" "${t[@]}" --train "$demo/train.csv" -o "$tmp/base2.lector"
same base.lector base2.lector "training is reproducible (the comparisons below rely on it)"

# --text-column: the same corpus under another column name gives the same model
run 1 nocol "$bin" "${t[@]}" --train "$tmp/review.csv" -o "$tmp/x.lector"
has nocol.err "text"
run 0 textcol "$bin" "${t[@]}" --train "$tmp/review.csv" --text-column review -o "$tmp/textcol.lector"
check "m1, m2 = model(a[0]), model(a[1]); assert m1[1] == m2[1], 'weights differ'" "$tmp/base.lector" "$tmp/textcol.lector"

# --pooling: stored, and another model
run 0 pool "$bin" "${t[@]}" --train "$demo/train.csv" --pooling cls -o "$tmp/pool.lector"
check "assert meta(a[0])['pooling'] == 'cls' and meta(a[1])['pooling'] == 'mean'" "$tmp/pool.lector" "$tmp/base.lector"
differ pool.lector base.lector "--pooling cls"

# --calibrate none: temperature 1 (the fitted one is not)
run 0 calib "$bin" "${t[@]}" --train "$demo/train.csv" --calibrate none -o "$tmp/calib.lector"
check "assert float(meta(a[0])['temperature']) == 1.0 and float(meta(a[1])['temperature']) != 1.0" \
  "$tmp/calib.lector" "$tmp/base.lector"
grep -q "temperature" "$tmp/base.err" && ok || bad "no temperature in train's report"

# n-gram vocabulary options: stored in ngram_params, and the number of features follows
run 0 order1 "$bin" "${t[@]}" --train "$demo/train.csv" --ngram-order 1 -o "$tmp/order1.lector"
run 0 mindf "$bin" "${t[@]}" --train "$demo/train.csv" --min-df 2 -o "$tmp/mindf.lector"
run 0 buckets "$bin" "${t[@]}" --train "$demo/train.csv" --ngram-buckets 64 -o "$tmp/buckets.lector"
run 0 chars "$bin" "${t[@]}" --train "$demo/train.csv" --char-ngrams 2-4 -o "$tmp/chars.lector"
check "
base = len(tensor(a[0], 'ngram.idf'))
n = {k: len(tensor(p, 'ngram.idf')) for k, p in zip(('order1', 'mindf', 'buckets', 'chars'), a[1:])}
assert ngp(a[1])['word_order'] == 1 and n['order1'] < base, (n, base)
assert ngp(a[2])['min_df'] == 2 and n['mindf'] < base, (n, base)
assert ngp(a[3])['buckets'] == 64 and n['buckets'] <= 64 < base, (n, base)
assert (ngp(a[4])['char_min'], ngp(a[4])['char_max']) == (2, 4) and n['chars'] > base, (n, base)
" "$tmp/base.lector" "$tmp/order1.lector" "$tmp/mindf.lector" "$tmp/buckets.lector" "$tmp/chars.lector"

# learning rates and weight decays: each changes the model; heavier decay gives smaller weights
run 0 lrng "$bin" "${t[@]}" --train "$demo/train.csv" --lr-ngrams 0.3 -o "$tmp/lrng.lector"
differ lrng.lector base.lector "--lr-ngrams"
check "assert sq(tensor(a[0], 'head.ngram_weight')) > sq(tensor(a[1], 'head.ngram_weight'))" \
  "$tmp/lrng.lector" "$tmp/base.lector"
te=(train --encoder "$enc" --epochs 3 --seed 3 --train "$demo/train.csv" --lr 0.05 --lr-ngrams 0.05)
run 0 wd0 "$bin" "${te[@]}" --weight-decay 0 --weight-decay-ngrams 0 -o "$tmp/wd0.lector"
run 0 wd "$bin" "${te[@]}" --weight-decay 5 --weight-decay-ngrams 0 -o "$tmp/wd.lector"
run 0 wdng "$bin" "${te[@]}" --weight-decay 0 --weight-decay-ngrams 5 -o "$tmp/wdng.lector"
check "
w0, w, wn = (model(p)[1] for p in a)
assert sq(w['head.weight']) < 0.9 * sq(w0['head.weight']), 'weight decay'
assert sq(wn['head.ngram_weight']) < 0.9 * sq(w0['head.ngram_weight']), 'n-gram weight decay'
" "$tmp/wd0.lector" "$tmp/wd.lector" "$tmp/wdng.lector"

# the optimiser options: each on its own gives another model
for o in "--schedule cosine" "--warmup 0.5" "--clip-norm 0.01" "--label-smoothing 0.2"; do
  name=$(echo "$o" | tr -dc 'a-z')
  # shellcheck disable=SC2086
  run 0 "$name" "$bin" "${t[@]}" --train "$demo/train.csv" $o -o "$tmp/$name.lector"
  differ "$name.lector" base.lector "$o"
done
# label smoothing keeps the probabilities away from 0 and 1: a larger validation log-loss floor
check "assert float(json.loads(meta(a[0])['history'])[-1]['valid_loss']) > float(json.loads(meta(a[1])['history'])[-1]['valid_loss'])" \
  "$tmp/labelsmoothing.lector" "$tmp/base.lector"
# --class-weight balanced: on an unbalanced corpus, another model
run 0 cw0 "$bin" "${t[@]}" --train "$tmp/unbalanced.csv" -o "$tmp/cw0.lector"
run 0 cw1 "$bin" "${t[@]}" --train "$tmp/unbalanced.csv" --class-weight balanced -o "$tmp/cw1.lector"
differ cw0.lector cw1.lector "--class-weight balanced on an unbalanced corpus"

# --patience and --min-delta on the noisy corpus (10 epochs, encoder features): patience 1
# stops one epoch after the best; the selected epoch follows the documented rule for either
# --min-delta (F1 within the delta counts as a tie, which the lower validation loss breaks)
tn=(train --encoder "$enc" --train "$tmp/noisy.csv" --epochs 10 --lr 0.01)
n_differ=0
for seed in 1 2 3 4; do
  run 0 "md0-$seed" "$bin" "${tn[@]}" --seed $seed --min-delta 0 -o "$tmp/md0-$seed.lector"
  run 0 "md9-$seed" "$bin" "${tn[@]}" --seed $seed --min-delta 0.5 -o "$tmp/md9-$seed.lector"
  check "
h = json.loads(meta(a[0])['history'])
assert h == json.loads(meta(a[1])['history'])  # selection does not change training
assert best_epoch(a[2]) == select(h, 0.0)[0], (best_epoch(a[2]), select(h, 0.0), h)
assert best_epoch(a[3]) == select(h, 0.5)[0], (best_epoch(a[3]), select(h, 0.5), h)
" "$tmp/md0-$seed.lector" "$tmp/md9-$seed.lector" "$tmp/md0-$seed.err" "$tmp/md9-$seed.err"
  [ "$(grep -o 'best epoch [0-9]*' "$tmp/md0-$seed.err")" != "$(grep -o 'best epoch [0-9]*' "$tmp/md9-$seed.err")" ] &&
    n_differ=$((n_differ + 1))
done
[ "$n_differ" -gt 0 ] && ok || bad "--min-delta 0 and 0.5 selected the same epochs for every seed"
run 0 pat "$bin" "${tn[@]}" --seed 1 --min-delta 0 --patience 1 -o "$tmp/pat.lector"
check "
h = json.loads(meta(a[0])['history']); full = json.loads(meta(a[1])['history'])
b, n = select(full, 0.0, 1)
assert len(full) == 10 and n < 10 and len(h) == n and h == full[:n], (n, h, full)
assert best_epoch(a[2]) == b, (best_epoch(a[2]), b)
" "$tmp/pat.lector" "$tmp/md0-1.lector" "$tmp/pat.err"

# --progress: progress lines (carriage returns) on stderr although it is not a terminal
run 0 prog "$bin" "${t[@]}" --train "$demo/train.csv" --progress -o "$tmp/prog.lector"
grep -q $'\r' "$tmp/prog.err" && ok || bad "train --progress: no progress line"
grep -q $'\r' "$tmp/base.err" && bad "train without --progress drew progress lines" || ok
same prog.lector base.lector "--progress changed the model"

# --- eval ---------------------------------------------------------------------------------
ev=(eval --model "$tmp/base.lector" --format json)
run 0 ev "$bin" "${ev[@]}" --data "$demo/test.csv"
run 1 evnocol "$bin" "${ev[@]}" --data "$tmp/review.csv"
run 0 evcol "$bin" "${ev[@]}" --data "$tmp/review.csv" --text-column review
run 0 evtrain "$bin" "${ev[@]}" --data "$demo/train.csv"
same evcol.out evtrain.out "eval --text-column"
run 0 evprog "$bin" "${ev[@]}" --data "$demo/test.csv" --progress --no-cache
grep -q $'\r' "$tmp/evprog.err" && ok || bad "eval --progress: no progress line"
same evprog.out ev.out "eval --progress changed the report"
# --encoder: a copy of the model's encoder gives the same report; another encoder is refused
run 0 evenc "$bin" "${ev[@]}" --data "$demo/test.csv" --encoder "$tmp/enc-copy" --no-cache
same evenc.out ev.out "eval --encoder (a copy)"
run 1 evenc2 "$bin" "${ev[@]}" --data "$demo/test.csv" --encoder "$enc2"
has evenc2.err "checksum"
# a quote inside an unquoted field is refused, with its line and column (strict CSV)
"$py" - "$demo/test.csv" "$tmp/quote.csv" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines(True)
open(sys.argv[2], "w").write("".join(lines[:5]) + 'a "quoted" word here,positive\n' + "".join(lines[5:]))
PY
run 1 evquote "$bin" "${ev[@]}" --data "$tmp/quote.csv"
has evquote.err "quote.csv:6:3: expected no '\"' inside an unquoted field"
# --threads: the same report with one thread or two
run 0 evt1 "$bin" "${ev[@]}" --data "$demo/test.csv" --threads 1 --no-cache
run 0 evt2 "$bin" "${ev[@]}" --data "$demo/test.csv" --threads 2 --no-cache
same evt1.out evt2.out "eval --threads 1 and 2"

# --- classify -----------------------------------------------------------------------------
head -n 20 "$demo/test.csv" | tail -n 19 | cut -d, -f1 >"$tmp/lines.txt"
runin 0 cl "$tmp/lines.txt" "$bin" classify --model "$tmp/base.lector"
[ "$(wc -l <"$tmp/cl.out")" -eq 19 ] && ok || bad "classify: $(wc -l <"$tmp/cl.out") lines for 19"
runin 0 clprog "$tmp/lines.txt" "$bin" classify --model "$tmp/base.lector" --progress
grep -q $'\r' "$tmp/clprog.err" && ok || bad "classify --progress: no progress line"
same clprog.out cl.out "classify --progress changed the output"
runin 0 clfp32 "$tmp/lines.txt" "$bin" classify --model "$tmp/base.lector" --precision fp32
same clfp32.out cl.out "classify --precision fp32 (the default)"
runin 2 clbad "$tmp/lines.txt" "$bin" classify --model "$tmp/base.lector" --precision fp16
for p in bf16 int8; do
  "$bin" classify --model "$tmp/base.lector" --precision $p <"$tmp/lines.txt" >"$tmp/cl$p.out" 2>"$tmp/cl$p.err"
  rc=$?
  if [ $rc -eq 0 ]; then
    # the CPU has it: probabilities move a little, labels mostly stay
    check "
x = [l.split('\t') for l in open(a[0])]; y = [l.split('\t') for l in open(a[1])]
assert len(x) == len(y) == 19
assert any(float(p[1]) != float(q[1]) for p, q in zip(x, y)), 'no probability changed'
assert max(abs(float(p[1]) - float(q[1])) for p, q in zip(x, y)) < 0.1
" "$tmp/cl$p.out" "$tmp/cl.out"
  else
    [ $rc -eq 1 ] && grep -q "precision $p needs a CPU with" "$tmp/cl$p.err" && ok ||
      bad "classify --precision $p: exit $rc, $(cat "$tmp/cl$p.err")"
  fi
done

# --- embed --------------------------------------------------------------------------------
runin 0 em "$tmp/lines.txt" "$bin" embed --encoder "$enc"
runin 0 emprog "$tmp/lines.txt" "$bin" embed --encoder "$enc" --progress
grep -q $'\r' "$tmp/emprog.err" && ok || bad "embed --progress: no progress line"
same emprog.out em.out "embed --progress changed the output"
# --batch-size and --threads: the same vectors (to rounding) in the same order
runin 0 emb1 "$tmp/lines.txt" "$bin" embed --encoder "$enc" --batch-size 1
runin 0 emt1 "$tmp/lines.txt" "$bin" embed --encoder "$enc" --threads 1
runin 0 emt2 "$tmp/lines.txt" "$bin" embed --encoder "$enc" --threads 2 --batch-size 7
check "
base = [r['embedding'] for r in rows(a[0])]
assert len(base) == 19
for p in a[1:]:
    other = [r['embedding'] for r in rows(p)]
    assert len(other) == 19, p
    d = max(abs(u - v) for x, y in zip(base, other) for u, v in zip(x, y))
    assert d <= 1e-5, (p, d)
" "$tmp/em.out" "$tmp/emb1.out" "$tmp/emt1.out" "$tmp/emt2.out"
runin 0 emfp32 "$tmp/lines.txt" "$bin" embed --encoder "$enc" --precision fp32
same emfp32.out em.out "embed --precision fp32 (the default)"
for p in bf16 int8; do
  "$bin" embed --encoder "$enc" --precision $p <"$tmp/lines.txt" >"$tmp/em$p.out" 2>"$tmp/em$p.err"
  rc=$?
  if [ $rc -eq 0 ]; then
    check "
x = [r['embedding'] for r in rows(a[0])]; y = [r['embedding'] for r in rows(a[1])]
assert len(x) == len(y) == 19 and x != y
for u, v in zip(x, y):
    cos = sum(p * q for p, q in zip(u, v)) / (sum(p * p for p in u) * sum(q * q for q in v)) ** 0.5
    assert cos > 0.99, cos
" "$tmp/em$p.out" "$tmp/em.out"
  else
    [ $rc -eq 1 ] && grep -q "precision $p needs a CPU with" "$tmp/em$p.err" && ok ||
      bad "embed --precision $p: exit $rc, $(cat "$tmp/em$p.err")"
  fi
done
# --doc-pooling: a text longer than --max-len is split into windows; max pooling of the
# windows is >= their mean in every component, and above it somewhere
"$py" -c 'print(" ".join("word%d great film number %d" % (i, i) for i in range(40)))' >"$tmp/long.txt"
runin 0 dmean "$tmp/long.txt" "$bin" embed --encoder "$enc" --max-len 16 --doc-pooling mean
runin 0 dmax "$tmp/long.txt" "$bin" embed --encoder "$enc" --max-len 16 --doc-pooling max
check "
m = rows(a[0])[0]['embedding']; x = rows(a[1])[0]['embedding']
assert len(m) == len(x) and all(v >= u - 1e-6 for u, v in zip(m, x)) and any(v > u + 1e-4 for u, v in zip(m, x))
" "$tmp/dmean.out" "$tmp/dmax.out"
# --strict: a bad line (not UTF-8) is reported and skipped (an empty line, exit 1), or stops
printf 'ok line\n\xff\xfe bad\nlast line\n' >"$tmp/bad.txt"
runin 1 emloose "$tmp/bad.txt" "$bin" embed --encoder "$enc"
runin 1 emstrict "$tmp/bad.txt" "$bin" embed --encoder "$enc" --strict
check "
loose = open(a[0]).read().split('\n'); strict = open(a[1]).read().split('\n')
assert loose[0].startswith('{') and loose[1] == '' and loose[2].startswith('{'), loose
assert len([l for l in strict if l.startswith('{')]) == 1, strict
" "$tmp/emloose.out" "$tmp/emstrict.out"

# --- tokenize -----------------------------------------------------------------------------
printf 'hello world\n' >"$tmp/hello.txt"
mkdir -p "$tmp/tok"
printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n' >"$tmp/tok/vocab.txt"
runin 0 tk "$tmp/hello.txt" "$bin" tokenize --encoder "$enc"
runin 0 tktok "$tmp/hello.txt" "$bin" tokenize --encoder "$enc" --tokenizer "$tmp/tok"
check "
assert rows(a[0])[0]['ids'] == [2, 5, 6, 3] and rows(a[0])[0]['tokens'] == ['[CLS]', 'hello', 'world', '[SEP]']
assert rows(a[1])[0]['ids'] != [2, 5, 6, 3]
" "$tmp/tktok.out" "$tmp/tk.out"
runin 0 tkmax "$tmp/hello.txt" "$bin" tokenize --encoder "$enc" --max-len 3
check "
r = rows(a[0])[0]; full = rows(a[1])[0]
assert len(r['ids']) == 3 and r['ids'][0] == full['ids'][0] and r['ids'][-1] == full['ids'][-1] and len(full['ids']) > 3, (r, full)
" "$tmp/tkmax.out" "$tmp/tk.out"
runin 1 tkerr "$tmp/bad.txt" "$bin" tokenize --encoder "$enc"
has tkerr.err "stdin:2"
runin 0 tkrep "$tmp/bad.txt" "$bin" tokenize --encoder "$enc" --invalid-utf8 replace
has tkrep.err "replaced"
runin 1 tkstrict "$tmp/bad.txt" "$bin" tokenize --encoder "$enc" --strict
check "
err = open(a[0]).read().split('\n'); rep = open(a[1]).read().split('\n'); strict = open(a[2]).read().split('\n')
assert err[1] == '' and err[2].startswith('{'), err
assert rep[1].startswith('{') and rep[2].startswith('{'), rep
assert len([l for l in strict if l.startswith('{')]) == 1, strict
" "$tmp/tkerr.out" "$tmp/tkrep.out" "$tmp/tkstrict.out"
runin 2 tkbadmode "$tmp/hello.txt" "$bin" tokenize --encoder "$enc" --invalid-utf8 ignore

# --label-names: integer labels named by labels.txt beside the CSV (stored in the model, so
# classify prints names), by a given file, or kept as integers with none
mkdir -p "$tmp/named"
"$py" - "$demo/train.csv" "$tmp/named" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
ids = {"negative": "0", "positive": "1"}
with open(sys.argv[2] + "/train.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(rows[0]); w.writerows([[r[0], ids[r[1]]] for r in rows[1:]])
open(sys.argv[2] + "/labels.txt", "w").write("negative\npositive\n")
open(sys.argv[2] + "/other.txt", "w").write("bad\ngood\n")
PY
tn=(train --encoder "$enc" --epochs 1 --seed 3 --no-cache --train "$tmp/named/train.csv")
run 0 nm_auto "$bin" "${tn[@]}" -o "$tmp/nm_auto.lector"
run 0 nm_none "$bin" "${tn[@]}" --label-names none -o "$tmp/nm_none.lector"
run 0 nm_file "$bin" "${tn[@]}" --label-names "$tmp/named/other.txt" -o "$tmp/nm_file.lector"
check "
assert json.loads(meta(a[0])['labels']) == ['negative', 'positive'], meta(a[0])['labels']
assert json.loads(meta(a[1])['labels']) == ['0', '1'], meta(a[1])['labels']
assert json.loads(meta(a[2])['labels']) == ['bad', 'good'], meta(a[2])['labels']
assert tensor(a[0], 'head.bias') == tensor(a[1], 'head.bias')
" "$tmp/nm_auto.lector" "$tmp/nm_none.lector" "$tmp/nm_file.lector"
printf 'a wonderful film\n' >"$tmp/one.txt"
runin 0 nm_classify "$tmp/one.txt" "$bin" classify --model "$tmp/nm_auto.lector" --label-only
grep -qxE 'negative|positive' "$tmp/nm_classify.out" && ok || bad "classify prints names: $(cat "$tmp/nm_classify.out")"
# eval maps the test file's integers through the names, or takes them as written
run 0 nm_eval "$bin" eval --model "$tmp/nm_auto.lector" --data "$tmp/named/train.csv" --no-cache --format json
run 0 nm_eval_none "$bin" eval --model "$tmp/nm_none.lector" --data "$tmp/named/train.csv" --no-cache --format json
has nm_eval.out '"labels":\["negative","positive"\]'
has nm_eval_none.out '"labels":\["0","1"\]'
run 1 nm_eval_bad "$bin" eval --model "$tmp/nm_auto.lector" --data "$tmp/named/train.csv" --no-cache \
  --label-names "$tmp/named/other.txt"
has nm_eval_bad.err "train.csv:2: label '1' was not seen in training"
# a named model evaluated with the names turned off: the integers are not its labels
run 1 nm_eval_off "$bin" eval --model "$tmp/nm_auto.lector" --data "$tmp/named/train.csv" --no-cache --label-names none
has nm_eval_off.err "train.csv:2: label '1' was not seen in training"
# bad names files: one that leaves a label unnamed is a usage error (exit 2) naming both
# files; a missing one and one with an empty line are data errors (exit 1); labels.txt
# beside the CSV that does not name every label is ignored (the integers are kept)
printf 'negative\n' >"$tmp/named/short.txt"
run 2 nm_short "$bin" "${tn[@]}" --label-names "$tmp/named/short.txt" -o "$tmp/nm_x.lector"
has nm_short.err "train.csv: label '1' has no name in $tmp/named/short.txt (1 names"
run 1 nm_missing "$bin" "${tn[@]}" --label-names "$tmp/named/nothing.txt" -o "$tmp/nm_x.lector"
has nm_missing.err "nothing.txt: cannot open the label names"
printf 'negative\n\npositive\n' >"$tmp/named/gap.txt"
run 1 nm_gap "$bin" "${tn[@]}" --label-names "$tmp/named/gap.txt" -o "$tmp/nm_x.lector"
has nm_gap.err "gap.txt:2: empty label name"
run 2 nm_empty_opt "$bin" "${tn[@]}" --label-names "" -o "$tmp/nm_x.lector"
[ ! -e "$tmp/nm_x.lector" ] && ok || bad "a refused --label-names wrote a model"
mkdir -p "$tmp/short"
cp "$tmp/named/train.csv" "$tmp/short/train.csv"
printf 'negative\n' >"$tmp/short/labels.txt"
run 0 nm_short_beside "$bin" train --encoder "$enc" --epochs 1 --seed 3 --no-cache --train "$tmp/short/train.csv" \
  -o "$tmp/nm_short.lector"
check "
assert json.loads(meta(a[0])['labels']) == ['0', '1'], meta(a[0])['labels']
" "$tmp/nm_short.lector"
# names with n-grams alone and no encoder: classify prints them too
run 0 nm_words env -u LECTOR_ENCODER "$bin" train --features ngrams --epochs 3 --no-cache --train "$tmp/named/train.csv" \
  -o "$tmp/nm_words.lector"
runin 0 nm_words_classify "$tmp/one.txt" env -u LECTOR_ENCODER "$bin" classify --model "$tmp/nm_words.lector" --label-only
grep -qxE 'negative|positive' "$tmp/nm_words_classify.out" && ok || bad "n-grams model prints names: $(cat "$tmp/nm_words_classify.out")"

echo "cli options: $pass passed, $fail failed"
[ $fail -eq 0 ]
