#!/usr/bin/env bash
# Runs ON the GPU machine: apply_gradients with global-norm clipping
# (docs/cuda.md, "Split reductions") from the artifacts that
# scripts/device/compile-artifacts.sh puts in .deps/artifacts/opt:
#
#   bash scripts/device/optimizer-check.sh [GECKO_RUN OUT_DIR]
#
# cuda-artifacts.sh calls it with its gecko-run and log folder; alone it
# builds gecko-run (no compiler, no tests) and writes to $OUT (the device
# tool's folder) or /tmp/gecko-optimizer-out, so that
#   run(command="bash scripts/device/optimizer-check.sh",
#       carry=[".deps/artifacts/opt"])
# is the whole check. Exit status 1 if a check failed.
#
# On random inputs (scripts/device/optimizer_inputs.py) the gradient norm is
# checked against float64 (the GPU's split sums hold 1e-6; the CPU's one
# sequential sum per gradient is 4e-6 off on the tiny model), and every
# result against the CPU, with the GPU's summation tree (-split) and
# without; then apply_gradients is timed (tiny, and small.json's
# apply_gradients and grad with and without the split where compiled:
# SMALL_APPLY=1, BASE_COMPILE). The artifacts and inputs are unpacked
# outside the log folder (not returned).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
a="$root/.deps/artifacts"
if [ $# -ge 2 ]; then
  run="$1" out="$2"
else
  build=/tmp/gecko-quick
  cmake -G Ninja -S "$root" -B "$build" -DGECKO_ENABLE_COMPILER=OFF \
    -DGECKO_ENABLE_CUDA=ON -DGECKO_ENABLE_TESTS=OFF -DGECKO_ENABLE_MPI=OFF \
    -DGECKO_ENABLE_SENTENCEPIECE=OFF >/dev/null 2>&1 || exit 1
  ninja -C "$build" gecko-run 2>&1 | tail -1
  run="$build/bin/gecko-run"
  out="${OUT:-/tmp/gecko-optimizer-out}"
fi
mkdir -p "$out"
rc=0
if [ ! -f "$a/opt/cuda-tiny-dp-clip.gkm.gz" ]; then
  echo "no $a/opt/cuda-tiny-dp-clip.gkm.gz (scripts/device/compile-artifacts.sh)"
  exit 1
fi
echo "== apply_gradients with clipping: the GPU against float64 and the CPU"
opt="${TMPDIR:-/tmp}/gecko-optimizer-check"
mkdir -p "$opt"
for f in "$a"/opt/*.gkm.gz; do
  gunzip -c "$f" >"$opt/$(basename "$f" .gz)"
done
"$run" inspect "$opt/cuda-tiny-dp-clip.gkm" |
  python3 "$root/scripts/device/optimizer_inputs.py" "$opt/w.safetensors" \
    "$opt/t.safetensors" 1 >/dev/null || rc=1
for f in cuda-tiny-dp-clip cpu-tiny-dp-clip cpu-tiny-dp-clip-split; do
  "$run" forward "$opt/$f.gkm" --function apply_gradients \
    --weights "$opt/w.safetensors" --tokens "$opt/t.safetensors" \
    --out "$opt/out-$f.safetensors" >/dev/null || rc=1
done
for f in cuda-tiny-dp-clip cpu-tiny-dp-clip-split; do
  echo -n "$f: "
  python3 "$root/scripts/device/optimizer_inputs.py" check \
    "$opt/t.safetensors" "$opt/out-$f.safetensors" || rc=1
done
for ref in cpu-tiny-dp-clip-split cpu-tiny-dp-clip; do
  python3 "$root/scripts/device/compare_outputs.py" "$opt/out-$ref.safetensors" \
    "$opt/out-cuda-tiny-dp-clip.safetensors" --rtol 1e-5 >"$out/optimizer-$ref.txt" || rc=1
  echo "GPU against $ref: $(tail -1 "$out/optimizer-$ref.txt")"
  grep -E "grad_norm|FAIL" "$out/optimizer-$ref.txt" | head -5
done
echo "== apply_gradients timings ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"
# grad too: the split also takes the row reductions with few outputs of
# the forward and backward (norm statistics, weight gradients of norms).
for spec in tiny-dp-clip:apply_gradients small-dp-base:apply_gradients \
  small-dp:apply_gradients small-dp-base:grad small-dp:grad; do
  g=${spec%%:*} fn=${spec#*:}
  [ -f "$opt/cuda-$g.gkm" ] || continue
  line=$(timeout "${BENCH_TIMEOUT:-300}" "$run" bench "$opt/cuda-$g.gkm" \
    --function "$fn" --warmup 1 --iters 5 2>&1 | tail -1)
  echo "$g $fn: $line" | tee -a "$out/bench.txt"
done
if [ -f "$opt/cuda-small-dp.gkm" ]; then
  echo "== kernels of small-dp apply_gradients"
  GECKO_CUDA_PROFILE=all timeout "${BENCH_TIMEOUT:-300}" "$run" bench \
    "$opt/cuda-small-dp.gkm" --function apply_gradients --warmup 0 --iters 1 \
    2>"$out/profile-small-dp-apply.txt" >/dev/null
  head -12 "$out/profile-small-dp-apply.txt"
fi
exit $rc
