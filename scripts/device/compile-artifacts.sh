#!/usr/bin/env bash
# Run HERE (the GPU machine has no MLIR): compiles the artifacts that
# scripts/device/cuda-artifacts.sh runs on the GPU into .deps/artifacts/:
#   cpu/tiny-a-fwd.gkm           CPU reference for the random-input comparison
#   cuda/tiny-{a,b}-fwd.gkm      forward + loss with debug outputs (golden)
#   cuda/tiny-{a,b}-train.gkm    grad + train_step (golden gradients)
#   cuda/tiny-{a,b}-gen.gkm      prefill + decode (golden streaming)
#   cuda/block-{forward,train}-{8k,32k}.gkm
#                                one Gecko block at 7B dimensions
#                                (models/gecko-7b-block.json), the workload
#                                of ../shared/perf/REFERENCE_H100.md
# env: BLOCK=0 skips the block artifacts; GECKO_COMPILE (default
# build/bin/gecko-compile). Then: run(command="bash scripts/device/run.sh",
# carry=[".deps"]) after scripts/device/prepare.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
compile="${GECKO_COMPILE:-$root/build/bin/gecko-compile}"
m="$root/models"
a="$root/.deps/artifacts"
mkdir -p "$a/cpu" "$a/cuda"
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
if [ "${BLOCK:-1}" = 1 ]; then
  for len in 8k:8192 32k:32768; do
    "$compile" --model "$m/gecko-7b-block.json" --mode forward --target cuda \
      --batch 1 --seq-len "${len#*:}" -o "$a/cuda/block-forward-${len%%:*}.gkm"
    "$compile" --model "$m/gecko-7b-block.json" --mode train --target cuda \
      --batch 1 --seq-len "${len#*:}" -o "$a/cuda/block-train-${len%%:*}.gkm"
  done
fi
du -sh "$a"
