#!/usr/bin/env bash
# scripts/fetch-model.sh against a local HTTP server on loopback that serves a checkpoint in
# the hub's URL layout (<id>/resolve/main/<file>): the files arrive complete, the result
# works as --encoder, optional files that are absent are skipped, and a missing required
# file fails without leaving partial files behind. Hostile or broken servers: a redirect
# whose own response has a Content-Length, an endless chunked body (size bound), a body that
# trickles (time bound, and SIGTERM mid-download), and no server at all (offline).
set -uo pipefail
bin=${LECTOR_BIN:?}
src=${LECTOR_SOURCE_DIR:?}
mk=${LECTOR_MAKE_TINY:?}
py=${LECTOR_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
command -v curl >/dev/null || { echo "skipped: curl not installed"; exit 77; }
tmp=$(mktemp -d)
srv=
# Only this shell cleans up: a forked child (`cmd &` before it execs cmd) killed by a signal
# runs the EXIT trap too.
cleanup() {
  [ "$BASHPID" = "$$" ] || return 0
  [ -n "$srv" ] && kill "$srv" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

root=$tmp/www
mkdir -p "$root/acme/tiny-bert/resolve/main" "$root/acme/no-config/resolve/main"
"$mk" "$root/acme/tiny-bert/resolve/main" 9 || fail "tiny encoder"
cp "$root/acme/tiny-bert/resolve/main/vocab.txt" "$root/acme/no-config/resolve/main/"

# A tiny server bound to 127.0.0.1 on a free port; it writes the port to a file. Besides the
# files under root: /acme/redir/... answers 302 (with a 5-byte body and its Content-Length)
# to /acme/chunked/..., which sends the same file of acme/tiny-bert chunked (no length); /acme/endless/... sends a chunked body that never
# ends; /acme/trickle/... sends one byte of a chunked body every 50 ms.
"$py" - "$root" "$tmp/port" <<'PY' &
import functools, http.server, sys, threading, time

class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a, **k):
        pass
    def chunked(self, piece, pause, once=False):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                if once:
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if pause:
                    time.sleep(pause)
        except OSError:
            self.close_connection = True
    def do_GET(self):
        if self.path.startswith("/acme/redir/"):
            self.send_response(302)
            self.send_header("Location", self.path.replace("/acme/redir/", "/acme/chunked/"))
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"moved")
        elif self.path.startswith("/acme/chunked/"):
            path = sys.argv[1] + self.path.replace("/acme/chunked/", "/acme/tiny-bert/")
            try:
                data = open(path, "rb").read()
            except OSError:
                self.send_error(404)
                return
            self.chunked(data, 0, once=True)
        elif self.path.startswith("/acme/endless/"):
            self.chunked(b"x" * 65536, 0)
        elif self.path.startswith("/acme/trickle/"):
            self.chunked(b"x", 0.05)
        else:
            super().do_GET()

handler = functools.partial(Handler, directory=sys.argv[1])
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
httpd.daemon_threads = True
open(sys.argv[2], "w").write(str(httpd.server_address[1]))
threading.Thread(target=httpd.serve_forever, daemon=True).start()
time.sleep(120)  # stops by itself after two minutes
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

# A redirect whose own response carries a Content-Length: the final response's counts.
"$src/scripts/fetch-model.sh" acme/redir "$tmp/dl3" >/dev/null 2>"$tmp/err" || fail "fetch through a redirect: $(cat "$tmp/err")"
cmp -s "$tmp/dl3/model.safetensors" "$root/acme/tiny-bert/resolve/main/model.safetensors" || fail "redirected file differs"

# An endless body stops at LECTOR_FETCH_MAX_BYTES, exit 1, nothing left.
LECTOR_FETCH_MAX_BYTES=1000000 "$src/scripts/fetch-model.sh" acme/endless "$tmp/dl4" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] || fail "endless body: exit $rc, $(cat "$tmp/err")"
grep -q "LECTOR_FETCH_MAX_BYTES" "$tmp/err" || fail "endless body message: $(cat "$tmp/err")"
[ ! -e "$tmp/dl4" ] || fail "endless body left $(ls -A "$tmp/dl4")"

# A body that never finishes stops at LECTOR_FETCH_MAX_TIME, exit 1, nothing left.
LECTOR_FETCH_MAX_TIME=1 "$src/scripts/fetch-model.sh" acme/trickle "$tmp/dl5" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] || fail "trickle: exit $rc, $(cat "$tmp/err")"
grep -q "LECTOR_FETCH_MAX_TIME" "$tmp/err" || fail "trickle message: $(cat "$tmp/err")"
[ ! -e "$tmp/dl5" ] || fail "trickle left $(ls -A "$tmp/dl5")"

# SIGTERM mid-download: the .part file goes, and so does the folder the run created.
"$src/scripts/fetch-model.sh" acme/trickle "$tmp/dl6" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -e "$tmp/dl6/config.json.part" ] && break; sleep 0.05; done
[ -e "$tmp/dl6/config.json.part" ] || fail "no .part file while downloading"
kill -TERM "$pid"
wait "$pid"
rc=$?
[ $rc -eq 143 ] || fail "SIGTERM: exit $rc"
[ ! -e "$tmp/dl6" ] || fail "SIGTERM left $(ls -A "$tmp/dl6")"

# Offline (nothing listens): one line, exit 1, no folder.
free_port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LECTOR_HUB_URL=http://127.0.0.1:$free_port "$src/scripts/fetch-model.sh" acme/tiny-bert "$tmp/dl7" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] || fail "offline: exit $rc, $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "offline: not one line: $(cat "$tmp/err")"
grep -q LECTOR_ENCODER "$tmp/err" || fail "offline message gives no way out: $(cat "$tmp/err")"
[ ! -e "$tmp/dl7" ] || fail "offline left $(ls -A "$tmp/dl7")"
echo "fetch-model: 1 passed, 0 failed"
