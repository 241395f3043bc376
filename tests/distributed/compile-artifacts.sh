#!/usr/bin/env bash
# Compiles the artifacts of the distributed tests once (a ctest fixture):
# the tiny model with batch 1 and --data-parallel (grad, train_step,
# apply_gradients) and with batch 2 (train_step), with --mode chunk-train
# over pieces of 16 tokens (chunk_loss, chunk_grad, apply_gradients), and a
# token file.
#
#   compile-artifacts.sh GECKO_COMPILE SOURCE_DIR OUT_DIR
set -euo pipefail
compile="$1"; src="$2"; out="$3"
mkdir -p "$out"
python3 "$src/tests/lit/training/Inputs/make_tokens.py" "$out/tokens.bin" 20000 50
# --adam-eps 1e-3: AdamW stays linear in gradients at rounding level, so the
# 1e-6 comparison measures the data parallelism, not AdamW's amplification
# of summation-order noise (docs/distributed.md section 4).
model=(--model "$src/models/tiny.json" --mode train --target cpu --seq-len 32
       --adam-eps 1e-3)
"$compile" "${model[@]}" --batch 1 --data-parallel -o "$out/b1.gkm.tmp"
mv "$out/b1.gkm.tmp" "$out/b1.gkm"
"$compile" "${model[@]}" --batch 2 -o "$out/b2.gkm.tmp"
mv "$out/b2.gkm.tmp" "$out/b2.gkm"
# One chunk (16 tokens) per rank: 2 ranks cover b1's sequences of 32.
"$compile" --model "$src/models/tiny.json" --mode chunk-train --target cpu \
  --seq-len 16 --adam-eps 1e-3 --batch 1 -o "$out/c16.gkm.tmp"
mv "$out/c16.gkm.tmp" "$out/c16.gkm"
