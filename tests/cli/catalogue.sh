#!/usr/bin/env bash
# The bad-input catalogue: each case asserts the documented exit status, a one-line message
# on stderr naming the file and the line, byte or tensor at fault, no partial output file,
# and an existing model file left untouched. (Hostile checkpoints: tests/cli/checkpoints.sh;
# e2e.sh covers interrupts and the successful paths.)
set -uo pipefail
bin=${LECTOR_BIN:?}
src=${LECTOR_SOURCE_DIR:?}
mk=${LECTOR_MAKE_TINY:?}
tmp=$(mktemp -d)
export XDG_CACHE_HOME=$tmp/cache # keep the feature cache inside the test
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0 n_cases=0
bad() { echo "FAIL [$case]: $*" >&2; fail=$((fail + 1)); }

enc=$tmp/enc
mkdir -p "$enc" && "$mk" "$enc" 4 >/dev/null || exit 1
demo=$src/corpora/demo-sentiment
model=$tmp/model.lector
"$bin" train --quiet --encoder "$enc" --train "$demo/train.csv" --epochs 2 --output "$model" || exit 1
cp "$model" "$tmp/model.orig"

# check CASE WANT_RC MESSAGE_PATTERN [stdin-file] -- CMD...: run, then check the status, a
# single stderr line matching the pattern, the model untouched and no temporary files.
check() {
  case=$1 want=$2 pat=$3 input=$4
  shift 5
  n_cases=$((n_cases + 1))
  "$@" <"$input" >"$tmp/out" 2>"$tmp/err"
  local rc=$? ok=1
  [ "$rc" -eq "$want" ] || { bad "exit $rc, want $want; stderr: $(head -c 300 "$tmp/err")"; ok=0; }
  if [ -n "$pat" ]; then
    grep -qE -- "$pat" "$tmp/err" || { bad "stderr lacks /$pat/: $(head -c 300 "$tmp/err")"; ok=0; }
    n=$(grep -c 'lector: error' "$tmp/err")
    [ "$n" -eq 1 ] || { bad "want one error line, got $n: $(head -c 500 "$tmp/err")"; ok=0; }
  fi
  cmp -s "$model" "$tmp/model.orig" || { bad "the model file changed"; ok=0; cp "$tmp/model.orig" "$model"; }
  if ls -a "$tmp" | grep -q '\.tmp\.'; then bad "temporary file left"; ok=0; rm -f "$tmp"/*.tmp.*; fi
  [ $ok -eq 1 ] && pass=$((pass + 1))
}
none=/dev/null
train=("$bin" train --quiet --encoder "$enc" --epochs 1 --output "$model")

# --- usage ---------------------------------------------------------------------------------
check "unknown flag" 2 "unknown option '--colour'" $none -- "$bin" classify --model "$model" --colour
check "missing value" 2 "needs a value" $none -- "$bin" classify --model "$model" --top-k
check "non-numeric top-k" 2 "--top-k expects an integer, got 'many'" $none -- "$bin" classify --model "$model" --top-k many
check "top-k out of range" 2 "--top-k must be between" $none -- "$bin" classify --model "$model" --top-k 0
check "non-numeric epochs" 2 "--epochs expects an integer" $none -- "${train[@]}" --train "$demo/train.csv" --epochs 1.5
check "epochs out of range" 2 "--epochs must be between" $none -- "${train[@]}" --train "$demo/train.csv" --epochs -3
check "non-numeric lr" 2 "--lr expects a number, got 'fast'" $none -- "${train[@]}" --train "$demo/train.csv" --lr fast
check "lr out of range" 2 "--lr must be between" $none -- "${train[@]}" --train "$demo/train.csv" --lr 1e9
check "lr not finite" 2 "--lr expects a number" $none -- "${train[@]}" --train "$demo/train.csv" --lr nan
check "shard out of range" 2 "--shard" $none -- "$bin" classify --model "$model" --shard 4/4
check "unknown command" 2 "unknown command 'clasify'" $none -- "$bin" clasify
check "no encoder" 2 "no encoder" $none -- env -u LECTOR_ENCODER "$bin" embed

# --- files -----------------------------------------------------------------------------------
check "missing training file" 1 "$tmp/nope.csv" $none -- "${train[@]}" --train "$tmp/nope.csv"
check "training file is a directory" 1 "$tmp" $none -- "${train[@]}" --train "$tmp"
check "missing model" 1 "$tmp/nope.lector" $none -- "$bin" classify --model "$tmp/nope.lector"
check "model is a directory" 1 "is a directory" $none -- "$bin" classify --model "$enc"
check "missing encoder" 1 "$tmp/no-encoder" $none -- "$bin" embed --encoder "$tmp/no-encoder"
check "output directory missing" 1 "$tmp/missing-dir/m.lector" $none -- "$bin" train --quiet --encoder "$enc" \
  --train "$demo/train.csv" --epochs 1 --output "$tmp/missing-dir/m.lector"
check "output equal to input" 2 "is the same file as the input --train" $none -- "$bin" train --quiet --encoder "$enc" \
  --train "$demo/train.csv" --output "$demo/train.csv"
if [ "$(id -u)" -ne 0 ]; then
  mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
  check "output directory read-only" 1 "$tmp/ro/m.lector" $none -- "$bin" train --quiet --encoder "$enc" \
    --train "$demo/train.csv" --epochs 1 --output "$tmp/ro/m.lector"
  cp "$demo/test.csv" "$tmp/unreadable.csv" && chmod 000 "$tmp/unreadable.csv"
  check "unreadable file" 1 "unreadable.csv" $none -- "$bin" eval --model "$model" --data "$tmp/unreadable.csv"
else
  echo "running as root: read-only and unreadable cases cannot be provoked, not run"
fi
check "classify a missing file" 1 "$tmp/none.txt" $none -- "$bin" classify --model "$model" "$tmp/none.txt"
# A full disk: a 64 KiB tmpfs (root only) cannot take the model; the error says so.
mkdir -p "$tmp/full"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=64k tmpfs "$tmp/full" 2>/dev/null; then
  head -c 60000 /dev/zero >"$tmp/full/filler"
  check "no space left on the output's disk" 1 "$tmp/full/m.lector.*No space left" $none -- "$bin" train --quiet \
    --encoder "$enc" --train "$demo/train.csv" --epochs 1 --output "$tmp/full/m.lector"
  [ -z "$(ls "$tmp/full" | grep -v filler)" ] || bad "a full disk left files: $(ls "$tmp/full")"
  umount "$tmp/full"
else
  echo "cannot mount a small tmpfs here: the full-disk case is not run"
fi

# --- text on stdin ---------------------------------------------------------------------------
printf '' >"$tmp/empty.txt"
check "empty input" 0 "" "$tmp/empty.txt" -- "$bin" classify --model "$model"
[ ! -s "$tmp/out" ] || bad "empty input gave output"
printf '\n\n\n' >"$tmp/blank.txt"
check "empty lines" 0 "" "$tmp/blank.txt" -- "$bin" classify --model "$model"
[ "$(wc -l <"$tmp/out")" -eq 3 ] || bad "empty lines: want 3 output lines"
printf 'good\r\nbad\r\nlast' >"$tmp/crlf.txt"
check "CRLF, no final newline" 0 "" "$tmp/crlf.txt" -- "$bin" classify --model "$model"
[ "$(wc -l <"$tmp/out")" -eq 3 ] || bad "CRLF: want 3 output lines"
printf 'good\nbad\nlast\n' | "$bin" classify --model "$model" >"$tmp/plain.out"
cmp -s "$tmp/out" "$tmp/plain.out" || bad "CRLF or a missing final newline changed results"
printf '\xef\xbb\xbfgood\nbad\nlast\n' >"$tmp/bom.txt"
check "UTF-8 BOM" 0 "" "$tmp/bom.txt" -- "$bin" classify --model "$model"
cmp -s "$tmp/out" "$tmp/plain.out" || bad "a UTF-8 BOM changed results"
printf '\xff\xfeg\x00o\x00o\x00d\x00\n\x00' >"$tmp/utf16.txt"
check "UTF-16 BOM" 1 "UTF-16.*iconv" "$tmp/utf16.txt" -- "$bin" classify --model "$model"
i=0
for seq in '\xc0\xaf' '\x80' '\xe2\x82' '\xed\xa0\x80' '\xf4\x90\x80\x80' '\xf8\x88\x80\x80\x80'; do
  i=$((i + 1))
  printf "fine\nab $seq cd\nfine\n" >"$tmp/bad$i.txt"
  check "invalid UTF-8 $seq" 1 "stdin:2: .*byte offset 3" "$tmp/bad$i.txt" -- "$bin" classify --model "$model"
  [ "$(wc -l <"$tmp/out")" -eq 3 ] && [ -z "$(sed -n 2p "$tmp/out")" ] || bad "want 3 lines, the 2nd empty"
done
check "invalid UTF-8, --strict" 1 "stdin:2:" "$tmp/bad1.txt" -- "$bin" classify --model "$model" --strict
[ "$(wc -l <"$tmp/out")" -eq 1 ] || bad "--strict: want output up to the bad line only"
printf 'nul\0inside\nctl\x01\x07\x1b[31mred\n' >"$tmp/ctl.txt"
check "NUL and control bytes" 0 "" "$tmp/ctl.txt" -- "$bin" classify --model "$model"
[ "$(wc -l <"$tmp/out")" -eq 2 ] || bad "NUL/control: want 2 output lines"
head -c 10000000 /dev/zero | tr '\0' 'a' >"$tmp/long.txt" && printf '\nshort\n' >>"$tmp/long.txt"
check "10 MB line" 0 "" "$tmp/long.txt" -- "$bin" classify --model "$model"
[ "$(wc -l <"$tmp/out")" -eq 2 ] || bad "10 MB line: want 2 output lines"

# --- CSV -------------------------------------------------------------------------------------
csv() { printf "$2" >"$tmp/$1.csv"; }
csv quoted 'text,label\n"good, really",positive\n"he said ""bad""",negative\n"two\nlines",positive\nok,negative\n'
check "quoted commas, doubled quotes, embedded newlines" 0 "" $none -- "${train[@]}" --train "$tmp/quoted.csv" --output "$tmp/q.lector"
csv bomq '\xef\xbb\xbf"text","label"\ngood,positive\nbad,negative\n'
check "BOM before a quoted header" 0 "" $none -- "${train[@]}" --train "$tmp/bomq.csv" --output "$tmp/q.lector"
csv ragged 'text,label\ngood,positive\nbad,negative,extra\n'
check "ragged row" 1 "ragged.csv:3" $none -- "${train[@]}" --train "$tmp/ragged.csv"
csv ragged2 'text,label\n"two\nlines",positive\nbad\n'
check "ragged row after an embedded newline" 1 "ragged2.csv:4" $none -- "${train[@]}" --train "$tmp/ragged2.csv"
csv unterminated 'text,label\ngood,positive\n"never closed,negative\n'
check "unterminated quote at EOF" 1 "unterminated.csv:3" $none -- "${train[@]}" --train "$tmp/unterminated.csv"
csv emptytext 'text,label\n,positive\nbad,negative\n'
check "empty text cell" 0 "" $none -- "${train[@]}" --train "$tmp/emptytext.csv" --output "$tmp/q.lector"
csv emptylabel 'text,label\ngood,\nbad,negative\n'
check "empty label cell" 1 "emptylabel.csv:2: empty label" $none -- "${train[@]}" --train "$tmp/emptylabel.csv"
csv tsv 'text\tlabel\ngood\tpositive\nbad\tnegative\n'
check "TSV given as CSV" 1 "tsv.csv: no column 'text'" $none -- "${train[@]}" --train "$tmp/tsv.csv"
csv single 'text,label\ngood,positive\nfine,positive\n'
check "a single class" 1 "single.csv.*only one distinct label" $none -- "${train[@]}" --train "$tmp/single.csv"
csv unseen 'text,label\ngood,positive\nmeh,neutral\n'
check "test label unseen in training" 1 "unseen.csv:3: label 'neutral'" $none -- "$bin" eval --model "$model" --data "$tmp/unseen.csv"
csv headeronly 'text,label\n'
check "header only" 1 "headeronly.csv" $none -- "${train[@]}" --train "$tmp/headeronly.csv"
printf '\xff\xfet\x00e\x00x\x00t\x00' >"$tmp/utf16.csv"
check "UTF-16 CSV" 1 "utf16.csv.*UTF-16" $none -- "${train[@]}" --train "$tmp/utf16.csv"
printf 'text,label\n\xc3\x28bad,positive\ngood,negative\n' >"$tmp/badutf8.csv"
check "invalid UTF-8 in a CSV cell" 1 "badutf8.csv:2" $none -- "${train[@]}" --train "$tmp/badutf8.csv"

# --- model files -----------------------------------------------------------------------------
head -c 300 "$model" >"$tmp/trunc.lector"
check "model truncated" 1 "trunc.lector" $none -- "$bin" classify --model "$tmp/trunc.lector"
sed 's/lector-classifier/lector-classifiex/' "$model" >"$tmp/edited.lector"
check "model edited (format)" 1 "edited.lector.*not a lector model" $none -- "$bin" classify --model "$tmp/edited.lector"
sed -E 's/"format_version":"[0-8]"/"format_version":"9"/' "$model" >"$tmp/newer.lector"
check "model from a newer lector" 1 "newer.lector.*upgrade lector" $none -- "$bin" classify --model "$tmp/newer.lector"
mkdir -p "$tmp/enc2" && "$mk" "$tmp/enc2" 8 >/dev/null
check "model recorded for another encoder" 1 "model.lector.*checksum" $none -- "$bin" classify --model "$model" --encoder "$tmp/enc2"
cp "$demo/test.csv" "$tmp/not-a-model.lector"
check "not a model at all" 1 "not-a-model.lector" $none -- "$bin" classify --model "$tmp/not-a-model.lector"

echo "catalogue: $n_cases cases; $pass passed, $fail failed"
[ $fail -eq 0 ]
