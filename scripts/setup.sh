#!/usr/bin/env bash
# Installs everything Gecko needs on a fresh Debian 12 machine (run as root,
# or with sudo available). Safe to re-run: apt skips what is installed.
set -euo pipefail

packages=(
  cmake ninja-build ccache git python3
  clang-22 lld-22 llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  clang-format-22
  libgtest-dev nlohmann-json3-dev
  libopenmpi-dev openmpi-bin  # CPU ranks of distributed training and its tests
  libsentencepiece-dev sentencepiece  # --tokenizer sentencepiece:MODEL; spm_train for its tests
  bible-kjv  # the public-domain King James text the demo trains on
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
