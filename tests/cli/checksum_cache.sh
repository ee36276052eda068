#!/usr/bin/env bash
# The encoder checksum cache from the command line: an unchanged encoder is checked from
# the entry under $XDG_CACHE_HOME/lector/checksums (an entry whose digest was replaced is
# believed), and --verify-checksum or LECTOR_VERIFY_CHECKSUM=1 hash the files again and
# put the true digest back. The expected digest comes from sha256sum, not from lector.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
sha_of() { "$bin" info "$@" "$tmp/enc" | awk '$1 == "sha256" {print $2}'; }
entries() { find "$XDG_CACHE_HOME/lector/checksums" -type f 2>/dev/null; }

mkdir -p "$tmp/enc" && "$mk" "$tmp/enc" 3 || exit 1
want=$(cat "$tmp/enc/config.json" "$tmp/enc/model.safetensors" | sha256sum | cut -d' ' -f1)
# Files changed less than a second before hashing are not remembered (their timestamps
# cannot yet tell a later write apart).
[ "$(sha_of)" = "$want" ] && ok || bad "first open: $(sha_of) != $want"
[ -z "$(entries)" ] && ok || bad "entry written for files changed just now"
sleep 1.2
[ "$(sha_of)" = "$want" ] && ok || bad "settled open"
entry=$(entries)
[ "$(echo "$entry" | wc -l)" = 1 ] && [ -s "$entry" ] && ok || bad "one entry expected: $entry"
tail -n 1 "$entry" | grep -qx "sha256 $want" && ok || bad "entry: $(cat "$entry")"

fake=$(printf 'f%.0s' $(seq 64))
sed -i "\$s/.*/sha256 $fake/" "$entry"
[ "$(sha_of)" = "$fake" ] && ok || bad "the entry is not what was used"
[ "$(sha_of --verify-checksum)" = "$want" ] && ok || bad "--verify-checksum did not hash"
[ "$(sha_of)" = "$want" ] && ok || bad "--verify-checksum did not rewrite the entry"
sed -i "\$s/.*/sha256 $fake/" "$entry"
[ "$(LECTOR_VERIFY_CHECKSUM=1 sha_of)" = "$want" ] && ok || bad "LECTOR_VERIFY_CHECKSUM=1 did not hash"
[ "$(LECTOR_VERIFY_CHECKSUM=0 sha_of)" = "$want" ] && ok || bad "entry not rewritten by the env var"

# A weight changed in place (same size) is hashed again.
w=$tmp/enc/model.safetensors
printf '\x7f' | dd of="$w" bs=1 seek=$(($(stat -c %s "$w") - 2)) conv=notrunc status=none
want2=$(cat "$tmp/enc/config.json" "$w" | sha256sum | cut -d' ' -f1)
[ "$want2" != "$want" ] && [ "$(sha_of)" = "$want2" ] && ok || bad "changed weights: $(sha_of) != $want2"

# An unusable cache folder costs only the hashing.
XDG_CACHE_HOME=$tmp/enc/config.json
[ "$(sha_of)" = "$want2" ] && ok || bad "with a cache folder that cannot be made"

echo "checksum_cache: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
