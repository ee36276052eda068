#!/usr/bin/env bash
# lector train's options on a tiny random encoder and the demo corpus: feature kinds, the
# stratified validation split, schedules and the other optimiser options, reproducibility
# (same seed -> same model file, whatever the thread count), and the shared eval report.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 1 || { echo "cannot make the tiny encoder" >&2; exit 1; }
demo=$src/corpora/demo-sentiment
t=(train --encoder "$enc" --train "$demo/train.csv" --epochs 3)

# usage errors
expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --features words
expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --schedule step
expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --valid-fraction 1.5
expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --class-weight auto
expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --char-ngrams 5-2
[ ! -e "$tmp/x" ] && ok || bad "usage errors wrote a model"

# every feature kind trains, holds out a stratified 10% and prints the report on stderr
for f in encoder ngrams both; do
  expect_rc 0 "$bin" "${t[@]}" -o "$tmp/$f.lector" --features $f
  grep -q "holding out" "$tmp/err" && ok || bad "$f: no validation split: $(cat "$tmp/err")"
  grep -q "^macro-F1" "$tmp/err" && grep -q "^ECE" "$tmp/err" && ok || bad "$f: no report on stderr"
  [ ! -s "$tmp/out" ] && ok || bad "$f: train wrote to stdout"
  expect_rc 0 "$bin" eval --model "$tmp/$f.lector" --data "$demo/test.csv" --format json
  "$py" -c "
import json; r=json.load(open('$tmp/out'))
assert abs(r['micro_f1'] - r['accuracy']) < 1e-9 and 0 <= r['ece'] <= 1 and r['log_loss'] > 0, r" && ok ||
    bad "$f: eval json: $(cat "$tmp/out")"
  printf 'a wonderful film\nterrible book\n' | "$bin" classify --model "$tmp/$f.lector" --all-scores >"$tmp/out" 2>"$tmp/err" &&
    [ "$(wc -l <"$tmp/out")" -eq 2 ] && ok || bad "$f: classify: $(cat "$tmp/err")"
done
# an encoder-only model stays format version 1; n-grams need version 2
"$py" - "$tmp/encoder.lector" "$tmp/both.lector" <<'PY' && ok || bad "format versions"
import json, struct, sys
def meta(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n])["__metadata__"]
a, b = meta(sys.argv[1]), meta(sys.argv[2])
assert a["format_version"] == "1" and a["features"] == "encoder" and float(a["temperature"]) > 0
assert b["format_version"] == "2" and b["features"] == "both" and "ngram_params" in b
PY

# all the optimiser options at once
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/opt.lector" --valid "$demo/test.csv" --schedule cosine --warmup 0.1 \
  --clip-norm 0.5 --class-weight balanced --label-smoothing 0.1 --patience 1 --char-ngrams 2-4 --report-format json
tail -n 1 "$tmp/err" | "$py" -c "import json,sys; json.loads(sys.stdin.read())" && ok || bad "--report-format json"

# boundary n-grams: stored in the model and used again by classify and eval
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/bnd.lector" --ngram-boundaries
"$py" - "$tmp/bnd.lector" "$tmp/opt.lector" <<'PY' && ok || bad "ngram boundaries not stored"
import json, struct, sys
def params(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    return json.loads(json.loads(b[8:8 + n])["__metadata__"]["ngram_params"])
assert params(sys.argv[1]).get("boundaries") is True
assert "boundaries" not in params(sys.argv[2])
PY
expect_rc 0 "$bin" eval --model "$tmp/bnd.lector" --data "$demo/test.csv" --format json

# n-gram column weights: idf-nb by default, each choice stored in the model and used by eval
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/nb.lector" --ngram-weighting nb
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/idf.lector" --ngram-weighting idf
"$py" - "$tmp/bnd.lector" "$tmp/nb.lector" "$tmp/idf.lector" <<'PY' && ok || bad "ngram weighting not stored"
import json, struct, sys
def params(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    return json.loads(json.loads(b[8:8 + n])["__metadata__"]["ngram_params"])
assert params(sys.argv[1]).get("weighting") == "idf-nb"
assert params(sys.argv[2]).get("weighting") == "nb"
assert "weighting" not in params(sys.argv[3])
PY
expect_rc 0 "$bin" eval --model "$tmp/nb.lector" --data "$demo/test.csv" --format json
expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x.lector" --ngram-weighting tfidf
grep -q "ngram-weighting must be idf, nb or idf-nb" "$tmp/err" && ok || bad "--ngram-weighting error"

# an MLP head (one hidden layer) beside the n-grams; it needs encoder features
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/mlp.lector" --hidden 8 --dropout 0.2
expect_rc 0 "$bin" eval --model "$tmp/mlp.lector" --data "$demo/test.csv" --format json
"$py" -c "import json; r=json.load(open('$tmp/out')); assert r['n'] == 100" && ok || bad "mlp eval: $(cat "$tmp/out")"
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/mlp2.lector" --hidden 8 --dropout 0.2
cmp -s "$tmp/mlp.lector" "$tmp/mlp2.lector" && ok || bad "MLP with the same seed gave another model"
expect_rc 2 "$bin" "${t[@]}" -o "$tmp/x" --hidden 8 --features ngrams

# same seed -> bit-identical model file, whatever the thread count; another seed differs
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/r1.lector" -t 1 --seed 5
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/r2.lector" -t 2 --seed 5
cmp -s "$tmp/r1.lector" "$tmp/r2.lector" && ok || bad "same seed, different model files"
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/r3.lector" --seed 6
cmp -s "$tmp/r1.lector" "$tmp/r3.lector" && bad "another seed gave the same model" || ok

# --valid-fraction 0: no validation, last epoch, no report
expect_rc 0 "$bin" "${t[@]}" -o "$tmp/nv.lector" --valid-fraction 0
grep -q "holding out" "$tmp/err" && bad "--valid-fraction 0 still split" || ok

echo "cli train_options: $pass passed, $fail failed"
[ $fail -eq 0 ]
