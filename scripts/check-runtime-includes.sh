#!/usr/bin/env bash
# The runtime must build without LLVM or MLIR: nothing under runtime/ may
# include mlir/ or llvm/ headers (or llvm-c/).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
hits=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](mlir|llvm|llvm-c)/' "$root/runtime" || true)
if [ -n "$hits" ]; then
  echo "runtime/ must not include MLIR or LLVM headers:"
  echo "$hits"
  exit 1
fi
echo "runtime/ includes no MLIR/LLVM headers"
