#!/usr/bin/env bash
# Download a Hugging Face checkpoint's files into a local directory, for use as --encoder.
#
#   scripts/fetch-model.sh MODEL_ID [DIR]
#
# MODEL_ID is a hub id such as sentence-transformers/all-MiniLM-L6-v2; DIR defaults to
# models/<name>. The base URL is $LECTOR_HUB_URL (default https://huggingface.co); files are
# fetched from $LECTOR_HUB_URL/MODEL_ID/resolve/main/FILE. Each file goes to FILE.part first
# and is renamed into place only when complete and of the size the server announced, so an
# interrupted download never leaves a truncated weight file behind.
set -euo pipefail

usage() { echo "usage: scripts/fetch-model.sh MODEL_ID [DIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
case "$1" in -h|--help) echo "usage: scripts/fetch-model.sh MODEL_ID [DIR]"; exit 0 ;; esac
id=$1
case "$id" in
  */*) ;;
  *) echo "fetch-model: MODEL_ID must look like owner/name, got '$id'" >&2; exit 2 ;;
esac
case "$id" in *..*|/*) echo "fetch-model: bad MODEL_ID '$id'" >&2; exit 2 ;; esac
dir=${2:-models/${id##*/}}
base=${LECTOR_HUB_URL:-https://huggingface.co}
command -v curl >/dev/null || { echo "fetch-model: curl is needed (apt-get install curl)" >&2; exit 1; }
mkdir -p "$dir"

# fetch FILE [optional]: download one file; returns 1 if optional and absent.
fetch() {
  local file=$1 optional=${2:-} url="$base/$id/resolve/main/$1" out="$dir/$1"
  mkdir -p "$(dirname "$out")"
  local headers code
  headers=$(mktemp)
  code=$(curl -sS -L --connect-timeout 15 --retry 2 -D "$headers" -o "$out.part" -w '%{http_code}' "$url" || true)
  [ -n "$code" ] || code=000
  if [ "$code" != 200 ]; then
    rm -f "$out.part" "$headers"
    if [ -n "$optional" ] && [ "$code" = 404 ]; then return 1; fi
    echo "fetch-model: $url: HTTP $code" >&2
    return 2
  fi
  # The last Content-Length seen (after redirects) is the file's size.
  local want got
  want=$(tr -d '\r' < "$headers" | awk 'tolower($1)=="content-length:"{n=$2} END{print n}')
  rm -f "$headers"
  got=$(stat -c %s "$out.part")
  if [ -n "$want" ] && [ "$want" != "$got" ]; then
    rm -f "$out.part"
    echo "fetch-model: $url: got $got bytes, expected $want" >&2
    return 2
  fi
  mv "$out.part" "$out"
  echo "fetched $out ($got bytes)" >&2
}

fetch config.json
for f in vocab.txt tokenizer_config.json special_tokens_map.json tokenizer.json modules.json \
         1_Pooling/config.json sentence_bert_config.json; do
  fetch "$f" optional || { rc=$?; [ $rc -eq 1 ] || exit 1; }
done
if ! fetch model.safetensors optional; then
  fetch pytorch_model.bin
fi
echo "$dir"
