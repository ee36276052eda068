#!/usr/bin/env bash
# lector train --autotune on a tiny random encoder and the demo corpus: each trial and the
# choice are printed on stderr, the model records the chosen trial's settings (lector info
# shows them), the same search gives the same model file at any thread count (scored on the
# validation rows, or by cross-validation), and bad values of --autotune-budget,
# --autotune-trials and --autotune-folds are usage errors.
# No timings are asserted: the searches here end at their trial limit.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 1 || { echo "cannot make the tiny encoder" >&2; exit 1; }
demo=$src/corpora/demo-sentiment
t=(train --encoder "$enc" --train "$demo/train.csv" --valid "$demo/test.csv" --epochs 3)

# usage errors, before anything is read
for b in 0 -1 abc 1e9 ""; do
  expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --autotune --autotune-budget "$b"
  grep -q -- "--autotune-budget" "$tmp/err" && ok || bad "budget '$b': $(cat "$tmp/err")"
done
expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --autotune --autotune-budget
expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --autotune --autotune-trials 0
expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --autotune-budget 60
grep -q -- "--autotune-budget needs --autotune" "$tmp/err" && ok || bad "budget without --autotune: $(cat "$tmp/err")"
for k in 0 21 -2 abc 2.5 ""; do
  expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --autotune --autotune-folds "$k"
  grep -q -- "--autotune-folds" "$tmp/err" && ok || bad "folds '$k': $(cat "$tmp/err")"
done
expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --autotune-folds 3
grep -q -- "--autotune-folds needs --autotune" "$tmp/err" && ok || bad "folds without --autotune: $(cat "$tmp/err")"
[ ! -e "$tmp/x" ] && ok || bad "usage errors wrote a model"
# no validation rows: the library's refusal, with the option to give
expect_rc 2 "$bin" train --encoder "$enc" --train "$demo/train.csv" --valid-fraction 0 -o "$tmp/x" --autotune
grep -q "needs validation rows (a validation file, or a held-out share of the training file) (--autotune)" "$tmp/err" && ok || bad "no validation: $(cat "$tmp/err")"

# a search of 6 trials scored on the 100 validation rows: each printed, the best one recorded
# in the model
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/at.lector" --autotune --autotune-trials 6 --seed 3 --autotune-folds 1
[ "$(grep -c '^lector: trial [0-9]*: features=' "$tmp/err")" -eq 6 ] && ok || bad "trials: $(cat "$tmp/err")"
grep -q "^lector: autotune: 6 trials in .* (trial limit); chosen: trial" "$tmp/err" && ok || bad "no choice printed"
! grep -q "^lector: epoch " "$tmp/err" && ok || bad "a trial's epochs were printed"
grep -q "^macro-F1" "$tmp/err" && ok || bad "no validation report"
cp "$tmp/err" "$tmp/at.err"
expect_rc 0 "$bin" info "$tmp/at.lector"
cp "$tmp/out" "$tmp/at.info"
expect_rc 0 "$bin" info "$tmp/at.lector" --format json
"$py" - "$tmp/at.err" "$tmp/at.info" "$tmp/out" <<'PY' && ok || bad "recorded settings differ from the printed best trial"
import json, re, sys
err, info, js = (open(p).read() for p in sys.argv[1:])
chosen = re.search(r"chosen: trial (\d+), valid macro-F1 ([0-9.]+): (.*)", err)
k, settings = int(chosen.group(1)), chosen.group(3)
trial = re.search(r"^lector: trial %d: (.*): valid macro-F1 ([0-9.]+).* \(best\)$" % k, err, re.M)
assert trial and trial.group(1) == settings, (trial, settings)
# the last trial marked best is the chosen one
best = [int(m) for m in re.findall(r"^lector: trial (\d+): .*\(best\)$", err, re.M)]
assert best[-1] == k, best
rec = json.loads(js)["autotune"]
assert rec["settings"] == settings and rec["trial"] == k and rec["trials"] == 6, rec
assert "folds" not in rec, rec
assert abs(rec["valid_macro_f1"] - float(trial.group(2))) < 1e-4, rec
assert "autotune         trial %d of 6: %s" % (k, settings) in info, info
PY
# the options printed for the choice (in stderr file $2) train the same model ($1) without
# the search
same_as_printed() {
  local flags
  flags=$(sed -n 's/^lector: autotune: the same as training with //p' "$2")
  # shellcheck disable=SC2086
  expect_rc 0 "$bin" "${t[@]}" -o "$tmp/plain.lector" --seed 3 $flags
  expect_rc 0 "$bin" eval --model "$1" --data "$demo/test.csv" --format json
  cp "$tmp/out" "$tmp/searched.eval"
  expect_rc 0 "$bin" eval --model "$tmp/plain.lector" --data "$demo/test.csv" --format json
  cmp -s "$tmp/out" "$tmp/searched.eval" && ok || bad "the options printed for $1 give another model"
}
same_as_printed "$tmp/at.lector" "$tmp/at.err"
# the same search again, on one thread: the same model file
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/again.lector" --autotune --autotune-trials 6 --seed 3 --autotune-folds 1 \
  --threads 1
cmp -s "$tmp/at.lector" "$tmp/again.lector" && ok || bad "the same search gave another model file"

# fewer than 500 validation rows: by default each trial is scored by 5-fold cross-validation
# over the 400 training and validation rows; the choice is then trained on the training rows
# alone, as its printed options train it, and recorded with its folds
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/cv.lector" --autotune --autotune-trials 4 --seed 3 --threads 2
grep -q "^lector: autotune: 4 trials in .* (trial limit, scored by 5-fold cross-validation over 400 rows); chosen: trial" \
  "$tmp/err" && ok || bad "cross-validation not printed: $(cat "$tmp/err")"
cp "$tmp/err" "$tmp/cv.err"
expect_rc 0 "$bin" info "$tmp/cv.lector" --format json
"$py" -c 'import json,sys; r=json.load(sys.stdin)["autotune"]; assert r["folds"] == 5 and r["trials"] == 4, r' \
  <"$tmp/out" && ok || bad "folds not recorded: $(cat "$tmp/out")"
same_as_printed "$tmp/cv.lector" "$tmp/cv.err"
# the same cross-validated search on one thread, and with the folds given: the same file
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/cv1.lector" --autotune --autotune-trials 4 --seed 3 --threads 1
cmp -s "$tmp/cv.lector" "$tmp/cv1.lector" && ok || bad "cross-validation gave another model on one thread"
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/cv5.lector" --autotune --autotune-trials 4 --seed 3 --autotune-folds 5
cmp -s "$tmp/cv.lector" "$tmp/cv5.lector" && ok || bad "--autotune-folds 5 differs from the automatic 5"
# another fold count is another search
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/cv3.lector" --autotune --autotune-trials 4 --seed 3 --autotune-folds 3
grep -q "scored by 3-fold cross-validation over 400 rows" "$tmp/err" && ok || bad "3 folds: $(cat "$tmp/err")"

echo "train_autotune: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
