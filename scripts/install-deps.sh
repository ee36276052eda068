#!/usr/bin/env bash
# Install lector's build and test dependencies from Debian's archive (Debian 12): the
# libraries, and the tools the tests use (curl, valgrind, GNU parallel, Dask).
# Runs as root (or through sudo when available).
set -euo pipefail
pkgs=(build-essential cmake pkg-config
      libutf8proc-dev libopenblas-dev libjansson-dev libcsv-dev libzip-dev libcmocka-dev
      libsentencepiece-dev
      python3 python3-numpy
      curl valgrind parallel python3-distributed)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps: run as root or install sudo" >&2; exit 1; fi
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] || [ "${LECTOR_FORCE_APT:-}" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y "${pkgs[@]}"
fi
