#!/usr/bin/env bash
# lector train --autotune on a tiny random encoder and the demo corpus: each trial and the
# choice are printed on stderr, the model records the chosen trial's settings (lector info
# shows them), and bad values of --autotune-budget and --autotune-trials are usage errors.
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
[ ! -e "$tmp/x" ] && ok || bad "usage errors wrote a model"
# no validation rows: the library's refusal, with the option to give
expect_rc 2 "$bin" train --encoder "$enc" --train "$demo/train.csv" --valid-fraction 0 -o "$tmp/x" --autotune
grep -q "needs validation rows (a validation file, or a held-out share of the training file) (--autotune)" "$tmp/err" && ok || bad "no validation: $(cat "$tmp/err")"

# a search of 6 trials: each printed, the best one recorded in the model
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/at.lector" --autotune --autotune-trials 6 --seed 3
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
assert abs(rec["valid_macro_f1"] - float(trial.group(2))) < 1e-4, rec
assert "autotune         trial %d of 6: %s" % (k, settings) in info, info
PY
# the options printed for the choice train the same model without the search
flags=$(sed -n 's/^lector: autotune: the same as training with //p' "$tmp/at.err")
# shellcheck disable=SC2086
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/plain.lector" --seed 3 $flags
expect_rc 0 "$bin" eval --model "$tmp/at.lector" --data "$demo/test.csv" --format json
cp "$tmp/out" "$tmp/at.eval"
expect_rc 0 "$bin" eval --model "$tmp/plain.lector" --data "$demo/test.csv" --format json
cmp -s "$tmp/out" "$tmp/at.eval" && ok || bad "the printed options give another model"
# the same search again: the same model file
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/again.lector" --autotune --autotune-trials 6 --seed 3
cmp -s "$tmp/at.lector" "$tmp/again.lector" && ok || bad "the same search gave another model file"

echo "train_autotune: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
