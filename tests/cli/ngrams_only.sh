#!/usr/bin/env bash
# Word n-grams alone need no encoder: `lector train --features ngrams` with no --encoder and
# no $LECTOR_ENCODER writes a model that records none, and classify, eval and info on it run
# without one (and do not ask for one). A model that needs an encoder still says so, naming
# the model and the way out; encoder features without an encoder are a usage error.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
unset LECTOR_ENCODER
demo=$src/corpora/demo-sentiment
model=$tmp/words.lector

# train: no encoder anywhere
"$bin" train --features ngrams --train "$demo/train.csv" --valid "$demo/test.csv" --epochs 5 \
  -o "$model" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ -s "$model" ] && ok || bad "train --features ngrams without an encoder: rc $rc: $(cat "$tmp/err")"
grep -qi "encoder" "$tmp/err" && bad "train without an encoder mentions one: $(cat "$tmp/err")" || ok
# The model records no encoder (read here with Python, not with lector).
"$py" - "$model" <<'PY' && ok || bad "the model's metadata"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
meta = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])["__metadata__"]
assert meta["features"] == "ngrams", meta["features"]
assert meta["encoder_sha256"] == "none" and meta["tokenizer_sha256"] == "none", meta
assert meta["encoder_dir"] == "" and "encoder_dir_given" not in meta, meta
assert json.loads(meta["labels"]) == ["negative", "positive"], meta["labels"]
PY

# classify: one line per input line; the invalid UTF-8 line is named and left empty
printf 'a wonderful film, I loved it\n\xff\xfe broken\nterrible and boring\n' |
  "$bin" classify --model "$model" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && ok || bad "classify with a bad line: rc $rc (want 1): $(cat "$tmp/err")"
[ "$(sed -n 1p "$tmp/out" | cut -f1)" = positive ] && [ -z "$(sed -n 2p "$tmp/out")" ] &&
  [ "$(sed -n 3p "$tmp/out" | cut -f1)" = negative ] && [ "$(wc -l <"$tmp/out")" -eq 3 ] && ok ||
  bad "classify output: $(cat "$tmp/out")"
grep -q "stdin:2: .*expected UTF-8, found byte 0xFF at byte offset 0" "$tmp/err" && ok ||
  bad "invalid UTF-8 message: $(cat "$tmp/err")"
grep -qi "encoder" "$tmp/err" && bad "classify asks for an encoder: $(cat "$tmp/err")" || ok
printf 'a wonderful film, I loved it\n' >"$tmp/a.txt"
"$bin" classify --model "$model" "$tmp/a.txt" >"$tmp/out" 2>"$tmp/err" && ok || bad "classify a file: $(cat "$tmp/err")"
[ "$(cut -f1,2 "$tmp/out")" = "$tmp/a.txt	positive" ] && ok || bad "classify a file: $(cat "$tmp/out")"
# An --encoder given to such a model is not needed, not even opened.
printf 'a wonderful film\n' | "$bin" classify --model "$model" --encoder "$tmp/no-such-encoder" --label-only \
  >"$tmp/out" 2>"$tmp/err" && [ "$(cat "$tmp/out")" = positive ] && ok || bad "--encoder given: $(cat "$tmp/err")"

# eval: the demo test set, with the figures a 5-epoch word model reaches on it
"$bin" eval --model "$model" --data "$demo/test.csv" --format json >"$tmp/out" 2>"$tmp/err" && ok ||
  bad "eval: $(cat "$tmp/err")"
"$py" -c "
import json, sys
r = json.load(open(sys.argv[1]))
assert r['n'] == 100 and r['accuracy'] >= 0.9, r" "$tmp/out" && ok || bad "eval report: $(head -c 300 "$tmp/out")"

# info: says the model has no encoder and needs none
"$bin" info "$model" >"$tmp/out" 2>"$tmp/err" && ok || bad "info: $(cat "$tmp/err")"
grep -q "^encoder *none: this model needs no encoder" "$tmp/out" && grep -q "^features *word n-grams alone" "$tmp/out" &&
  grep -q "^labels *2: negative positive" "$tmp/out" && ok || bad "info text: $(cat "$tmp/out")"
"$bin" info --format json "$model" >"$tmp/out" 2>"$tmp/err" &&
  "$py" -c "
import json, sys
o = json.load(open(sys.argv[1]))
assert o['encoder'] is None and o['labels'] == ['negative', 'positive'], o" "$tmp/out" && ok ||
  bad "info json: $(cat "$tmp/out") $(cat "$tmp/err")"

# Damaged no-encoder models: refused by name with exit 1.
bad_model() {  # bad_model OUT KEY VALUE: the model with one metadata value changed
  "$py" - "$model" "$@" <<'PY'
import json, struct, sys
src, out, key, val = sys.argv[1:5]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
h["__metadata__"][key] = val
j = json.dumps(h).encode()
j += b" " * (-len(j) % 8)
open(out, "wb").write(struct.pack("<Q", len(j)) + j + b[8 + n:])
PY
}
bad_model "$tmp/badtok.lector" tokenizer_sha256 0123abcd
printf 'good\n' | "$bin" classify --model "$tmp/badtok.lector" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "badtok.lector: a model without an encoder names a tokenizer" "$tmp/err" && ok ||
  bad "no encoder but a tokenizer: rc $rc: $(cat "$tmp/err")"
bad_model "$tmp/badfeat.lector" features both
printf 'good\n' | "$bin" classify --model "$tmp/badfeat.lector" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "badfeat.lector" "$tmp/err" && ok || bad "encoder features, encoder none: rc $rc: $(cat "$tmp/err")"
bad_model "$tmp/badlen.lector" max_len -3
printf 'good\n' | "$bin" classify --model "$tmp/badlen.lector" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "badlen.lector: bad max_len '-3'" "$tmp/err" && ok || bad "max_len -3: rc $rc: $(cat "$tmp/err")"

# Encoder features without an encoder: a usage error that names the way out.
"$bin" train --train "$demo/train.csv" -o "$tmp/x.lector" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q -- "--encoder DIR or set LECTOR_ENCODER" "$tmp/err" && grep -q -- "--features ngrams" "$tmp/err" &&
  ok || bad "train without an encoder: rc $rc: $(cat "$tmp/err")"
for f in encoder both; do
  "$bin" train --features $f --train "$demo/train.csv" -o "$tmp/x.lector" >/dev/null 2>&1
  rc=$?
  [ $rc -eq 2 ] && ok || bad "--features $f without an encoder: rc $rc (want 2)"
done
[ ! -e "$tmp/x.lector" ] && ok || bad "a refused train wrote a model"

# A model that needs an encoder still says so when it is not found: the model, the paths
# tried and the option named, exit 1.
mkdir -p "$tmp/enc" && "$mk" "$tmp/enc" 1 >/dev/null || exit 1
"$bin" train --quiet --encoder "$tmp/enc" --features both --train "$demo/train.csv" --epochs 1 \
  -o "$tmp/both.lector" 2>"$tmp/err" || bad "train with an encoder: $(cat "$tmp/err")"
mv "$tmp/enc" "$tmp/moved"
printf 'a wonderful film\n' | "$bin" classify --model "$tmp/both.lector" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && [ ! -s "$tmp/out" ] && grep -q "$tmp/both.lector" "$tmp/err" && grep -q "$tmp/enc" "$tmp/err" &&
  grep -q -- "--encoder" "$tmp/err" && ok || bad "missing encoder: rc $rc: $(cat "$tmp/err")"
"$bin" eval --model "$tmp/both.lector" --data "$demo/test.csv" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q -- "--encoder" "$tmp/err" && ok || bad "eval, missing encoder: rc $rc: $(cat "$tmp/err")"

echo "cli ngrams_only: $pass passed, $fail failed"
[ $fail -eq 0 ]
