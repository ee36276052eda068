#!/usr/bin/env bash
# A model survives its encoder moving: classify finds the encoder by --encoder, then
# $LECTOR_ENCODER, then the recorded path, then the path relative to the model file, always
# checked by checksum; when none matches, the error names the model, the paths tried and the
# option. info MODEL shows the recorded encoder and whether it is found. A CSV given as the
# model is named as such.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
unset LECTOR_ENCODER
demo=$src/corpora/demo-sentiment
lines=$'a wonderful film\ndull and boring'

mkdir -p "$tmp/old/enc" "$tmp/other" "$tmp/models" && "$mk" "$tmp/old/enc" 3 >/dev/null && "$mk" "$tmp/other" 4 >/dev/null || exit 1
"$bin" train --quiet --encoder "$tmp/old/enc" --train "$demo/train.csv" --epochs 2 -o "$tmp/models/m.lector" || exit 1
want=$(printf '%s\n' "$lines" | "$bin" classify --model "$tmp/models/m.lector")
[ -n "$want" ] && ok || bad "classify before the move"

mv "$tmp/old" "$tmp/new"
# No way to find it: exit 1, the model, the recorded path and the option named.
printf '%s\n' "$lines" | "$bin" classify --model "$tmp/models/m.lector" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && [ ! -s "$tmp/out" ] && ok || bad "encoder gone: rc $rc, out $(cat "$tmp/out")"
grep -q "$tmp/models/m.lector" "$tmp/err" && grep -q "$tmp/old/enc" "$tmp/err" && grep -q -- "--encoder" "$tmp/err" &&
  grep -q LECTOR_ENCODER "$tmp/err" && ok || bad "encoder gone message: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "encoder gone: more than one line: $(cat "$tmp/err")"
# $LECTOR_ENCODER at the new place.
got=$(printf '%s\n' "$lines" | LECTOR_ENCODER=$tmp/new/enc "$bin" classify --model "$tmp/models/m.lector" 2>"$tmp/err")
[ "$got" = "$want" ] && ok || bad "LECTOR_ENCODER after the move: '$got' ($(cat "$tmp/err"))"
got=$(printf '%s\n' "$lines" | "$bin" classify --model "$tmp/models/m.lector" --encoder "$tmp/new/enc" 2>"$tmp/err")
[ "$got" = "$want" ] && ok || bad "--encoder after the move: '$got' ($(cat "$tmp/err"))"
LECTOR_ENCODER=$tmp/new/enc "$bin" eval --model "$tmp/models/m.lector" --data "$demo/test.csv" >/dev/null 2>"$tmp/err" &&
  ok || bad "eval with LECTOR_ENCODER after the move: $(cat "$tmp/err")"
# A different encoder: --encoder refuses it; as $LECTOR_ENCODER it is skipped and named.
printf '%s\n' "$lines" | "$bin" classify --model "$tmp/models/m.lector" --encoder "$tmp/other" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q checksum "$tmp/err" && ok || bad "--encoder with another encoder: rc $rc, $(cat "$tmp/err")"
printf '%s\n' "$lines" | LECTOR_ENCODER=$tmp/other "$bin" classify --model "$tmp/models/m.lector" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/other" "$tmp/err" && ok || bad "LECTOR_ENCODER with another encoder: rc $rc, $(cat "$tmp/err")"

# info: the recorded encoder, and whether it is found.
"$bin" info "$tmp/models/m.lector" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "encoder recorded $tmp/old/enc" "$tmp/out" && grep -q "encoder found    no" "$tmp/out" &&
  ok || bad "info, encoder gone: rc $rc, $(cat "$tmp/out" "$tmp/err")"
LECTOR_ENCODER=$tmp/new/enc "$bin" info "$tmp/models/m.lector" >"$tmp/out" 2>"$tmp/err" &&
  grep -q "encoder found    $tmp/new/enc" "$tmp/out" && ok || bad "info, encoder found: $(cat "$tmp/out" "$tmp/err")"
"$bin" info --format json "$tmp/models/m.lector" >"$tmp/out" 2>/dev/null
grep -q '"found":false' "$tmp/out" && ok || bad "info json, encoder gone: $(cat "$tmp/out")"

# A model and its encoder moved together: found relative to the model file.
mkdir -p "$tmp/pkg" && mv "$tmp/new/enc" "$tmp/pkg/enc"
"$bin" train --quiet --encoder "$tmp/pkg/enc" --train "$demo/train.csv" --epochs 2 -o "$tmp/pkg/m.lector" || exit 1
want=$(printf '%s\n' "$lines" | "$bin" classify --model "$tmp/pkg/m.lector")
mv "$tmp/pkg" "$tmp/shipped"
got=$(cd "$tmp" && printf '%s\n' "$lines" | "$bin" classify --model shipped/m.lector 2>"$tmp/err")
[ -n "$want" ] && [ "$got" = "$want" ] && ok || bad "moved together: '$got' ($(cat "$tmp/err"))"

# A CSV given as the model.
printf '%s\n' "$lines" | "$bin" classify --model "$demo/train.csv" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "looks like a CSV/text file, not a lector model" "$tmp/err" && ok ||
  bad "CSV as --model: rc $rc, $(cat "$tmp/err")"

echo "encoder_move: $pass passed, $fail failed"
[ $fail -eq 0 ]
