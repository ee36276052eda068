#!/usr/bin/env bash
# Download a Hugging Face checkpoint's files into a local directory, for use as --encoder.
#
#   scripts/fetch-model.sh MODEL_ID [DIR]
#
# MODEL_ID is a hub id such as sentence-transformers/all-MiniLM-L6-v2; DIR defaults to
# models/<name>. The base URL is $LECTOR_HUB_URL (default https://huggingface.co); files are
# fetched from $LECTOR_HUB_URL/MODEL_ID/resolve/main/FILE.
#
# Each file goes to FILE.part first and is renamed into place only when complete and of the
# size the final response (after redirects) announced. Each file is bounded: at most
# $LECTOR_FETCH_MAX_BYTES bytes (default 2 GiB) and $LECTOR_FETCH_MAX_TIME seconds (default
# 3600). On any failure or interruption (SIGINT, SIGTERM, SIGHUP) the .part file and every file
# this run fetched are removed, and DIR too when this run created it: nothing is left behind.
# Exit status: 0 ok, 1 download failed, 2 usage error, 130/143 interrupted.
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
max_bytes=${LECTOR_FETCH_MAX_BYTES:-2147483648}
max_time=${LECTOR_FETCH_MAX_TIME:-3600}
case "$max_bytes$max_time" in
  *[!0-9]*|'') echo "fetch-model: LECTOR_FETCH_MAX_BYTES and LECTOR_FETCH_MAX_TIME must be whole numbers" >&2; exit 2 ;;
esac
command -v curl >/dev/null || { echo "fetch-model: curl is needed (apt-get install curl)" >&2; exit 1; }

# --- cleanup: whatever this run created goes away unless it finished ------------------------
part=          # the file being downloaded
curl_pid= head_pid=
fetched=()     # files this run put in place
made_dirs=()   # directories this run created (deepest last)
scratch=$(mktemp -d)
done_ok=
cleanup() {
  for p in $curl_pid $head_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$part" ] && rm -f "$part"
  if [ -z "$done_ok" ]; then
    for f in "${fetched[@]}"; do rm -f "$f"; done
  fi
  # Directories this run created and left empty (a failed run, an absent optional file).
  for ((i = ${#made_dirs[@]} - 1; i >= 0; i--)); do rmdir "${made_dirs[$i]}" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# make_dir D: mkdir -p, remembering each directory it creates.
make_dir() {
  local d=$1 missing=()
  while [ ! -d "$d" ]; do missing+=("$d"); d=$(dirname "$d"); done
  for ((i = ${#missing[@]} - 1; i >= 0; i--)); do
    mkdir "${missing[$i]}" && made_dirs+=("${missing[$i]}")
  done
}

# fetch FILE [optional]: download one file; returns 1 if optional and absent (HTTP 404),
# exits 1 on any other failure.
fetch() {
  local file=$1 optional=${2:-} url="$base/$id/resolve/main/$1" out="$dir/$1"
  local headers=$scratch/headers errs=$scratch/curl-errors rc=0
  make_dir "$(dirname "$out")"
  part=$out.part
  # The body goes through head -c, which stops an endless or oversized body at the limit
  # whatever the server announced; --max-filesize refuses an announced oversize at once.
  # Both run in the background so that a signal is handled at once (the trap ends them).
  rm -f "$scratch/body" "$headers"; mkfifo "$scratch/body"
  head -c $((max_bytes + 1)) <"$scratch/body" >"$part" &
  head_pid=$!
  curl -sS -L --connect-timeout 15 --max-time "$max_time" --max-filesize "$max_bytes" \
    -D "$headers" -o "$scratch/body" "$url" 2>"$errs" &
  curl_pid=$!
  wait "$curl_pid" || rc=$?
  curl_pid=
  # A curl that never opened the pipe (no connection) leaves head waiting for a writer:
  # open it read-write for a moment (never blocks) so that head sees the end.
  exec 3<>"$scratch/body"; exec 3>&-
  wait "$head_pid" || true
  head_pid=
  # The final response's status and Content-Length (each response's headers start with its
  # status line; a redirect's own Content-Length is not the file's).
  local code want got
  read -r code want < <(tr -d '\r' <"$headers" 2>/dev/null |
    awk '/^HTTP\//{c=$2; n=""} tolower($1)=="content-length:"{n=$2} END{print (c==""?"000":c), n}')
  got=$(stat -c %s "$part")
  if [ "$got" -gt "$max_bytes" ] || [ "$rc" = 63 ]; then
    echo "fetch-model: $url: larger than $max_bytes bytes (LECTOR_FETCH_MAX_BYTES), stopped" >&2
    exit 1
  fi
  if [ "$rc" = 28 ]; then
    echo "fetch-model: $url: not done after $max_time s (LECTOR_FETCH_MAX_TIME), stopped" >&2
    exit 1
  fi
  if [ "$code" = 404 ] && [ -n "$optional" ]; then
    rm -f "$part"; part=
    return 1
  fi
  if [ "$code" = 000 ] || { [ "$rc" != 0 ] && [ "$code" = 200 ]; }; then
    local why
    why=$(grep -m1 -o 'curl: ([0-9]*) .*' "$errs" | sed 's/^curl: ([0-9]*) //')
    echo "fetch-model: cannot download $url: ${why:-curl exit $rc}; offline? point LECTOR_ENCODER (or --encoder) at a local checkpoint instead" >&2
    exit 1
  fi
  if [ "$code" != 200 ]; then
    echo "fetch-model: $url: HTTP $code" >&2
    exit 1
  fi
  if [ -n "$want" ] && [ "$want" != "$got" ]; then
    echo "fetch-model: $url: got $got bytes, expected $want" >&2
    exit 1
  fi
  mv "$part" "$out"
  part=
  fetched+=("$out")
  echo "fetched $out ($got bytes)" >&2
}

make_dir "$dir"
fetch config.json
for f in vocab.txt tokenizer_config.json special_tokens_map.json tokenizer.json modules.json \
         1_Pooling/config.json sentence_bert_config.json; do
  fetch "$f" optional || true
done
if ! fetch model.safetensors optional; then
  fetch pytorch_model.bin
fi
done_ok=1
echo "$dir"
