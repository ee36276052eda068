#!/usr/bin/env bash
# Install lector's dependencies from Debian's archive (Debian 12). Runs as root (or through
# sudo when available).
#
#   scripts/install-deps.sh          what building and running lector needs: the compiler,
#                                    CMake and the libraries (and python3 with numpy for the
#                                    scripts)
#   scripts/install-deps.sh --test   that, plus what the tests use: cmocka, curl, valgrind,
#                                    GNU parallel and Dask (python3-distributed)
set -euo pipefail
runtime=(build-essential cmake pkg-config
         libutf8proc-dev libopenblas-dev libjansson-dev libcsv-dev libzip-dev
         libsentencepiece-dev libssl-dev
         python3 python3-numpy)
testing=(libcmocka-dev curl valgrind parallel python3-distributed)
case "${1:-}" in
  "") pkgs=("${runtime[@]}") ;;
  --test) pkgs=("${runtime[@]}" "${testing[@]}") ;;
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: scripts/install-deps.sh [--test]" >&2; exit 2 ;;
esac
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
