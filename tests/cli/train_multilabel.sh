#!/usr/bin/env bash
# Multi-label training: labels separated by '|', a sigmoid per label with thresholds tuned on
# validation and stored in the model; eval reports per-label figures; classify prints every
# label that reaches its threshold.
set -uo pipefail
py=${LECTOR_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
bin=${LECTOR_BIN:?LECTOR_BIN not set}
mk=${LECTOR_MAKE_TINY:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 1 || { echo "cannot make the tiny encoder" >&2; exit 1; }
"$py" - "$tmp/train.csv" <<'PY'
import random, sys
r = random.Random(5)
words = {"sport": ["match", "goal", "team"], "money": ["bank", "price", "market"], "tech": ["chip", "code", "robot"]}
with open(sys.argv[1], "w") as f:
    f.write("text,label\n")
    for i in range(400):
        labs = [l for l in words if r.random() < 0.4]
        toks = [r.choice(words[l]) for l in labs for _ in range(2)] + [r.choice(["the", "a", "news", "today"]) for _ in range(3)]
        r.shuffle(toks)
        f.write("%s,%s\n" % (" ".join(toks), "|".join(labs)))
PY
"$bin" train --encoder "$enc" --train "$tmp/train.csv" --multi-label --epochs 10 --cache "$tmp/c" -o "$tmp/m.lector" 2>"$tmp/err" &&
  ok || bad "train: $(cat "$tmp/err")"
grep -q "accuracy (exact match)" "$tmp/err" && ok || bad "no multi-label report: $(cat "$tmp/err")"
"$py" - "$tmp/m.lector" <<'PY' && ok || bad "metadata"
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
m = json.loads(b[8:8 + n])["__metadata__"]
assert m["multi_label"] == "1" and m["format_version"] == "2", m
t = json.loads(m["thresholds"]); assert len(t) == 3 and all(0 < x < 1 for x in t), t
assert json.loads(m["labels"]) == ["money", "sport", "tech"], m["labels"]
PY
"$bin" eval --model "$tmp/m.lector" --data "$tmp/train.csv" --format json >"$tmp/rep" 2>"$tmp/err" && ok || bad "eval: $(cat "$tmp/err")"
"$py" -c "
import json; r=json.load(open('$tmp/rep'))
assert 'confusion' not in r and r['macro_f1'] > 0.9 and r['micro_f1'] > 0.9 and set(r['per_class']) == {'money','sport','tech'}, r" &&
  ok || bad "eval json: $(cat "$tmp/rep")"
printf 'goal team bank price\nthe news today\n' | "$bin" classify --model "$tmp/m.lector" >"$tmp/out" 2>"$tmp/err" && ok || bad "classify"
head -1 "$tmp/out" | awk -F'\t' '{ s = ""; for (i = 1; i < NF; i += 2) s = s $i " "; print s }' | grep -q "money" &&
  head -1 "$tmp/out" | grep -q "sport" && ok || bad "classify labels: $(cat "$tmp/out")"
printf 'goal team bank price\n' | "$bin" classify --model "$tmp/m.lector" --all-scores >"$tmp/out" 2>"$tmp/err"
[ "$(awk -F'\t' '{print NF}' "$tmp/out")" -eq 6 ] && ok || bad "--all-scores: $(cat "$tmp/out")"
printf 'goal team\n' | "$bin" classify --model "$tmp/m.lector" --format jsonl >"$tmp/out" 2>"$tmp/err"
"$py" -c "import json; o=json.loads(open('$tmp/out').read()); assert o['labels'] == ['sport'], o" && ok || bad "jsonl: $(cat "$tmp/out")"

# one 0/1 column per label
"$py" - "$tmp/train.csv" "$tmp/cols.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["text", "tech", "sport", "money"])
    for r in rows:
        labs = r["label"].split("|") if r["label"] else []
        w.writerow([r["text"]] + ["1" if l in labs else "0" for l in ("tech", "sport", "money")])
PY
"$bin" train --encoder "$enc" --train "$tmp/cols.csv" --multi-label --label-column tech,sport,money --epochs 10 \
  --cache "$tmp/c" -o "$tmp/c.lector" 2>"$tmp/err" && ok || bad "train per column: $(cat "$tmp/err")"
"$bin" eval --model "$tmp/c.lector" --data "$tmp/cols.csv" --label-column tech,sport,money --format json >"$tmp/rep" 2>"$tmp/err" &&
  ok || bad "eval per column: $(cat "$tmp/err")"
"$py" -c "
import json; r=json.load(open('$tmp/rep')); assert r['labels'] == ['tech','sport','money'] and r['macro_f1'] > 0.9, r" &&
  ok || bad "per-column report: $(cat "$tmp/rep")"
"$bin" eval --model "$tmp/c.lector" --data "$tmp/cols.csv" --label-column sport,tech,money >"$tmp/rep" 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "do not match" "$tmp/err" && ok || bad "mismatched label columns: $(cat "$tmp/err")"

echo "cli train_multilabel: $pass passed, $fail failed"
[ $fail -eq 0 ]
