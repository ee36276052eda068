#!/usr/bin/env bash
# Long documents: texts longer than --max-len are split into overlapping windows (--stride)
# whose vectors are pooled (--doc-pooling), in train, eval and classify alike; --truncate
# keeps only the first window.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 1 || { echo "cannot make the tiny encoder" >&2; exit 1; }
# The class is only told at the end of each long text: truncation cannot see it.
"$py" - "$tmp/train.csv" <<'PY'
import random, sys
r = random.Random(3)
with open(sys.argv[1], "w") as f:
    f.write("text,label\n")
    for i in range(200):
        filler = " ".join(r.choice(["the", "a", "film", "book", "was", "and"]) for _ in range(40))
        lab = "pos" if i % 2 else "neg"
        f.write("%s %s,%s\n" % (filler, "good great lovely" if i % 2 else "bad awful dull", lab))
PY
t=(train --encoder "$enc" --train "$tmp/train.csv" --features encoder --max-len 16 --epochs 8 --lr 0.01 --cache "$tmp/c")
"$bin" "${t[@]}" --stride 4 -o "$tmp/w.lector" 2>"$tmp/err" && ok || bad "windows: $(cat "$tmp/err")"
grep -q "split into windows" "$tmp/err" && ok || bad "no window message: $(cat "$tmp/err")"
grep -qE "encoded 200 texts \([0-9]+ windows\)" "$tmp/err" && ! grep -q "(200 windows)" "$tmp/err" && ok ||
  bad "window count: $(grep encoded "$tmp/err")"
# exactly as many windows as 14-token windows (16 minus [CLS] and [SEP]) overlapping by the
# stride need to cover each text's pieces (counted with lector tokenize): 1 + ceil((n - 14) /
# (14 - stride)); the texts have 43 pieces, so stride 8 needs 6 windows each (4 without overlap)
cp "$tmp/err" "$tmp/err4"
cut -d, -f1 "$tmp/train.csv" | tail -n +2 | "$bin" tokenize --encoder "$enc" >"$tmp/tok.jsonl"
"$bin" "${t[@]}" --stride 8 --epochs 1 -o "$tmp/w8.lector" 2>"$tmp/err8" && ok || bad "stride 8: $(cat "$tmp/err8")"
for s in 4 8; do
  "$py" - "$tmp/tok.jsonl" "$tmp/err$s" $s <<'PY' && ok || bad "window count differs from the stride's ($s)"
import json, re, sys
n = [len(json.loads(l)["ids"]) - 2 for l in open(sys.argv[1])]
step = 14 - int(sys.argv[3])
want = sum(1 if k <= 14 else 1 + -(-(k - 14) // step) for k in n)
got = int(re.search(r"encoded 200 texts \((\d+) windows\)", open(sys.argv[2]).read()).group(1))
assert len(n) == 200 and got == want and want > 200, (got, want)
PY
done
wacc=$(grep '^accuracy' "$tmp/err" | awk '{print $2}')
"$bin" "${t[@]}" --truncate -o "$tmp/t.lector" 2>"$tmp/err" && ok || bad "truncate: $(cat "$tmp/err")"
grep -q "truncated to 16 tokens" "$tmp/err" && ok || bad "no truncation message"
tacc=$(grep '^accuracy' "$tmp/err" | awk '{print $2}')
"$py" -c "import sys; sys.exit(0 if float('$wacc') > float('$tacc') else 1)" && ok ||
  bad "windows ($wacc) should beat truncation ($tacc) when the label is at the end"
"$bin" "${t[@]}" --doc-pooling max -o "$tmp/m.lector" 2>"$tmp/err" && ok || bad "max pooling"
"$py" - "$tmp/w.lector" "$tmp/t.lector" <<'PY' && ok || bad "metadata"
import json, struct, sys
def meta(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n])["__metadata__"]
w, t = meta(sys.argv[1]), meta(sys.argv[2])
assert w["doc_pooling"] == "mean" and w["stride"] == "4" and w["format_version"] == "1", w
assert "doc_pooling" not in t
PY
# eval and classify use the model's windows: eval's accuracy on the training file agrees with
# classify's labels on the same texts.
"$bin" eval --model "$tmp/w.lector" --data "$tmp/train.csv" --format json --no-cache >"$tmp/rep" 2>"$tmp/err" && ok || bad "eval"
cut -d, -f1 "$tmp/train.csv" | tail -n +2 | "$bin" classify --model "$tmp/w.lector" >"$tmp/out" 2>"$tmp/err" && ok || bad "classify"
"$py" - "$tmp/rep" "$tmp/out" "$tmp/train.csv" <<'PY' && ok || bad "eval and classify disagree"
import csv, json, sys
rep = json.load(open(sys.argv[1]))
out = [l.split("\t")[0] for l in open(sys.argv[2])]
rows = list(csv.DictReader(open(sys.argv[3])))
acc = sum(o == r["label"] for o, r in zip(out, rows)) / len(rows)
assert abs(acc - rep["accuracy"]) < 1e-9, (acc, rep["accuracy"])
PY
"$bin" "${t[@]}" --stride 14 -o "$tmp/x.lector" 2>"$tmp/err"; [ $? -eq 2 ] && ok || bad "--stride too large accepted"

echo "cli train_windows: $pass passed, $fail failed"
[ $fail -eq 0 ]
