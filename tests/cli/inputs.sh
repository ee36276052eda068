#!/usr/bin/env bash
# Inputs that deserve a word: empty texts keep their output line with no label and are
# reported once; a binary file named explicitly is an error with --strict and counted in a
# summary without it; a mistyped option gets a "did you mean"; classify reading a terminal
# says so.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
unset LECTOR_ENCODER

mkdir -p "$tmp/enc" && "$mk" "$tmp/enc" 5 >/dev/null || exit 1
m=$tmp/m.lector
"$bin" train --quiet --encoder "$tmp/enc" --train "$src/corpora/demo-sentiment/train.csv" --epochs 2 -o "$m" || exit 1

# Empty and blank stdin lines: one output line each, no label, one warning.
printf 'a wonderful film\n\n   \nawful\n' | "$bin" classify --model "$m" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 4 ] && ok || bad "empty lines: rc $rc, $(cat "$tmp/out")"
[ -z "$(sed -n 2p "$tmp/out")" ] && [ -z "$(sed -n 3p "$tmp/out")" ] && [ -n "$(sed -n 4p "$tmp/out")" ] && ok ||
  bad "empty lines got labels: $(cat "$tmp/out")"
[ "$(grep -c "empty text" "$tmp/err")" -eq 1 ] && grep -q "stdin:2:" "$tmp/err" && ok || bad "empty lines warning: $(cat "$tmp/err")"
printf 'a\tfine\nb\t\n' | "$bin" classify --model "$m" --id-column >"$tmp/out" 2>/dev/null
[ "$(sed -n 2p "$tmp/out")" = "b"$'\t' ] && ok || bad "--id-column empty text: $(cat "$tmp/out")"
printf '\n' | "$bin" classify --model "$m" --format jsonl >"$tmp/out" 2>/dev/null
grep -q '"label":null' "$tmp/out" && ok || bad "jsonl empty line: $(cat "$tmp/out")"

# An empty file: its line has no label.
: >"$tmp/empty.txt"
echo "a wonderful film" >"$tmp/good.txt"
"$bin" classify --model "$m" "$tmp/empty.txt" "$tmp/good.txt" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ "$(sed -n 1p "$tmp/out")" = "$tmp/empty.txt"$'\t' ] && [ "$(wc -l <"$tmp/out")" -eq 2 ] && ok ||
  bad "empty file: rc $rc, $(cat "$tmp/out")"
grep -q "$tmp/empty.txt: empty text" "$tmp/err" && ok || bad "empty file warning: $(cat "$tmp/err")"

# A binary file named explicitly: counted in a summary; an error with --strict.
printf 'bin\0ary' >"$tmp/x.bin"
"$bin" classify --model "$m" "$tmp/good.txt" "$tmp/x.bin" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && grep -q "1 binary file skipped" "$tmp/err" && ok || bad "binary: rc $rc, $(cat "$tmp/err")"
"$bin" classify --model "$m" --strict "$tmp/good.txt" "$tmp/x.bin" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/x.bin: binary file" "$tmp/err" && ok || bad "binary --strict: rc $rc, $(cat "$tmp/err")"

# Did you mean.
"$bin" train --trian x.csv >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "did you mean --train?" "$tmp/err" && ok || bad "train --trian: rc $rc, $(cat "$tmp/err")"
"$bin" classify --modle "$m" </dev/null >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "did you mean --model?" "$tmp/err" && ok || bad "classify --modle: rc $rc, $(cat "$tmp/err")"
"$bin" eval --zzzzzzzz >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && ! grep -q "did you mean" "$tmp/err" && ok || bad "eval --zzzzzzzz: rc $rc, $(cat "$tmp/err")"

# classify on a terminal: a pseudo-terminal as stdin, one line, then end of input.
"$py" - "$bin" "$m" >"$tmp/tty" 2>&1 <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "classify", "--model", sys.argv[2]])
os.write(fd, b"a wonderful film\n")
os.write(fd, b"\x04")
out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
PY
grep -q "reading texts from the terminal" "$tmp/tty" && ok || bad "no terminal note: $(cat "$tmp/tty")"
printf 'good\n' | "$bin" classify --model "$m" 2>"$tmp/err" >/dev/null
grep -q "terminal" "$tmp/err" && bad "terminal note on a pipe: $(cat "$tmp/err")" || ok

echo "inputs: $pass passed, $fail failed"
[ $fail -eq 0 ]
