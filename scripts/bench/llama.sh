#!/usr/bin/env bash
# llama.cpp as a peer in the benchmarks: the npm package node-llama-cpp carries the sources of
# a llama.cpp release as a git bundle; this installs the package into build-bench/llama/npm
# (without its install scripts), clones the bundle into build-bench/llama/src and builds
# llama-embedding (CPU only, about 10+ minutes on 2 cores) into build-bench/llama/build.
# hf_to_gguf.py converts a checkpoint with the gguf-py package of those sources.
#
#   scripts/bench/llama.sh build
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="$root/build-bench/llama"
version=3.21.1 # npm node-llama-cpp; its bundle is the llama.cpp release it names
[ "${1:-}" = build ] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
mkdir -p "$dir/npm"
bundle="$dir/npm/node_modules/node-llama-cpp/llama/gitRelease.bundle"
if [ ! -f "$bundle" ]; then
  (cd "$dir/npm" && { [ -f package.json ] || echo '{"private":true}' > package.json; } &&
   npm install --ignore-scripts --no-save --no-audit --no-fund -E "node-llama-cpp@$version" >&2)
fi
[ -d "$dir/src" ] || git clone -q "$bundle" "$dir/src"
cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_OPENMP=OFF >/dev/null
nice cmake --build "$dir/build" -j "$(nproc)" --target llama-embedding >/dev/null
echo "$dir/build/bin/llama-embedding"
