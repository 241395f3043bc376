#!/usr/bin/env bash
# README command 1: sets up a fresh Debian 12 machine, builds Gecko, and runs
# the main job. Today the main job compiles the example Gecko block
# (examples/gecko_block.mlir) with gecko-compile, shows its backward through
# the VJP interface, and lists the devices the runtime can use. As the CPU
# backend and trainer land, this grows into compile -> train -> generate.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
out="${OUT_DIR:-$root/out}"
mkdir -p "$out"

bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"

echo "== gecko-compile examples/gecko_block.mlir --emit=mlir -o $out/gecko_block.mlir"
"$build/bin/gecko-compile" "$root/examples/gecko_block.mlir" --emit=mlir \
  -o "$out/gecko_block.mlir"
ops=$(grep -oE '= gecko\.[a-z_]+' "$out/gecko_block.mlir" | sed 's/^= //' | sort | uniq -c | sort -rn)
echo "verified; gecko ops in the block:"
echo "$ops"

echo "== gecko-opt --test-gecko-vjp (backward ops each forward op builds)"
"$build/bin/gecko-opt" "$out/gecko_block.mlir" --test-gecko-vjp \
  -o "$out/gecko_block_vjp.mlir"
grep -oE 'gecko\.[a-z_]+_grad' "$out/gecko_block_vjp.mlir" | sort | uniq -c

echo "== gecko-run devices"
"$build/bin/gecko-run" devices
echo "demo: done (outputs in $out)"
