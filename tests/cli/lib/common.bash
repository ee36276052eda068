# Shared start of the command-line tests (sourced, not a test itself): the python3 to use,
# the paths ctest passes, a temporary directory (removed on exit) holding the feature cache,
# and the pass/fail counters.
set -uo pipefail
# Debian's python3 (with python3-numpy), whatever else is first on PATH.
py=${LECTOR_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
bin=${LECTOR_BIN:?LECTOR_BIN not set}
src=${LECTOR_SOURCE_DIR:?}
mk=${LECTOR_MAKE_TINY:?}
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
