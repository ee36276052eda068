#!/usr/bin/env bash
# The largest functions and files of the C sources, for keeping them in check:
#
#   scripts/dev/largest.sh [N] [DIR]      # N rows of each (default 10), DIR default src
#
# A function counts the lines from the line of its name to its closing brace, as universal
# ctags reports them (its `end` field; the package universal-ctags); a file counts wc -l
# lines. Both lists are largest first.
set -euo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
n=${1:-10}
dir=${2:-$(dirname "$0")/../../src}
command -v ctags > /dev/null && ctags --version 2> /dev/null | grep -q Universal ||
    { echo "$0: needs universal ctags (apt-get install universal-ctags)" >&2; exit 1; }
cd "$dir"
echo "# functions (lines)"
ctags -x --_xformat='%{end} %{line} %N %F' --kinds-C=f --languages=C -R . |
    awk '$1 != "" { printf "%5d  %s  %s:%d\n", $1 - $2 + 1, $3, $4, $2 }' | sort -rn | sed -n "1,${n}p"
echo "# files (lines)"
find . \( -name '*.c' -o -name '*.h' -o -name '*.cc' \) -print0 | xargs -0 wc -l | grep -v ' total$' |
    sort -rn | sed -n "1,${n}p"
