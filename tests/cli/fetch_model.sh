#!/usr/bin/env bash
# scripts/fetch-model.sh against a local HTTP server on loopback that serves a checkpoint in
# the hub's URL layout (<id>/resolve/main/<file>): the files arrive complete, the result
# works as --encoder, optional files that are absent are skipped, and a missing required
# file fails without leaving partial files behind.
set -uo pipefail
bin=${LECTOR_BIN:?}
src=${LECTOR_SOURCE_DIR:?}
mk=${LECTOR_MAKE_TINY:?}
py=${LECTOR_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
command -v curl >/dev/null || { echo "skipped: curl not installed"; exit 77; }
tmp=$(mktemp -d)
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

root=$tmp/www
mkdir -p "$root/acme/tiny-bert/resolve/main" "$root/acme/no-config/resolve/main"
"$mk" "$root/acme/tiny-bert/resolve/main" 9 || fail "tiny encoder"
cp "$root/acme/tiny-bert/resolve/main/vocab.txt" "$root/acme/no-config/resolve/main/"

# A tiny static server bound to 127.0.0.1 on a free port; it writes the port to a file.
"$py" - "$root" "$tmp/port" <<'PY' &
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
handler.log_message = lambda *a, **k: None
with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
    open(sys.argv[2], "w").write(str(httpd.server_address[1]))
    httpd.timeout = 1
    for _ in range(120):  # stops by itself after about two minutes
        httpd.handle_request()
PY
srv=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || fail "local server did not start"
export LECTOR_HUB_URL="http://127.0.0.1:$(cat "$tmp/port")"

"$src/scripts/fetch-model.sh" acme/tiny-bert "$tmp/dl" >"$tmp/out" 2>"$tmp/err" || fail "fetch: $(cat "$tmp/err")"
for f in config.json vocab.txt tokenizer_config.json model.safetensors; do
  cmp -s "$tmp/dl/$f" "$root/acme/tiny-bert/resolve/main/$f" || fail "$f differs after download"
done
[ ! -e "$tmp/dl/tokenizer.json" ] || fail "an absent optional file was created"
ls "$tmp/dl" | grep -q '\.part$' && fail "partial file left behind"
echo "the film was good" | "$bin" embed --encoder "$tmp/dl" >/dev/null || fail "downloaded checkpoint does not load"

if "$src/scripts/fetch-model.sh" acme/no-config "$tmp/dl2" >/dev/null 2>"$tmp/err"; then
  fail "a missing config.json did not fail"
fi
grep -q "404" "$tmp/err" || fail "missing file message: $(cat "$tmp/err")"
[ -z "$(ls -A "$tmp/dl2" 2>/dev/null)" ] || fail "failed fetch left files: $(ls "$tmp/dl2")"
"$src/scripts/fetch-model.sh" not-an-id >/dev/null 2>&1 && fail "a bad model id was accepted"
echo "fetch-model: 1 passed, 0 failed"
