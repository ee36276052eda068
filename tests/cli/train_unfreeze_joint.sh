#!/usr/bin/env bash
# lector train --unfreeze with --features both (the n-gram weights trained with the tuned layer
# and the head) and with --multi-label (a sigmoid per label, thresholds tuned on validation):
# the model stores the tuned layer beside the n-gram columns or the thresholds, eval on the
# validation file gives the report the training run printed and the accuracy of its best
# epoch, and the n-grams are learnt (the training set is fitted far better than without
# them). Ctrl-C during the frozen pass and during an epoch ends with status 130, no model and
# no temporary file.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
need_shared models/mini-mlm-uncased corpora/sst2-sentences/train.csv
encoder=$shared/models/mini-mlm-uncased
corpus=$shared/corpora/sst2-sentences
# best_epoch_accuracy TRAIN_STDERR: the validation accuracy of the best epoch's line
best_epoch_accuracy() {
  local best
  best=$(sed -n 's/.*best epoch \([0-9]*\).*/\1/p' "$1")
  sed -n "s/.*epoch $best\/[0-9]*: .*valid accuracy \([0-9.]*\),.*/\1/p" "$1"
}

# ---- --features both on a few hundred sst2 sentences ---------------------------------------
head -401 "$corpus/train.csv" >"$tmp/train.csv"
head -101 "$corpus/dev.csv" >"$tmp/dev.csv"
train() { # MODEL FEATURES [options]
  local model=$1 features=$2; shift 2
  "$bin" train -e "$encoder" --train "$tmp/train.csv" --valid "$tmp/dev.csv" --unfreeze 1 --epochs 2 \
    --features "$features" --max-len 32 --threads 2 --no-cache --report-format json -o "$model" "$@" </dev/null
}
train "$tmp/both.lector" both >"$tmp/out" 2>"$tmp/both.err" && ok || bad "train --features both: $(cat "$tmp/both.err")"
grep -q "n-grams: [0-9]* features from 400 texts" "$tmp/both.err" && ok || bad "no n-gram line: $(cat "$tmp/both.err")"
"$py" - "$tmp/both.lector" <<'PY' && ok || bad "model tensors (both)"
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); m = h.pop("__metadata__")
assert m["format_version"] == "3" and m["features"] == "both", m
assert json.loads(m["tuned_layers"])["layers"] == [3], m["tuned_layers"]
assert {"head.weight", "head.bias", "head.ngram_weight", "ngram.buckets", "ngram.idf"} <= set(h), sorted(h)
assert h["head.ngram_weight"]["shape"][1] == 2, h["head.ngram_weight"]
assert len([x for x in h if x.startswith("encoder.layer.3.")]) == 16, sorted(h)
PY
"$bin" eval -m "$tmp/both.lector" --data "$tmp/dev.csv" --format json -t 1 >"$tmp/eval.json" 2>"$tmp/err" && ok ||
  bad "eval (both): $(cat "$tmp/err")"
same_report "$tmp/both.err" "$tmp/eval.json" n accuracy macro_f1 log_loss ece confusion && ok ||
  bad "eval differs from train's report (both)"
acc=$(best_epoch_accuracy "$tmp/both.err")
"$py" -c "import json, sys; e = json.load(open('$tmp/eval.json')); assert '$acc' and abs(e['accuracy'] - float('$acc')) < 6e-5, (e['accuracy'], '$acc')" &&
  ok || bad "eval accuracy is not the best epoch's ($acc): $(cat "$tmp/both.err")"
# the n-gram weights learn the training set, which the tuned layer alone does not
train "$tmp/enc.lector" encoder >/dev/null 2>"$tmp/enc.err" && ok || bad "train --features encoder: $(cat "$tmp/enc.err")"
"$bin" eval -m "$tmp/both.lector" --data "$tmp/train.csv" --format json -t 2 >"$tmp/tb.json" 2>"$tmp/err" &&
  "$bin" eval -m "$tmp/enc.lector" --data "$tmp/train.csv" --format json -t 2 >"$tmp/te.json" 2>"$tmp/err" && ok ||
  bad "eval on the training set: $(cat "$tmp/err")"
"$py" - "$tmp/tb.json" "$tmp/te.json" <<'PY' && ok || bad "training-set accuracy with n-grams"
import json, sys
b, e = (json.load(open(p))["accuracy"] for p in sys.argv[1:3])
print("training-set accuracy: both %.4f, encoder %.4f" % (b, e))
assert b >= 0.9 and b >= e + 0.1, (b, e)
PY
# classify gives eval's predictions
"$py" -c "
import csv
for r in list(csv.reader(open('$tmp/dev.csv')))[1:]: print(r[0])" >"$tmp/dev.txt"
"$bin" classify -m "$tmp/both.lector" -t 1 --format jsonl <"$tmp/dev.txt" >"$tmp/cls" 2>"$tmp/err" && ok ||
  bad "classify (both): $(cat "$tmp/err")"
"$py" - "$tmp/dev.csv" "$tmp/cls" "$tmp/eval.json" <<'PY' && ok || bad "classify's labels are not eval's accuracy"
import csv, json, sys
y = [r[1] for r in list(csv.reader(open(sys.argv[1])))[1:]]
got = [json.loads(l)["label"] for l in open(sys.argv[2])]
e = json.load(open(sys.argv[3]))
assert len(got) == len(y) == e["n"]
assert abs(sum(a == b for a, b in zip(got, y)) / len(y) - e["accuracy"]) < 1e-9
PY

# ---- --multi-label on a tiny encoder, with and without n-grams ------------------------------
enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 1 || { echo "cannot make the tiny encoder" >&2; exit 1; }
"$py" - "$tmp/ml.csv" "$tmp/mlv.csv" <<'PY'
import random, sys
r = random.Random(11)
words = {"sport": ["match", "goal", "team"], "money": ["bank", "price", "market"], "tech": ["chip", "code", "robot"]}
for path, n in ((sys.argv[1], 400), (sys.argv[2], 120)):
    with open(path, "w") as f:
        f.write("text,label\n")
        for i in range(n):
            labs = [l for l in words if r.random() < 0.4]
            toks = [r.choice(words[l]) for l in labs for _ in range(2)] + [r.choice(["the", "a", "news", "today"]) for _ in range(3)]
            r.shuffle(toks)
            f.write("%s,%s\n" % (" ".join(toks), "|".join(labs)))
PY
for features in encoder both; do
  m=$tmp/ml-$features.lector
  "$bin" train -e "$enc" --train "$tmp/ml.csv" --valid "$tmp/mlv.csv" --multi-label --unfreeze 1 --epochs 4 \
    --features "$features" --no-cache --report-format json -o "$m" >/dev/null 2>"$tmp/ml.err" </dev/null && ok ||
    bad "train --multi-label --features $features: $(cat "$tmp/ml.err")"
  "$py" - "$m" "$features" <<'PY' && ok || bad "multi-label model ($features)"
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); m = h.pop("__metadata__")
assert m["multi_label"] == "1" and m["format_version"] == "3" and m["features"] == sys.argv[2], m
t = json.loads(m["thresholds"]); assert len(t) == 3 and all(0 < x < 1 for x in t), t
assert json.loads(m["tuned_layers"])["layers"] == [1], m["tuned_layers"]
assert ("head.ngram_weight" in h) == (sys.argv[2] == "both"), sorted(h)
PY
  "$bin" eval -m "$m" --data "$tmp/mlv.csv" --format json >"$tmp/ml.json" 2>"$tmp/err" && ok ||
    bad "eval multi-label ($features): $(cat "$tmp/err")"
  same_report "$tmp/ml.err" "$tmp/ml.json" n accuracy macro_f1 micro_f1 log_loss && ok ||
    bad "eval differs from train's multi-label report ($features)"
done
# with the n-grams the labels' cue words are learnt
"$py" -c "
import json; r = json.load(open('$tmp/ml.json'))
assert 'confusion' not in r and r['macro_f1'] > 0.9 and set(r['per_class']) == {'money', 'sport', 'tech'}, r" &&
  ok || bad "multi-label with n-grams: $(cat "$tmp/ml.json")"
printf 'goal team bank price\n' | "$bin" classify -m "$tmp/ml-both.lector" --format jsonl >"$tmp/out" 2>"$tmp/err"
"$py" -c "import json; o = json.loads(open('$tmp/out').read()); assert sorted(o['labels']) == ['money', 'sport'], o" &&
  ok || bad "classify multi-label: $(cat "$tmp/out") $(cat "$tmp/err")"

# ---- Ctrl-C --------------------------------------------------------------------------------
# A run on 2,000 sentences is stopped once its log shows it is in the frozen pass (the
# held-out line comes just before it), then once it shows the first epoch has begun (the
# frozen pass's line): status 130, the old model intact, no temporary model file, and
# nothing left in TMPDIR (where the frozen states would spill).
head -2001 "$corpus/train.csv" >"$tmp/big.csv"
mkdir -p "$tmp/spill" "$tmp/out-dir"
printf 'old model\n' >"$tmp/out-dir/m.lector"
# until_line PID PATTERN: wait (up to 300 s) for PATTERN in $tmp/int.err; fails if the
# process ended first
until_line() {
  for _ in $(seq 3000); do
    grep -q -- "$2" "$tmp/int.err" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
for stage in frozen epoch; do
  rm -f "$tmp/int.err"
  pattern="holding out"
  [ $stage = epoch ] && pattern="frozen layers:"
  TMPDIR=$tmp/spill "$bin" train -e "$encoder" --train "$tmp/big.csv" --unfreeze 1 --max-len 64 --threads 2 \
    --no-cache -o "$tmp/out-dir/m.lector" >/dev/null 2>"$tmp/int.err" </dev/null &
  pid=$!
  until_line $pid "$pattern" || bad "train ended before '$pattern' ($stage): $(cat "$tmp/int.err")"
  kill -INT $pid
  wait $pid
  rc=$?
  [ $rc -eq 130 ] && ok || bad "interrupted in the $stage stage: exit $rc (want 130): $(cat "$tmp/int.err")"
  grep -q "interrupted: .*m.lector was not written" "$tmp/int.err" && ok || bad "no interruption message: $(cat "$tmp/int.err")"
  if [ $stage = frozen ]; then
    grep -q "frozen layers:" "$tmp/int.err" && bad "the frozen pass finished before Ctrl-C stopped it" || ok
  else
    grep -q "lector: epoch 1/" "$tmp/int.err" && bad "epoch 1 finished before Ctrl-C stopped it" || ok
  fi
  [ "$(cat "$tmp/out-dir/m.lector")" = "old model" ] && ok || bad "the old model changed ($stage)"
  [ "$(ls "$tmp/out-dir")" = m.lector ] && ok || bad "files left beside the model ($stage): $(ls "$tmp/out-dir")"
  [ -z "$(ls -A "$tmp/spill")" ] && ok || bad "files left in TMPDIR ($stage): $(ls -A "$tmp/spill")"
done

echo "cli train_unfreeze_joint: $pass passed, $fail failed"
[ $fail -eq 0 ]
