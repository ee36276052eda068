#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then build docs/examples/classify.c against the
# installed library twice (pkg-config, and CMake's find_package), run it on a model trained
# by the installed CLI, and check it is valgrind-clean when valgrind is there; build and run
# docs/examples/train.c, whose model must equal the CLI's byte for byte.
set -uo pipefail
build=${LECTOR_BUILD_DIR:?}
src=${LECTOR_SOURCE_DIR:?}
mk=${LECTOR_MAKE_TINY:?}
if [ "${LECTOR_SANITIZED:-OFF}" = ON ]; then echo "skipped: sanitizer build (the example links uninstrumented)"; exit 77; fi
tmp=$(mktemp -d)
export XDG_CACHE_HOME=$tmp/cache # keep the feature cache inside the test
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null || fail "cmake --install"
for f in bin/lector include/lector/classifier.h share/man/man1/lector.1 \
         share/lector/vocab/README.md share/lector/vocab/bert-base-uncased/vocab.txt \
         share/lector/vocab/roberta-base/merges.txt share/lector/vocab/xlnet-base-cased/spiece.model; do
  [ -e "$tmp/prefix/$f" ] || fail "not installed: $f"
done
# vocab/ at run time: the installed binary looks in <prefix>/share/lector/vocab first (a
# folder only there is found), and LECTOR_VOCAB_DIR wins over it.
cp -r "$tmp/prefix/share/lector/vocab/bert-base-cased" "$tmp/prefix/share/lector/vocab/only-installed"
got=$(printf 'Hello\n' | env -u LECTOR_VOCAB_DIR "$tmp/prefix/bin/lector" tokenize --vocab only-installed 2>&1)
case "$got" in *'"ids":[101,8667,102]'*) ;; *) fail "installed vocab/ not found: $got" ;; esac
mkdir -p "$tmp/v/other" && cp "$src/vocab/bert-base-uncased/"* "$tmp/v/other/"
got=$(printf 'Hello\n' | LECTOR_VOCAB_DIR=$tmp/v "$tmp/prefix/bin/lector" tokenize --vocab other 2>&1)
case "$got" in *'"ids":[101,7592,102]'*) ;; *) fail "LECTOR_VOCAB_DIR not used: $got" ;; esac
printf 'Hello\n' | LECTOR_VOCAB_DIR=$tmp/v "$tmp/prefix/bin/lector" tokenize --vocab only-installed >/dev/null 2>&1 &&
  fail "LECTOR_VOCAB_DIR set, yet the installed vocab/ was searched too"

lib=$(find "$tmp/prefix" -name liblector.a | head -n 1)
[ -n "$lib" ] || fail "liblector.a not installed"
pcdir=$(dirname "$(find "$tmp/prefix" -name lector.pc | head -n 1)")

export PKG_CONFIG_PATH=$pcdir
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$src/docs/examples/classify.c" \
   $(pkg-config --cflags --libs --static lector) -o "$tmp/classify_pc" || fail "example does not build with pkg-config"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$src/docs/examples/train.c" \
   $(pkg-config --cflags --libs --static lector) -o "$tmp/train_pc" || fail "train example does not build"

mkdir -p "$tmp/cm"
cat >"$tmp/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(example C)
find_package(lector REQUIRED)
add_executable(classify_cm "$src/docs/examples/classify.c")
target_link_libraries(classify_cm PRIVATE lector::lector)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null &&
  cmake --build "$tmp/cm/build" >/dev/null || fail "example does not build with find_package(lector)"

mkdir -p "$tmp/enc" && "$mk" "$tmp/enc" 3 || fail "tiny encoder"
"$tmp/prefix/bin/lector" train --quiet --encoder "$tmp/enc" --train "$src/corpora/demo-sentiment/train.csv" \
  --epochs 3 --output "$tmp/m.lector" || fail "installed lector train"
out=$("$tmp/classify_pc" "$tmp/m.lector" "a wonderful film" "dull and boring") || fail "example run"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ] || fail "example output: $out"
cli=$(printf 'a wonderful film\ndull and boring\n' | "$tmp/prefix/bin/lector" classify --model "$tmp/m.lector")
[ "$out" = "$cli" ] || fail "example and CLI disagree: '$out' vs '$cli'"
"$tmp/cm/build/classify_cm" "$tmp/m.lector" "a wonderful film" >/dev/null || fail "find_package example run"

# the training example and the CLI with the same options write the same model bytes
demo=$src/corpora/demo-sentiment
"$tmp/train_pc" "$tmp/enc" "$demo/train.csv" "$demo/test.csv" "$tmp/ex.lector" 3 >"$tmp/ex.out" 2>"$tmp/ex.err" ||
  fail "train example run: $(cat "$tmp/ex.err")"
grep -q "^test accuracy" "$tmp/ex.out" || fail "train example output: $(cat "$tmp/ex.out")"
[ "$(grep -c '^epoch' "$tmp/ex.err")" -eq 3 ] || fail "train example events: $(cat "$tmp/ex.err")"
"$tmp/prefix/bin/lector" train --quiet --encoder "$tmp/enc" --train "$demo/train.csv" --epochs 3 --no-cache \
  --output "$tmp/cli.lector" || fail "CLI train without cache"
cmp -s "$tmp/ex.lector" "$tmp/cli.lector" || fail "train example and CLI models differ"
cmp -s "$tmp/m.lector" "$tmp/cli.lector" || fail "the feature cache changed the model"

if command -v valgrind >/dev/null; then
  valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "$tmp/classify_pc" "$tmp/m.lector" "a wonderful film" >/dev/null 2>"$tmp/vg"
  rc=$?
  [ $rc -eq 0 ] || fail "valgrind reports errors (exit $rc): $(head -c 2000 "$tmp/vg")"
  valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "$tmp/train_pc" "$tmp/enc" "$demo/train.csv" "$demo/test.csv" "$tmp/vg.lector" 1 >/dev/null 2>"$tmp/vg"
  rc=$?
  [ $rc -eq 0 ] || fail "valgrind reports errors in the train example (exit $rc): $(head -c 2000 "$tmp/vg")"
  echo "valgrind: clean"
else
  echo "valgrind not installed: leak check not run"
fi
echo "install: 1 passed, 0 failed"
