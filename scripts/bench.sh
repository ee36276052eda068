#!/usr/bin/env bash
# Encoder speed: lector against ONNX Runtime (onnxruntime-node, CPU, all graph
# optimisations) and, when installed, PyTorch, on random BERT-base and MiniLM-L6
# checkpoints, with the same ids and thread count. A benchmark, not a test.
#
#   scripts/bench.sh [--threads N] [--repeat R] [--models base,minilm] [--cases LIST]
#                    [--no-torch]
#
# Builds lector in build-bench/, installs what it needs (Debian python3-torch and
# python3-onnx, npm onnxruntime-node into scripts/bench/node_modules), writes the
# checkpoints and their ONNX exports to $LECTOR_BENCH_DIR (default build-bench/models), and
# prints one table per model: median ms and sentences/s per case, the lector/ORT speed
# ratio (> 1: lector faster) and the max abs difference of the hidden states, then lector's
# peak RSS (bench_encoder's own process: weights, packed weights and activations).
#
# OpenBLAS picks its kernels from the CPU (or OPENBLAS_CORETYPE); the table records the
# core in use. To compare cores, run e.g. `env -u OPENBLAS_CORETYPE scripts/bench.sh`.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
threads="$(nproc)"
repeat=5
warmup=1
models="base,minilm"
cases="1x128,8x128,32x32,1x512"
torch=1
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --cases) cases="$2"; shift 2 ;;
    --no-torch) torch=0; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

py=/usr/bin/python3 # Debian's interpreter, where python3-torch lives
build="$root/build-bench"
work="${LECTOR_BENCH_DIR:-$build/models}"

# --- dependencies --------------------------------------------------------------------
if ! "$py" -c 'import torch, onnx' 2>/dev/null; then
  echo "bench.sh: installing python3-torch python3-onnx" >&2
  apt-get install -y python3-torch python3-onnx >&2
fi
if [ ! -d "$here/bench/node_modules/onnxruntime-node" ]; then
  echo "bench.sh: installing onnxruntime-node" >&2
  # the package's install step only fetches GPU binaries; the CPU ones are in the package
  (cd "$here/bench" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --no-audit --no-fund \
     onnxruntime-node@latest >&2)
fi
ort_version="$(node -p 'require(process.argv[1]).version' \
  "$here/bench/node_modules/onnxruntime-node/package.json")"

# --- lector ---------------------------------------------------------------------------
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_encoder >/dev/null
bench="$build/tests/bench_encoder"

geometry() { # name -> make_checkpoint.py arguments
  case "$1" in
    base) echo "--layers 12 --hidden 768 --heads 12 --ff 3072" ;;
    minilm) echo "--layers 6 --hidden 384 --heads 12 --ff 1536" ;;
    *) echo "bench.sh: unknown model $1 (base, minilm)" >&2; exit 2 ;;
  esac
}

IFS=, read -r -a case_list <<< "$cases"
IFS=, read -r -a model_list <<< "$models"
echo "threads $threads, median of $repeat runs after $warmup warm-up; onnxruntime-node $ort_version"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}"
for model in "${model_list[@]}"; do
  dir="$work/$model"
  if [ ! -f "$dir/model.onnx" ] || [ ! -f "$dir/model.safetensors" ]; then
    # shellcheck disable=SC2046
    "$py" "$here/bench/make_checkpoint.py" "$dir" $(geometry "$model") 2>/dev/null
  fi
  io="$(mktemp -d)"
  lector_out="$("$bench" --threads "$threads" --repeat "$repeat" --warmup "$warmup" \
                --cases "$cases" --save "$io" "$dir")"
  ort_out="$(cd "$here/bench" && node ort.mjs "$dir" "$io" "$threads" "$repeat" "$warmup" \
             "${case_list[@]}")"
  torch_out=""
  if [ "$torch" = 1 ] && "$py" -c 'import torch' 2>/dev/null; then
    torch_out="$("$py" "$here/bench/torch_run.py" "$dir" "$io" "$threads" "$repeat" "$warmup" \
                 "${case_list[@]}" 2>/dev/null || true)"
  fi
  rm -rf "$io"
  echo
  echo "$lector_out" | head -1
  printf '%-10s %12s %12s %12s %9s %12s %12s %12s\n' case "lector ms" "ort ms" "torch ms" \
         "lector/ort" "lector s/s" "diff ort" "diff torch"
  for c in "${case_list[@]}"; do
    B="${c%x*}"; T="${c#*x}"
    lms="$(echo "$lector_out" | awk -v b="B=$B" -v t="T=$T" '$1=="case" && $2==b && $3==t {print $4}')"
    lsps="$(echo "$lector_out" | awk -v b="B=$B" -v t="T=$T" '$1=="case" && $2==b && $3==t {print $6}')"
    read -r oms odiff < <(echo "$ort_out" | awk -v b="$B" -v t="$T" '$2==b && $3==t {print $4, $6}')
    read -r tms tdiff < <(echo "$torch_out" | awk -v b="$B" -v t="$T" '$2==b && $3==t {print $4, $6}' ; echo)
    ratio="$(awk -v l="$lms" -v o="$oms" 'BEGIN { if (l > 0) printf "%.2fx", o / l }')"
    printf '%-10s %12s %12s %12s %9s %12s %12s %12s\n' "$c" "$lms" "$oms" "${tms:--}" "$ratio" \
           "$lsps" "$odiff" "${tdiff:--}"
  done
  echo "lector $(echo "$lector_out" | grep '^rss')"
done
