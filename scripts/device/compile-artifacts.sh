#!/usr/bin/env bash
# Run HERE (the GPU machine has no MLIR): compiles the artifacts that
# scripts/device/cuda-artifacts.sh runs on the GPU into .deps/artifacts/:
#   cpu/tiny-a-fwd.gkm           CPU reference for the random-input comparison
#   cuda/tiny-{a,b}-fwd.gkm      forward + loss with debug outputs (golden)
#   cuda/tiny-{a,b}-train.gkm    grad + train_step (golden gradients)
#   cuda/tiny-{a,b}-gen.gkm      prefill + decode (golden streaming)
#   bf16/{cpu,cuda}-tiny-a-fwd.gkm.gz, bf16/cuda-tiny-a-train.gkm.gz
#                                --precision=bf16: forward + loss with debug
#                                outputs (the CPU one is the GPU's reference
#                                on random inputs) and grad + train_step;
#                                gzipped (14 MB -> 2.3 MB of the 64 MiB carry),
#                                cuda-artifacts.sh unpacks them
#   dp/dp-b1.gkm, dp-b{2,4}.gkm  data-parallel equivalence on 2/4 GPUs
#                                (tiny, --data-parallel batch 1 against the
#                                train step at batch 2 and 4; AdamW eps 1e-3
#                                as in tests/distributed)
#   dp/dp-scale.gkm              data-parallel scaling (tiny, batch 4 x 512
#                                per GPU; train_step for 1 GPU); SMALL=1
#                                adds dp/dp-small.gkm (small.json, 2 x 512)
#                                (dp/ gzipped)
#   cp/c16.gkm, cp/t{32,64}.gkm  chunk-parallel equivalence on 2/4 GPUs
#                                (tiny, --mode chunk-train batch 1 with
#                                pieces of 16 against the train step on
#                                sequences of 32 and 64; AdamW eps 1e-3 as
#                                in tests/distributed); cp/t32-b2.gkm (batch
#                                2) for 2 replicas x 2 GPUs
#   cp/cp-scale.gkm              chunk-train, batch 4 x pieces of 512: the
#                                phases of a step on 2/4 GPUs (cp/ gzipped)
# The dp/ artifacts go to the multi-GPU machine in a call of their own (the
# carried files must stay under 64 MiB): run(command="GECKO_DEVICE_CTEST=0
# GECKO_DEVICE_ARTIFACTS=0 bash scripts/device/run.sh", carry=
# [".deps/googletest", ".deps/artifacts/dp"], kind="nvidia-h100-x2").
#   opt/{cuda,cpu}-tiny-dp-clip.gkm.gz, opt/cpu-tiny-dp-clip-split.gkm.gz
#                                apply_gradients with global-norm clipping
#                                (tiny, --data-parallel --max-grad-norm 1):
#                                the GPU against the CPU, which runs it with
#                                one sequential sum per gradient and, in
#                                -split, with gecko-gpu-split-reductions
#                                added (the GPU's summation tree); gzipped,
#                                scripts/device/optimizer-check.sh unpacks
#                                them
#   opt/cuda-small-dp{,-base}.gkm.gz
#                                SMALL_APPLY=1: small.json --data-parallel
#                                (2 x 512) for the apply_gradients benchmark,
#                                and with BASE_COMPILE=<another
#                                gecko-compile> the same from that compiler
#                                (the baseline, timed in the same run);
#                                about 15 minutes each to compile here
#   cuda/block-{forward,train}-{8k,32k}.gkm
#                                one Gecko block at 7B dimensions
#                                (models/gecko-7b-block.json), the workload
#                                of ../shared/perf/REFERENCE_H100.md
# The cp/ artifacts likewise: carry=[".deps/googletest", ".deps/artifacts/cp"]
# (run.sh runs scripts/device/cp-gpu.sh when they are there).
# env: BLOCK=0 skips the block artifacts, BF16=0 the bf16 ones, DP=0 the
# data-parallel ones, CP=0 the chunk-parallel ones; GECKO_COMPILE (default build/bin/gecko-compile).
# Then: run(command="bash scripts/device/run.sh", carry=[".deps"]) after
# scripts/device/prepare.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
compile="${GECKO_COMPILE:-$root/build/bin/gecko-compile}"
m="$root/models"
a="$root/.deps/artifacts"
mkdir -p "$a/cpu" "$a/cuda" "$a/dp"
set -x
"$compile" --model "$m/tiny.json" --mode forward,loss --debug-outputs \
  --target cpu --batch 2 --seq-len 64 -o "$a/cpu/tiny-a-fwd.gkm"
for v in a:tiny b:tiny-segments; do
  name=${v%%:*} config=${v#*:}
  "$compile" --model "$m/$config.json" --mode forward,loss --debug-outputs \
    --target cuda --batch 2 --seq-len 64 -o "$a/cuda/tiny-$name-fwd.gkm"
  "$compile" --model "$m/$config.json" --mode train --target cuda \
    --batch 2 --seq-len 64 -o "$a/cuda/tiny-$name-train.gkm"
  "$compile" --model "$m/$config.json" --mode generate --target cuda \
    --batch 2 -o "$a/cuda/tiny-$name-gen.gkm"
done
mkdir -p "$a/opt"
clip=(--model "$m/tiny.json" --mode train --data-parallel --max-grad-norm 1
      --batch 1 --seq-len 32)
"$compile" "${clip[@]}" --target cuda -o "$a/opt/cuda-tiny-dp-clip.gkm"
"$compile" "${clip[@]}" --target cpu -o "$a/opt/cpu-tiny-dp-clip.gkm"
"$compile" "${clip[@]}" --target cpu \
  --pass-pipeline='func.func(gecko-gpu-split-reductions)' \
  -o "$a/opt/cpu-tiny-dp-clip-split.gkm"
if [ "${SMALL_APPLY:-0}" = 1 ]; then
  small=(--model "$m/small.json" --mode train --target cuda --batch 2
         --seq-len 512 --data-parallel)
  "$compile" "${small[@]}" -o "$a/opt/cuda-small-dp.gkm"
  if [ -n "${BASE_COMPILE:-}" ]; then
    "$BASE_COMPILE" "${small[@]}" -o "$a/opt/cuda-small-dp-base.gkm"
  fi
fi
gzip -9 -f "$a"/opt/*.gkm
if [ "${BF16:-1}" = 1 ]; then # docs/cuda.md, "Precision"; golden_tiny_a only
  mkdir -p "$a/bf16"
  for t in cpu cuda; do
    "$compile" --model "$m/tiny.json" --mode forward,loss --debug-outputs \
      --target $t --precision=bf16 --batch 2 --seq-len 64 -o "$a/bf16/$t-tiny-a-fwd.gkm"
  done
  "$compile" --model "$m/tiny.json" --mode train --target cuda \
    --precision=bf16 --batch 2 --seq-len 64 -o "$a/bf16/cuda-tiny-a-train.gkm"
  gzip -9 -f "$a/bf16/cpu-tiny-a-fwd.gkm" "$a/bf16/cuda-tiny-a-fwd.gkm" \
    "$a/bf16/cuda-tiny-a-train.gkm"
fi
if [ "${DP:-1}" = 1 ]; then
  dp=(--model "$m/tiny.json" --mode train --target cuda --seq-len 32
      --adam-eps 1e-3)
  "$compile" "${dp[@]}" --batch 1 --data-parallel -o "$a/dp/dp-b1.gkm"
  "$compile" "${dp[@]}" --batch 2 -o "$a/dp/dp-b2.gkm"
  "$compile" "${dp[@]}" --batch 4 -o "$a/dp/dp-b4.gkm"
  "$compile" --model "$m/tiny.json" --mode train --target cuda --batch 4 \
    --seq-len 512 --data-parallel -o "$a/dp/dp-scale.gkm"
  # SMALL=1: the small config (models/small.json, 14 layers) as well, for
  # the scaling figure (about 15 minutes to compile here).
  if [ "${SMALL:-0}" = 1 ]; then
    "$compile" --model "$m/small.json" --mode train --target cuda --batch 2 \
      --seq-len 512 --data-parallel -o "$a/dp/dp-small.gkm"
  fi
  gzip -9 -f "$a"/dp/*.gkm # dp-gpu.sh unpacks them
fi
if [ "${CP:-1}" = 1 ]; then
  mkdir -p "$a/cp"
  cp=(--model "$m/tiny.json" --target cuda --batch 1 --adam-eps 1e-3)
  "$compile" "${cp[@]}" --mode chunk-train --seq-len 16 -o "$a/cp/c16.gkm"
  "$compile" "${cp[@]}" --mode train --seq-len 32 -o "$a/cp/t32.gkm"
  "$compile" "${cp[@]}" --mode train --seq-len 64 -o "$a/cp/t64.gkm"
  "$compile" --model "$m/tiny.json" --target cuda --batch 2 --adam-eps 1e-3 \
    --mode train --seq-len 32 -o "$a/cp/t32-b2.gkm"
  "$compile" --model "$m/tiny.json" --mode chunk-train --target cuda \
    --batch 4 --seq-len 512 -o "$a/cp/cp-scale.gkm"
  gzip -9 -f "$a"/cp/*.gkm # cp-gpu.sh unpacks them
fi
if [ "${BLOCK:-1}" = 1 ]; then
  for len in 8k:8192 32k:32768; do
    "$compile" --model "$m/gecko-7b-block.json" --mode forward --target cuda \
      --batch 1 --seq-len "${len#*:}" -o "$a/cuda/block-forward-${len%%:*}.gkm"
    "$compile" --model "$m/gecko-7b-block.json" --mode train --target cuda \
      --batch 1 --seq-len "${len#*:}" -o "$a/cuda/block-train-${len%%:*}.gkm"
  done
fi
du -sh "$a"
