#!/usr/bin/env bash
# Encoder speed: lector against ONNX Runtime (onnxruntime-node, CPU, all graph
# optimisations) and, when installed, PyTorch, on random BERT-base and MiniLM-L6
# checkpoints, with the same ids and thread count. A benchmark, not a test.
#
#   scripts/bench/bench.sh [--threads N] [--repeat R] [--models base,minilm] [--cases LIST]
#                    [--no-torch] [--precision int8] [--llama]
#
# Builds lector in build-bench/, installs what it needs (Debian python3-torch and
# python3-onnx, npm onnxruntime-node into scripts/bench/node_modules), writes the
# checkpoints and their ONNX exports to $LECTOR_BENCH_DIR (default build-bench/models), and
# prints one table per model: median ms and sentences/s per case, the lector/ORT speed
# ratio (> 1: lector faster) and the max abs difference of the hidden states, then lector's
# peak RSS (bench_encoder's own process: weights, packed weights and activations).
#
# --precision int8 adds a second table per model: lector with --precision int8 against ORT
# on model.int8.onnx (quantize_onnx.py: dynamic quantisation, as quantize_dynamic),
# with lector fp32 beside them, the max abs difference and the smallest cosine per token
# row between the two int8 outputs, and of each against lector's fp32 output.
#
# --llama adds llama.cpp as a peer: built once into build-bench/llama by llama.sh
# (from the sources node-llama-cpp bundles), each checkpoint converted to an f32 GGUF by
# hf_to_gguf.py, run by llama_run.cpp through libllama on the same ids with the
# same threads, and a last table per model: sentences/s of lector fp32, ORT fp32 and
# llama.cpp fp32, the ratios, and each peer's max abs difference from lector (llama.cpp's
# GELU is a tanh approximation from a table: expect about 1e-3, not 1e-5).
#
# OpenBLAS picks its kernels from the CPU (or OPENBLAS_CORETYPE); the table records the
# core in use. To compare cores, run e.g. `env -u OPENBLAS_CORETYPE scripts/bench/bench.sh`.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
threads="$(nproc)"
repeat=5
warmup=1
models="base,minilm"
cases="1x128,8x128,32x32,1x512"
torch=1
precision=fp32
llama=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --cases) cases="$2"; shift 2 ;;
    --no-torch) torch=0; shift ;;
    --precision) precision="$2"; shift 2 ;;
    --llama) llama=1; shift ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

case "$precision" in
  fp32|int8) ;;
  *) echo "bench.sh: --precision must be fp32 or int8, got $precision" >&2; exit 2 ;;
esac

py=/usr/bin/python3 # Debian's interpreter, where python3-torch lives
build="$root/build-bench"
work="${LECTOR_BENCH_DIR:-$build/models}"

# --- dependencies --------------------------------------------------------------------
if ! "$py" -c 'import torch, onnx' 2>/dev/null; then
  echo "bench.sh: installing python3-torch python3-onnx" >&2
  apt-get install -y python3-torch python3-onnx >&2
fi
if [ ! -d "$here/node_modules/onnxruntime-node" ]; then
  echo "bench.sh: installing onnxruntime-node" >&2
  # the package's install step only fetches GPU binaries; the CPU ones are in the package
  (cd "$here" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --no-audit --no-fund \
     onnxruntime-node@latest >&2)
fi
ort_version="$(node -p 'require(process.argv[1]).version' \
  "$here/node_modules/onnxruntime-node/package.json")"

# --- lector ---------------------------------------------------------------------------
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_encoder >/dev/null
bench="$build/tests/bench_encoder"

# --- llama.cpp (optional) --------------------------------------------------------------
llama_run="$build/llama/llama_run"
if [ "$llama" = 1 ]; then
  lsrc="$build/llama/src" lbin="$build/llama/build/bin"
  [ -f "$lbin/libllama.so" ] || "$here/llama.sh" build >&2
  if [ ! -x "$llama_run" ] || [ "$here/llama_run.cpp" -nt "$llama_run" ]; then
    g++ -O2 -std=c++17 "$here/llama_run.cpp" -I "$lsrc/include" -I "$lsrc/ggml/include" \
      -L "$lbin" -lllama -lggml -lggml-base -Wl,-rpath,"$lbin" -o "$llama_run"
  fi
  export LD_LIBRARY_PATH="$lbin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

geometry() { # name -> dev/random_encoder.py arguments
  case "$1" in
    base) echo "--layers 12 --hidden 768 --heads 12 --ffn 3072 --vocab 30522" ;;
    minilm) echo "--layers 6 --hidden 384 --heads 12 --ffn 1536 --vocab 30522" ;;
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
    "$py" "$root/scripts/dev/random_encoder.py" "$dir" $(geometry "$model") --no-pooler --onnx 2>/dev/null
  fi
  io="$(mktemp -d)"
  lector_out="$("$bench" --threads "$threads" --repeat "$repeat" --warmup "$warmup" \
                --cases "$cases" --save "$io" "$dir")"
  ort_out="$(cd "$here" && node ort.mjs "$dir" "$io" "$threads" "$repeat" "$warmup" \
             "${case_list[@]}")"
  torch_out=""
  if [ "$torch" = 1 ] && "$py" -c 'import torch' 2>/dev/null; then
    torch_out="$("$py" "$here/torch_run.py" "$dir" "$io" "$threads" "$repeat" "$warmup" \
                 "${case_list[@]}" 2>/dev/null || true)"
  fi
  llama_out=""
  if [ "$llama" = 1 ]; then
    [ -f "$dir/model-f32.gguf" ] || "$py" "$here/hf_to_gguf.py" "$dir" "$dir/model-f32.gguf" >&2
    llama_out="$("$llama_run" "$dir/model-f32.gguf" "$io" "$threads" "$repeat" "$warmup" \
                 "${case_list[@]}")"
  fi
  int8_out=""
  if [ "$precision" = int8 ]; then
    if [ ! -f "$dir/model.int8.onnx" ]; then
      "$py" "$here/quantize_onnx.py" "$dir/model.onnx" "$dir/model.int8.onnx" >&2
    fi
    io8="$(mktemp -d)"; ort8="$(mktemp -d)"
    int8_out="$("$bench" --threads "$threads" --repeat "$repeat" --warmup "$warmup" \
                --cases "$cases" --precision int8 --save "$io8" "$dir")"
    ort8_out="$(cd "$here" && ORT_MODEL=model.int8.onnx ORT_SAVE="$ort8" node ort.mjs \
                "$dir" "$io8" "$threads" "$repeat" "$warmup" "${case_list[@]}")"
    cmp_lector="$(cd "$here" && node compare.mjs "$io" "$io8" "${case_list[@]}")"
    cmp_ort="$(cd "$here" && node compare.mjs "$io" "$ort8" "${case_list[@]}")"
    rm -rf "$io8" "$ort8"
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
  if [ -n "$llama_out" ]; then
    echo
    echo "peers, fp32, sentences/s (medians); diffs: max abs against lector's hidden states"
    printf '%-10s %12s %12s %12s %11s %13s %10s %10s\n' case "lector s/s" "ort s/s" \
           "llama s/s" "lector/ort" "lector/llama" "diff ort" "diff llama"
    for c in "${case_list[@]}"; do
      B="${c%x*}"; T="${c#*x}"
      lsps="$(echo "$lector_out" | awk -v b="B=$B" -v t="T=$T" '$1=="case" && $2==b && $3==t {print $6}')"
      read -r osps odiff < <(echo "$ort_out" | awk -v b="$B" -v t="$T" '$2==b && $3==t {print $5, $6}')
      read -r lmsps lmdiff < <(echo "$llama_out" | awk -v b="$B" -v t="$T" '$2==b && $3==t {print $5, $6}')
      r_ort="$(awk -v l="$lsps" -v o="$osps" 'BEGIN { if (o > 0) printf "%.2fx", l / o }')"
      r_llama="$(awk -v l="$lsps" -v o="$lmsps" 'BEGIN { if (o > 0) printf "%.2fx", l / o }')"
      printf '%-10s %12s %12s %12s %11s %13s %10s %10s\n' "$c" "$lsps" "$osps" "$lmsps" \
             "$r_ort" "$r_llama" "$odiff" "$lmdiff"
    done
  fi
  [ -n "$int8_out" ] || continue
  echo
  echo "int8: lector --precision int8 against ORT on model.int8.onnx; cosines: smallest per token row"
  printf '%-10s %12s %12s %12s %9s %12s %10s %12s %12s\n' case "fp32 ms" "int8 ms" \
         "ort int8 ms" "int8/ort" "diff 8-8" "cos 8-8" "cos l8-fp32" "cos o8-fp32"
  for c in "${case_list[@]}"; do
    B="${c%x*}"; T="${c#*x}"
    sel() { awk -v b="$B" -v t="$T" -v f="$2" '$2==b && $3==t {print $f}' <<< "$1"; }
    lms="$(echo "$lector_out" | awk -v b="B=$B" -v t="T=$T" '$1=="case" && $2==b && $3==t {print $4}')"
    l8ms="$(echo "$int8_out" | awk -v b="B=$B" -v t="T=$T" '$1=="case" && $2==b && $3==t {print $4}')"
    o8ms="$(sel "$ort8_out" 4)"
    ratio="$(awk -v l="$l8ms" -v o="$o8ms" 'BEGIN { if (l > 0) printf "%.2fx", o / l }')"
    printf '%-10s %12s %12s %12s %9s %12s %10s %12s %12s\n' "$c" "$lms" "$l8ms" "$o8ms" \
           "$ratio" "$(sel "$ort8_out" 6)" "$(sel "$ort8_out" 7)" "$(sel "$cmp_lector" 5)" \
           "$(sel "$cmp_ort" 5)"
  done
  echo "lector int8 $(echo "$int8_out" | grep '^rss')"
done
