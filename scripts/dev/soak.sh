#!/usr/bin/env bash
# Soak test: stream N lines (default 1,000,000) through `lector classify` and check that its
# resident memory stays flat and that every line comes back once, in order.
#
#   scripts/dev/soak.sh [N] [MODEL]
#
# Without MODEL, a model is trained on the demo corpus over a tiny random encoder (the
# stream's memory behaviour does not depend on the encoder's size). Prints RSS samples
# (start, quarter points, end) and the verdict. Needs a build in build/.
set -euo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
cd "$(dirname "$0")/../.."
n=${1:-1000000}
model=${2:-}
bin=build/lector
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$model" ]; then
  mkdir -p "$tmp/enc" && build/tests/make_tiny_encoder "$tmp/enc" 1
  "$bin" train --quiet --encoder "$tmp/enc" --train corpora/demo-sentiment/train.csv --epochs 2 \
    --output "$tmp/m.lector"
  model=$tmp/m.lector
fi
mkfifo "$tmp/in"
# Lines "ID<TAB>text": ids let the output be checked for loss, duplication and order.
awk -v n="$n" 'BEGIN { split("the film was good bad awful lovely book hotel staff dull great", w, " ");
  for (i = 1; i <= n; i++) { s = ""; k = (i * 7919) % 23; for (j = 0; j <= k; j++) s = s w[1 + (i + j * 31) % 12] " ";
  printf "%d\t%s\n", i, s } }' >"$tmp/in" &
gen=$!
start=$(date +%s.%N)
"$bin" classify --model "$model" --id-column <"$tmp/in" >"$tmp/out" &
pid=$!
samples=()
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  done_lines=$(wc -l <"$tmp/out")
  [ -n "$rss" ] && samples+=("$done_lines:$rss")
  sleep 1
done
wait "$pid"
wait "$gen"
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
lines=$(wc -l <"$tmp/out")
ordered=$(awk -F'\t' '$1 != NR {bad++} END {print bad + 0}' "$tmp/out")
echo "lines in: $n, lines out: $lines, out of order or missing: $ordered, time: ${secs}s"
echo "RSS samples (lines done: KiB):"
m=${#samples[@]}
for idx in 0 $((m / 4)) $((m / 2)) $((3 * m / 4)) $((m - 1)); do
  [ "$idx" -ge 0 ] && [ "$idx" -lt "$m" ] && echo "  ${samples[$idx]}"
done
first=${samples[$((m > 2 ? 1 : 0))]#*:}
last=${samples[$((m - 1))]#*:}
echo "RSS after warm-up ${first} KiB, at the end ${last} KiB"
if [ "$lines" -eq "$n" ] && [ "$ordered" -eq 0 ] && [ "$last" -le $((first + first / 10 + 1024)) ]; then
  echo "soak: 1 passed, 0 failed"
else
  echo "soak: 0 passed, 1 failed"; exit 1
fi
