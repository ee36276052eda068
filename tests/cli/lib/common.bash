# Shared start of the command-line tests (sourced, not a test itself): the python3 to use,
# the paths ctest passes, the shared data's folder, a temporary directory (removed on exit)
# holding the feature cache, the pass/fail counters and the checks the tests share.
set -uo pipefail
# Debian's python3 (with python3-numpy), whatever else is first on PATH.
py=${LECTOR_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
bin=${LECTOR_BIN:?LECTOR_BIN not set}
src=${LECTOR_SOURCE_DIR:?}
mk=${LECTOR_MAKE_TINY:?}
# The shared data (models, corpora): $LECTOR_SHARED, else the folder the build was configured
# with. A test that needs some of it calls need_shared with their paths inside it.
shared=${LECTOR_SHARED:-${LECTOR_SHARED_DEFAULT:-}}
need_shared() { # need_shared PATH...: report the test skipped (exit 77) unless each exists
  local p
  for p in "$@"; do
    if [ -z "$shared" ] || [ ! -e "$shared/$p" ]; then
      echo "SKIPPED: no $p in the shared data (set LECTOR_SHARED)"
      exit 77
    fi
  done
}
tmp=$(mktemp -d)
export XDG_CACHE_HOME=$tmp/cache # keep the feature cache inside the test
# Only this shell removes it: a forked child (`cmd &` before it execs cmd) killed by a signal
# runs the EXIT trap too, which would remove the folder under the test.
trap 'if [ "$BASHPID" = "$$" ]; then rm -rf "$tmp"; fi' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
# Run a command with stdout in $tmp/out and stderr in $tmp/err; pass when it exits with want.
expect_rc() {
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else bad "exit $rc (want $want): $* -- $(head -c 300 "$tmp/err")"; fi
}
# Pass when the last command's stderr ($tmp/err) contains the string.
expect_err() { grep -q -- "$1" "$tmp/err" && ok || bad "stderr lacks '$1': $(head -c 300 "$tmp/err")"; }
# same_report TRAIN_STDERR EVAL_JSON KEYS...: succeed when eval's figures (the keys) are those
# of the last JSON report in train's stderr.
same_report() {
  "$py" - "$@" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
t = json.loads(lines[-1]); e = json.load(open(sys.argv[2]))
for k in sys.argv[3:]:
    assert t[k] == e[k], (k, t[k], e[k])
PY
}
