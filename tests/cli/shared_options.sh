#!/usr/bin/env bash
# The options several commands take (--threads, --precision, --max-windows, --cache-max-size,
# --shard, ...) are one definition: a bad value is refused with the same message and exit
# status 2 by every command that takes the option, and every command's --help lists the
# shared options it accepts. No encoder is needed: option values are checked first.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

# refused MESSAGE COMMAND... -- ARGS...: each command exits 2 with "lector: error: MESSAGE"
# then "try 'lector COMMAND --help'" on stderr, and nothing on stdout.
refused() {
  local msg=$1; shift
  local cmds=()
  while [ "$1" != -- ]; do cmds+=("$1"); shift; done
  shift
  for c in "${cmds[@]}"; do
    "$bin" "$c" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local rc=$?
    printf 'lector: error: %s\ntry '\''lector %s --help'\''\n' "$msg" "$c" >"$tmp/want"
    if [ $rc -eq 2 ] && cmp -s "$tmp/err" "$tmp/want" && [ ! -s "$tmp/out" ]; then ok; else
      bad "lector $c $*: exit $rc, stderr: $(cat "$tmp/err") (want: $msg)"; fi
  done
}

refused "--threads must be between 1 and 1024, got 0" train eval embed classify featurise -- --threads 0
refused "--threads expects an integer, got 'many'" train eval embed classify featurise -- -t many
refused "--precision must be fp32, bf16 or int8, got 'fp16'" embed classify eval -- --precision fp16
refused "--max-windows must be between 0 and 2147483647, got -1" train eval embed classify featurise -- \
  --max-windows -1
refused "--stride expects an integer, got '4x'" train embed featurise -- --stride 4x
refused "--doc-pooling must be mean or max, got 'truncate'" train embed featurise -- --doc-pooling truncate
refused "--cache-max-size expects a byte count such as 500M or 4G, got '2X'" train eval featurise -- \
  --cache-max-size 2X
refused "--shard N must be between 1 and 2147483647, got 0" classify featurise -- --shard 0/0
refused "--shard expects I/N, got '3'" classify featurise -- --shard 3
refused "--label-names needs a file (or none to keep integer labels)" train eval -- --label-names ""
refused "option '--threads' needs a value" train eval embed classify featurise -- --threads
refused "unknown option '--threds'; did you mean --threads?" train eval embed classify featurise -- --threds 2
refused "unknown option '--threads'" tokenize info -- --threads 2

# --help: on stdout, exit 0, and each shared option a command takes is listed in it once
helps() {
  local c=$1; shift
  "$bin" "$c" --help >"$tmp/help" 2>"$tmp/err" && ok || bad "$c --help: $(cat "$tmp/err")"
  for o in "$@"; do
    [ "$(grep -cE -- "^  (-[a-z], |    )$o( |$)" "$tmp/help")" -eq 1 ] && ok || bad "$c --help does not list $o once"
  done
}
helps train --encoder --threads --progress --verify-checksum --quiet --help --cache --no-cache \
  --cache-max-size --stride --max-windows --doc-pooling --truncate --text-column --label-column --label-names
helps eval --encoder --threads --precision --progress --verify-checksum --quiet --help --cache --no-cache \
  --cache-max-size --max-windows --text-column --label-column --label-names
helps embed --encoder --threads --precision --progress --verify-checksum --quiet --help --strict --stride \
  --max-windows --doc-pooling --truncate
helps classify --encoder --threads --precision --progress --verify-checksum --quiet --help --strict --shard \
  --max-windows
helps featurise --encoder --threads --progress --verify-checksum --quiet --help --shard --cache \
  --cache-max-size --stride --max-windows --doc-pooling --truncate --text-column
helps tokenize --encoder --strict --quiet --help
helps info --verify-checksum --help
helps cache --quiet --help
# the same option reads the same in every command's --help (the columns aside)
block() {
  "$bin" "$1" --help | awk -v o="$2" '$0 ~ "^  (-[a-z], |    )" o "( |$)" {p = 1; print; next}
                                       p && /^          / {print; next} {p = 0}' | tr -s ' '
}
for o in --threads --verify-checksum --quiet --max-windows --cache-max-size --doc-pooling; do
  block train "$o" >"$tmp/first"
  [ -s "$tmp/first" ] && ok || bad "train --help lacks $o"
  for c in eval embed classify featurise; do
    block "$c" "$o" >"$tmp/other"
    [ ! -s "$tmp/other" ] || cmp -s "$tmp/first" "$tmp/other" && ok || bad "$o reads differently in $c --help"
  done
done

echo "shared options: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
