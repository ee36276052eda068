#!/usr/bin/env bash
# Rerun a fixed list of lector commands and compare their outputs with a recorded set.
#
#   scripts/dev/check_outputs.sh record LECTOR REFDIR   # write the reference outputs to REFDIR
#   scripts/dev/check_outputs.sh check  LECTOR REFDIR   # rerun, compare byte for byte with REFDIR
#
# The commands: `lector train` on trec, rt-polarity and sst2-sentences (default features and
# --features encoder, mini-mlm-uncased encoder, --seed 1), the models' SHA-256 and the
# validation report (json), `lector eval` of each model on the corpus's test set (json, text and
# HTML), `lector classify` (tsv and jsonl --all-scores) and `lector embed` on 1,000 lines.
# Check mode prints every file that differs and exits 1 if any does.
# Shared data come from $LECTOR_SHARED (default ../shared beside the project root).
set -euo pipefail

usage() { echo "usage: $0 record|check LECTOR REFDIR" >&2; exit 2; }
[ $# -eq 3 ] || usage
mode=$1; lector=$(realpath "$2"); ref=$3
case $mode in record|check) ;; *) usage ;; esac

root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${LECTOR_SHARED:-$root/../shared}
enc=$shared/models/mini-mlm-uncased
corpora=$shared/corpora
[ -d "$enc" ] && [ -d "$corpora" ] || { echo "$0: no shared data in $shared" >&2; exit 77; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CACHE_HOME=$work/xdg
if [ "$mode" = record ]; then out=$ref; mkdir -p "$out"; else out=$work/out; mkdir -p "$out"; fi
cache=$work/cache
common=(--threads 2 --seed 1 --cache "$cache")

for c in trec rt-polarity sst2-sentences; do
    d=$corpora/$c
    valid=()
    [ -f "$d/dev.csv" ] && valid=(--valid "$d/dev.csv")
    for f in both encoder; do
        m=$work/$c.$f.lector
        "$lector" train -e "$enc" --train "$d/train.csv" "${valid[@]}" --features "$f" \
            "${common[@]}" --report-format json -o "$m" 2> "$work/stderr" \
            || { cat "$work/stderr" >&2; exit 1; }
        tail -n 1 "$work/stderr" > "$out/train.$c.$f.json"
        sha256sum < "$m" | cut -d' ' -f1 > "$out/train.$c.$f.sha256"
        "$lector" eval -q -m "$m" --data "$d/test.csv" --threads 2 --cache "$cache" \
            --format json --report "$work/report.html" > "$out/eval.$c.$f.json"
        # the report's title names the model file: drop the temporary folder
        sed "s|$work/||g" "$work/report.html" > "$out/eval.$c.$f.html"
        "$lector" eval -q -m "$m" --data "$d/test.csv" --threads 2 --cache "$cache" \
            > "$out/eval.$c.$f.txt"
    done
done

# 1,000 lines of text (the text column of sst2-sentences' test set, header dropped)
python3 -c '
import csv, sys
r = csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8"))
n = 0
for row in r:
    t = " ".join(row["text"].split())
    if t:
        print(t); n += 1
    if n == 1000: break
' "$corpora/sst2-sentences/test.csv" > "$work/lines.txt"
"$lector" classify -q -m "$work/trec.both.lector" --threads 2 < "$work/lines.txt" > "$out/classify.trec.both.tsv"
"$lector" classify -q -m "$work/sst2-sentences.encoder.lector" --threads 2 -f jsonl --all-scores \
    < "$work/lines.txt" > "$out/classify.sst2-sentences.encoder.jsonl"
"$lector" embed -q -e "$enc" --threads 2 < "$work/lines.txt" > "$out/embed.jsonl"

if [ "$mode" = record ]; then
    (cd "$out" && sha256sum -- * > SHA256SUMS)
    echo "recorded $(ls "$out" | wc -l) files in $ref"
    exit 0
fi
status=0
for r in "$ref"/*; do
    b=$(basename "$r")
    [ "$b" = SHA256SUMS ] && continue
    if [ ! -f "$out/$b" ]; then echo "missing: $b"; status=1
    elif ! cmp -s "$r" "$out/$b"; then
        echo "differs: $b"
        diff <(head -c 2000 "$r") <(head -c 2000 "$out/$b") | head -n 20 || true
        status=1
    fi
done
for o in "$out"/*; do [ -f "$ref/$(basename "$o")" ] || { echo "new: $(basename "$o")"; status=1; }; done
[ $status -eq 0 ] && echo "all $(ls "$out" | wc -l) outputs byte-identical to $ref"
exit $status
