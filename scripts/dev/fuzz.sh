#!/usr/bin/env bash
# Run every libFuzzer target for SECONDS each (default 60) under ASan + UBSan.
#
#   scripts/dev/fuzz.sh [SECONDS] [TARGET...]
#
# Builds with clang and -DLECTOR_FUZZ=ON in build-fuzz/, starts each target from its saved
# seed corpus (tests/fuzz/corpus/<name>/, read-only here: new inputs go to a scratch folder),
# and prints one summary line per target: executions, coverage and features. A crash stops
# with the reproducer's path; copy it into tests/fuzz/corpus/<name>/ so that the replay tests
# keep it as a regression test.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
shift || true
command -v clang >/dev/null || { echo "fuzz: clang is needed (apt-get install clang)" >&2; exit 1; }
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLECTOR_FUZZ=ON \
  -DBUILD_TESTING=ON >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi
cmake --build build-fuzz -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]/#/fuzz_}" >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export XDG_CACHE_HOME="$scratch/cache" # encoder checksum entries stay in the scratch folder
status=0
n_ok=0
n_bad=0
printf '%-16s %12s %10s %10s %s\n' target executions coverage features result
for t in "${targets[@]}"; do
  bin=$(find build-fuzz -name "fuzz_$t" -type f -perm -u+x | head -n 1)
  mkdir -p "$scratch/$t"
  log=$scratch/$t.log
  if "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
      -artifact_prefix="$scratch/$t-" -print_final_stats=1 \
      "$scratch/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH: $(ls "$scratch/$t-"* 2>/dev/null | head -n 1)"
    cp "$scratch/$t-"* . 2>/dev/null || true
    status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo "?")
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo "?")
  printf '%-16s %12s %10s %10s %s\n' "$t" "$execs" "$cov" "$ft" "$result"
  if [ "$result" = ok ]; then n_ok=$((n_ok + 1)); else n_bad=$((n_bad + 1)); tail -n 30 "$log" >&2; fi
done
echo "fuzz: $n_ok passed, $n_bad failed"
exit $status
