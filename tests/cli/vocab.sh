#!/usr/bin/env bash
# vocab/ from the command line, with no encoder and no shared data: `lector tokenize --vocab
# NAME|DIR` for each tokenizer kind (ids from tests/data/tokenizers/, made by Hugging Face
# tokenizers and sentencepiece), the errors for an unknown name and a missing vocab/, and
# `lector info` naming the vocab/ vocabulary an encoder's files are byte-identical to.
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
unset LECTOR_ENCODER LECTOR_VOCAB_DIR

# The ids of "Hello, world!" (strings.json#0) in each golden file.
golden_ids() { grep -m1 '"src":"strings.json#0"' "$src/tests/data/tokenizers/$1.jsonl" | sed 's/.*"ids":\(\[[^]]*\]\).*/\1/'; }

for name in bert-base-uncased bert-base-cased bert-base-multilingual-cased bert-base-chinese roberta-base; do
  want=$(golden_ids "$name")
  got=$(printf 'Hello, world!\n' | "$bin" tokenize --vocab "$name" 2>"$tmp/err" | sed 's/.*"ids":\(\[[^]]*\]\).*/\1/')
  [ -n "$want" ] && [ "$got" = "$want" ] && ok || bad "tokenize --vocab $name: '$got', want '$want' ($(cat "$tmp/err"))"
done
# XLNet: x <sep> <cls> after the raw pieces (this text needs no preparation).
want=$(golden_ids xlnet-base-cased | sed 's/]$/,4,3]/')
got=$(printf 'Hello, world!\n' | "$bin" tokenize --vocab xlnet-base-cased 2>"$tmp/err" | sed 's/.*"ids":\(\[[^]]*\]\).*/\1/')
[ "$got" = "$want" ] && ok || bad "tokenize --vocab xlnet-base-cased: '$got', want '$want' ($(cat "$tmp/err"))"

# A folder given as --vocab DIR, and vocab/ found through LECTOR_VOCAB_DIR.
cp -r "$src/vocab/bert-base-cased" "$tmp/mine"
got=$(printf 'Hello\n' | "$bin" tokenize --vocab "$tmp/mine" 2>&1)
case "$got" in *'"ids":[101,8667,102]'*) ok ;; *) bad "tokenize --vocab DIR: $got" ;; esac
mkdir -p "$tmp/vroot" && cp -r "$src/vocab/bert-base-cased" "$tmp/vroot/only-cased"
got=$(printf 'Hello\n' | LECTOR_VOCAB_DIR=$tmp/vroot "$bin" tokenize --vocab only-cased 2>&1)
case "$got" in *'"ids":[101,8667,102]'*) ok ;; *) bad "LECTOR_VOCAB_DIR: $got" ;; esac

# An unknown name: usage error naming the ones there.
printf 'x\n' | "$bin" tokenize --vocab bert-base-uncsaed >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "bert-base-uncased" "$tmp/err" && ok || bad "unknown --vocab name: rc $rc, $(cat "$tmp/err")"
# No vocab/ where LECTOR_VOCAB_DIR points: one error naming the place and the variable.
printf 'x\n' | LECTOR_VOCAB_DIR=$tmp/none "$bin" tokenize --vocab bert-base-uncased >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/none" "$tmp/err" && grep -q LECTOR_VOCAB_DIR "$tmp/err" && ok ||
  bad "missing vocab/: rc $rc, $(cat "$tmp/err")"
# No encoder and no --vocab: the usage error points at --vocab.
printf 'x\n' | "$bin" tokenize >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q -- "--vocab" "$tmp/err" && ok || bad "no tokenizer: rc $rc, $(cat "$tmp/err")"

# info: an encoder whose vocab.txt is byte-identical to a vocab/ folder's says so.
mkdir -p "$tmp/enc" && "$mk" "$tmp/enc" 3 >/dev/null || exit 1
mkdir -p "$tmp/v2/tiny-vocab" && cp "$tmp/enc/vocab.txt" "$tmp/v2/tiny-vocab/"
LECTOR_VOCAB_DIR=$tmp/v2 "$bin" info "$tmp/enc" >"$tmp/out" 2>&1
grep -q "byte-identical to vocab/tiny-vocab" "$tmp/out" && ok || bad "info text: $(cat "$tmp/out")"
LECTOR_VOCAB_DIR=$tmp/v2 "$bin" info --format json "$tmp/enc" >"$tmp/out" 2>&1
grep -q '"vocab_same_as":"tiny-vocab"' "$tmp/out" && ok || bad "info json: $(cat "$tmp/out")"
printf 'extra\n' >>"$tmp/v2/tiny-vocab/vocab.txt"
LECTOR_VOCAB_DIR=$tmp/v2 "$bin" info "$tmp/enc" >"$tmp/out" 2>&1
grep -q "byte-identical" "$tmp/out" && bad "info names a vocabulary that differs: $(cat "$tmp/out")" || ok

echo "vocab: $pass passed, $fail failed"
[ $fail -eq 0 ]
