#!/usr/bin/env bash
# GPU benchmarks of one Gecko block at 7B dimensions (models/gecko-7b-block.json,
# the workload of ../shared/perf/REFERENCE_H100.md), on the GPU machine:
#
#   bench/cuda_block.sh GECKO_RUN ARTIFACT_DIR OUT_DIR
#
# ARTIFACT_DIR holds block-{forward,train}-{8k,32k}.gkm from
# scripts/device/compile-artifacts.sh (scripts/device/run.sh calls this).
# Prints and appends to OUT_DIR/bench.txt the median ms per call of
# `gecko-run bench` (buffers bound once on the device, CUDA events), then a
# per-kernel profile (GECKO_CUDA_PROFILE) of one call. env: BENCH lists
# artifact:function[:iters], PROFILE artifact:function, BENCH_TIMEOUT (s).
set -uo pipefail
run="$1" a="$2" out="$3"
mkdir -p "$out"
echo "== benchmarks ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%F))"
# BENCH lists artifact:function[:iters] (warmup 1 unless iters is 1).
for spec in ${BENCH:-block-forward-8k:forward:2 block-train-8k:grad:1 \
  block-forward-32k:forward:2 block-train-32k:grad:1}; do
  IFS=: read -r name fn iters <<<"$spec"
  gkm="$a/$name.gkm"
  [ -f "$gkm" ] || continue
  warmup=1
  [ "${iters:-2}" = 1 ] && warmup=0
  line=$(timeout "${BENCH_TIMEOUT:-300}" "$run" bench "$gkm" --function "$fn" \
    --warmup "$warmup" --iters "${iters:-2}" 2>&1 | tail -1)
  echo "$name $fn: $line" | tee -a "$out/bench.txt"
done
# Where the time goes: per-kernel times of one call (GECKO_CUDA_PROFILE=all),
# summed per model op by bench/profile_by_op.py.
here="$(cd "$(dirname "$0")" && pwd)"
for spec in ${PROFILE:-block-forward-8k:forward block-train-8k:grad}; do
  IFS=: read -r name fn <<<"$spec"
  [ -f "$a/$name.gkm" ] || continue
  echo "== kernels of $name $fn"
  GECKO_CUDA_PROFILE=all timeout "${BENCH_TIMEOUT:-300}" "$run" bench \
    "$a/$name.gkm" --function "$fn" --warmup 0 --iters 1 \
    2>"$out/profile-$name.txt" >/dev/null
  head -12 "$out/profile-$name.txt"
  echo "== per op: $name $fn"
  python3 "$here/profile_by_op.py" "$out/profile-$name.txt" \
    | tee "$out/profile-by-op-$name.txt"
done
