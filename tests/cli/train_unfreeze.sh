#!/usr/bin/env bash
# lector train --unfreeze: the top layers of the shared mini encoder trained with the head on a
# few sst2 sentences; the model stores those layers (and says so in lector info); eval,
# classify and embed --model run the encoder with them in place, eval giving the figures the
# training run reported; a different base encoder is refused; the same seed gives the same
# bytes with 1 and 2 threads; the frozen layers' states come from the feature cache on a second
# run (the same bytes, a damaged record recomputed); bf16 states; bad values of --unfreeze and
# a truncated model are refused.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
need_shared models/mini-mlm-uncased corpora/sst2-sentences/train.csv
encoder=$shared/models/mini-mlm-uncased
corpus=$shared/corpora/sst2-sentences

head -81 "$corpus/train.csv" >"$tmp/train.csv"
head -41 "$corpus/dev.csv" >"$tmp/dev.csv"
train() { # train THREADS MODEL [options]
  local threads=$1 model=$2; shift 2
  "$bin" train -e "$encoder" --train "$tmp/train.csv" --valid "$tmp/dev.csv" --unfreeze 1 --epochs 1 \
    --max-len 32 --threads "$threads" --report-format json -o "$model" "$@" </dev/null
}
m1=$tmp/m1.lector
train 1 "$m1" >"$tmp/out" 2>"$tmp/train.err" && ok || bad "train --unfreeze 1: $(cat "$tmp/train.err")"
grep -q "frozen layers: their output for 80 texts computed once" "$tmp/train.err" && ok ||
  bad "no frozen-pass line: $(cat "$tmp/train.err")"

# the model file: format 3, the top layer's 16 tensors (BERT names) and the head, no others
"$py" - "$m1" <<'PY' && ok || bad "model tensors"
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); m = h.pop("__metadata__")
assert m["format_version"] == "3", m["format_version"]
assert json.loads(m["tuned_layers"]) == {"layers": [3], "pooler": False, "of": 4}, m["tuned_layers"]
names = sorted(h)
layer = [x for x in names if x.startswith("encoder.layer.3.")]
assert len(layer) == 16 and set(names) - set(layer) == {"head.weight", "head.bias"}, names
assert h["encoder.layer.3.intermediate.dense.weight"]["shape"] == [1024, 256], h
assert h["encoder.layer.3.attention.self.query.weight"]["dtype"] == "F32"
PY
expect_rc 0 "$bin" info "$m1"
grep -q "^tuned layers     1 of 4: 3 " "$tmp/out" && ok || bad "info: $(cat "$tmp/out")"
grep -q "^file size        $(stat -c %s "$m1") bytes" "$tmp/out" && ok || bad "info size: $(cat "$tmp/out")"

# eval on the validation file gives the report the training run printed (same probabilities:
# accuracy, log loss and calibration error alike)
expect_rc 0 "$bin" eval -m "$m1" --data "$tmp/dev.csv" --format json -t 1
same_report "$tmp/train.err" "$tmp/out" n accuracy macro_f1 log_loss ece confusion && ok ||
  bad "eval differs from train's report"
# classify prints the probabilities eval scored: its top probabilities' mean -ln p on the
# true labels is the log loss eval reported, to the 6 printed decimals
"$py" -c "
import csv, sys
for r in list(csv.reader(open('$tmp/dev.csv')))[1:]: print(r[0])" >"$tmp/dev.txt"
"$bin" classify -m "$m1" -t 1 --all-scores --format jsonl <"$tmp/dev.txt" >"$tmp/cls" 2>"$tmp/err" && ok ||
  bad "classify: $(cat "$tmp/err")"
"$py" - "$tmp/dev.csv" "$tmp/cls" "$tmp/out" <<'PY' && ok || bad "classify probabilities"
import csv, json, math, sys
y = [r[1] for r in list(csv.reader(open(sys.argv[1])))[1:]]
rows = [json.loads(l) for l in open(sys.argv[2])]
e = json.load(open(sys.argv[3]))
assert len(rows) == len(y) == e["n"], (len(rows), len(y))
def prob(r, label):
    s = r.get("scores") or r.get("all_scores") or r
    if isinstance(s, dict): return s[label]
    return [x for x in s if x["label"] == label][0]["probability"]
ll = sum(-math.log(prob(r, t)) for r, t in zip(rows, y)) / len(y)
assert abs(ll - e["log_loss"]) < 1e-4, (ll, e["log_loss"])
PY
# embed --model: the tuned layer changes the vectors of the base encoder
printf 'a gripping , funny film .\n' >"$tmp/one.txt"
"$bin" embed --model "$m1" -t 1 <"$tmp/one.txt" >"$tmp/e1" 2>"$tmp/err" && ok || bad "embed --model: $(cat "$tmp/err")"
"$bin" embed -e "$encoder" -t 1 --max-len 32 --truncate <"$tmp/one.txt" >"$tmp/e0" 2>"$tmp/err" && ok || bad "embed"
"$py" - "$tmp/e0" "$tmp/e1" <<'PY' && ok || bad "embed --model gives the base encoder's vector"
import json, sys
a = json.load(open(sys.argv[1]))["embedding"]; b = json.load(open(sys.argv[2]))["embedding"]
assert len(a) == len(b) == 256 and max(abs(x - y) for x, y in zip(a, b)) > 1e-3
PY

# a different base encoder (same shapes, another checksum) is refused by name
other=$tmp/other
mkdir -p "$other"
for f in "$encoder"/*; do [ "$(basename "$f")" = config.json ] || ln -s "$f" "$other/"; done
{ cat "$encoder/config.json"; echo; } >"$other/config.json"
expect_rc 1 "$bin" eval -m "$m1" --data "$tmp/dev.csv" -t 1 -e "$other"
expect_err "checksum"

# determinism: the same seed, 1 or 2 threads, the same bytes (the frozen pass run again)
train 2 "$tmp/m2.lector" --no-cache >/dev/null 2>"$tmp/err" && ok || bad "train --threads 2: $(cat "$tmp/err")"
cmp -s "$m1" "$tmp/m2.lector" && ok || bad "models differ between 1 and 2 threads"
grep -q "feature cache" "$tmp/err" && bad "--no-cache read the cache: $(cat "$tmp/err")" || ok

# the frozen layers' states through the feature cache: the first run stored them; another run
# reads all 120 texts' (80 training, 40 validation) and writes the same bytes; a damaged
# record is detected, its text's states computed again, and the bytes are the same again
train 1 "$tmp/m3.lector" >/dev/null 2>"$tmp/err" && ok || bad "train from the cache: $(cat "$tmp/err")"
grep -q "feature cache: 120 of 120 texts of .*\.lbs cached" "$tmp/err" && ok || bad "no cache hits: $(cat "$tmp/err")"
cmp -s "$m1" "$tmp/m3.lector" && ok || bad "the model trained from cached states differs"
lbs=$(find "$XDG_CACHE_HOME" -name '*.lbs')
[ "$(printf '%s\n' "$lbs" | grep -c .)" -eq 1 ] && ok || bad "not one .lbs file: $lbs"
"$py" - "$lbs" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x10
open(p, "wb").write(bytes(b))
PY
train 1 "$tmp/m4.lector" >/dev/null 2>"$tmp/err" && ok || bad "train from a damaged cache: $(cat "$tmp/err")"
grep -q "failed their checksum" "$tmp/err" && ok || bad "damage not reported: $(cat "$tmp/err")"
grep -q "feature cache: 119 of 120 texts" "$tmp/err" && ok || bad "not 119 hits: $(cat "$tmp/err")"
cmp -s "$m1" "$tmp/m4.lector" && ok || bad "the model differs after a damaged cache record"
# bf16 states: another cache file, a model of its own
train 1 "$tmp/m5.lector" --boundary-precision bf16 >/dev/null 2>"$tmp/err" && ok || bad "bf16 states: $(cat "$tmp/err")"
[ "$(find "$XDG_CACHE_HOME" -name '*.lbs' | grep -c .)" -eq 2 ] && ok || bad "no second .lbs file"
cmp -s "$m1" "$tmp/m5.lector" && bad "bf16 states gave the fp32 model" || ok
expect_rc 2 "$bin" train -e "$encoder" --train "$tmp/train.csv" -o "$tmp/x.lector" -t 1 --unfreeze 1 --boundary-precision int8
expect_err "boundary-precision"

# the frozen head's loss options and early stopping apply to the tuned layers too: balanced
# class weights (32 of the 80 sentences are negative) and label smoothing each give another
# model, --class-weight none the same bytes as no option
train 1 "$tmp/cw.lector" --class-weight balanced >/dev/null 2>"$tmp/err" && ok || bad "--class-weight balanced: $(cat "$tmp/err")"
cmp -s "$m1" "$tmp/cw.lector" && bad "--class-weight balanced gave the unweighted model" || ok
train 1 "$tmp/cw0.lector" --class-weight none >/dev/null 2>"$tmp/err" && ok || bad "--class-weight none: $(cat "$tmp/err")"
cmp -s "$m1" "$tmp/cw0.lector" && ok || bad "--class-weight none changed the model"
train 1 "$tmp/ls.lector" --label-smoothing 0.2 >/dev/null 2>"$tmp/err" && ok || bad "--label-smoothing: $(cat "$tmp/err")"
cmp -s "$m1" "$tmp/ls.lector" && bad "--label-smoothing 0.2 gave the unsmoothed model" || ok
# --patience 1 over 6 epochs: training stops one epoch after the best one (or runs them all
# when the last is the best), and the report says so
train 1 "$tmp/pat.lector" --patience 1 --epochs 6 --min-delta 0 >/dev/null 2>"$tmp/pat.err" && ok ||
  bad "--patience 1: $(cat "$tmp/pat.err")"
run=$(grep -c "epoch [0-9]*/6:" "$tmp/pat.err")
best=$(sed -n 's/.*best epoch \([0-9]*\).*/\1/p' "$tmp/pat.err" | tail -1)
{ [ -n "$best" ] && { [ "$run" -eq $((best + 1)) ] || { [ "$run" -eq 6 ] && [ "$best" -eq 6 ]; }; }; } && ok ||
  bad "--patience 1: $run epochs run, best epoch '$best': $(cat "$tmp/pat.err")"
expect_rc 0 "$bin" info "$tmp/pat.lector"
# --hidden: an MLP head trained with the tuned layer; the model holds both, and eval on the
# validation file gives the report the training run printed
train 1 "$tmp/mlp.lector" --hidden 16 >/dev/null 2>"$tmp/mlp.err" && ok || bad "--hidden 16: $(cat "$tmp/mlp.err")"
"$py" - "$tmp/mlp.lector" <<'PY' && ok || bad "MLP model tensors"
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); h.pop("__metadata__")
assert h["head.hidden.weight"]["shape"] == [16, 256] and h["head.weight"]["shape"] == [2, 16], h
assert len([x for x in h if x.startswith("encoder.layer.3.")]) == 16, sorted(h)
PY
expect_rc 0 "$bin" eval -m "$tmp/mlp.lector" --data "$tmp/dev.csv" --format json -t 1
same_report "$tmp/mlp.err" "$tmp/out" n accuracy macro_f1 log_loss ece confusion && ok ||
  bad "eval of the MLP model differs from train's report"

# bad values
for o in "--label-smoothing 1" "--label-smoothing -0.1" "--patience -1" "--class-weight auto"; do
  # shellcheck disable=SC2086
  expect_rc 2 "$bin" train -e "$encoder" --train "$tmp/train.csv" -o "$tmp/x.lector" -t 1 --unfreeze 1 $o
  expect_err "${o%% *}"
done
for v in -1 abc 1.5 ""; do
  expect_rc 2 "$bin" train -e "$encoder" --train "$tmp/train.csv" -o "$tmp/x.lector" -t 1 --unfreeze "$v"
  expect_err "unfreeze"
done
expect_rc 2 "$bin" train -e "$encoder" --train "$tmp/train.csv" -o "$tmp/x.lector" -t 1 --unfreeze 99
expect_err "has 4"
expect_rc 2 "$bin" train -e "$encoder" --train "$tmp/train.csv" -o "$tmp/x.lector" -t 1 --unfreeze 1 --features ngrams
expect_err "no encoder layers to tune"
expect_rc 2 "$bin" train -e "$encoder" --train "$tmp/train.csv" -o "$tmp/x.lector" -t 1 --unfreeze 1 --autotune
expect_err "autotune"
expect_rc 2 "$bin" train -e "$encoder" --train "$tmp/train.csv" -o "$tmp/x.lector" -t 1 --unfreeze 1 --lr-encoder 0
[ ! -e "$tmp/x.lector" ] && ok || bad "a model was written by a refused run"
# a truncated model file
head -c $(( $(stat -c %s "$m1") - 4096 )) "$m1" >"$tmp/cut.lector"
expect_rc 1 "$bin" eval -m "$tmp/cut.lector" --data "$tmp/dev.csv" -t 1
grep -q "cut.lector" "$tmp/err" && ok || bad "truncated model: $(cat "$tmp/err")"

echo "cli train_unfreeze: $pass passed, $fail failed"
[ $fail -eq 0 ]
