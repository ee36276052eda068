#!/usr/bin/env bash
# `lector train --report` and `lector eval --report` write one self-contained HTML file
# (inline SVG, no scripts, nothing fetched from the network); headless Chromium renders it to
# a PNG without errors. Where Chromium is not installed, that part is left out and the test
# then reports itself skipped (exit 77) unless something failed.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

mkdir -p "$tmp/enc" && "$mk" "$tmp/enc" 6 || exit 1
demo=$src/corpora/demo-sentiment
"$bin" train --quiet --encoder "$tmp/enc" --train "$demo/train.csv" --epochs 4 --output "$tmp/m.lector" \
  --report "$tmp/train.html" && ok || bad "train --report failed"
"$bin" eval --quiet --model "$tmp/m.lector" --data "$demo/test.csv" --report "$tmp/eval.html" >/dev/null &&
  ok || bad "eval --report failed"
for f in train eval; do
  h=$tmp/$f.html
  [ -s "$h" ] || { bad "$f.html missing"; continue; }
  for want in '<!DOCTYPE html>' 'aria-label="confusion matrix"' 'aria-label="per-class scores"' \
              'aria-label="reliability diagram"' 'aria-label="training curves"' 'accuracy <b>'; do
    grep -qF "$want" "$h" && ok || bad "$f.html lacks $want"
  done
  grep -qiE '<script|<link|@import|url\(|src="http' "$h" && bad "$f.html loads or runs something" || ok
done
"$bin" eval --quiet --model "$tmp/m.lector" --data "$demo/test.csv" --report "$tmp/no/such/dir/r.html" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "no/such/dir" "$tmp/err" && ok || bad "unwritable report path: $(cat "$tmp/err")"

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$browser" ]; then
  for f in train eval; do
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$tmp/profile-$f" --window-size=1000,1400 --enable-logging=stderr --v=0 \
      --screenshot="$tmp/$f.png" "file://$tmp/$f.html" >"$tmp/$f.log" 2>&1
    rc=$?
    [ $rc -eq 0 ] && [ "$(stat -c %s "$tmp/$f.png" 2>/dev/null || echo 0)" -gt 10000 ] && ok ||
      bad "chromium did not render $f.html (exit $rc): $(tail -3 "$tmp/$f.log")"
    # Console errors or failed loads on the page itself (not the sandbox's D-Bus noise).
    grep -E 'CONSOLE|Uncaught|net::ERR_' "$tmp/$f.log" && bad "$f.html: page errors" || ok
  done
else
  echo "chromium not installed: rendering not checked"
fi
echo "report: $pass passed, $fail failed"
[ $fail -eq 0 ] || exit 1
[ -n "$browser" ] || exit 77
