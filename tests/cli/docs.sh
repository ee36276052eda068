#!/usr/bin/env bash
# The documentation says what the program says: the man page's OPTIONS section is every
# command's --help (every option and default; scripts/dev/man_options.py writes it), and every
# exit status `lector --help` lists is in the man page's EXIT STATUS section and in the
# README's "Exit status" sentence.
set -uo pipefail
bin=${LECTOR_BIN:?}
src=${LECTOR_SOURCE_DIR:?}
py=${LECTOR_PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }

"$py" "$src/scripts/dev/man_options.py" "$bin" --check && ok || bad "docs/lector.1 OPTIONS differ from --help"

# Exit statuses: "exit status: 0 ok, 1 ..., 143 terminated (SIGTERM)" in lector --help.
codes=$("$bin" --help | sed -n '/^exit status:/,/^$/p' | grep -oE '(^|[ ,:])[0-9]{1,3} ' | tr -dc '0-9\n ' | xargs)
[ -n "$codes" ] && echo "$codes" | grep -qw 143 && ok || bad "no exit statuses found in lector --help: '$codes'"
man_exit=$(sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$src/docs/lector.1")
readme_exit=$(tr '\n' ' ' <"$src/README.md" | grep -oE 'Exit status: [^.]*\.')
for c in $codes; do
  grep -qw "$c" <<<"$man_exit" && ok || bad "exit status $c is not in the man page's EXIT STATUS"
  grep -qw "$c" <<<"$readme_exit" && ok || bad "exit status $c is not in the README's exit status sentence"
done

# A default named in the README as `--option VALUE` (default) matches the help's [VALUE].
while read -r opt val; do
  [ -n "$opt" ] || continue
  helpline=$(for c in train classify eval embed tokenize; do "$bin" $c --help; done | grep -E -- "^ +(-[a-z], )?$opt " | head -n 1)
  grep -qF "[$val]" <<<"$helpline" && ok || bad "README says the default of $opt is $val; --help: $helpline"
done < <(cat "$src/README.md" "$src/docs/quickstart.md" | tr '\n' ' ' | sed 's/\. /.\n/g' | grep -i default |
         grep -oE '\(`--[a-z-]+ [a-z0-9.-]+`\)' | sed -E 's/.*\(`(--[a-z-]+) ([^`]+)`\)/\1 \2/')

echo "docs: $pass passed, $fail failed"
[ $fail -eq 0 ]
