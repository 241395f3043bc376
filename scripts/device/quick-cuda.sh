#!/usr/bin/env bash
# Runs ON the GPU machine: the shortest useful check of the compiler's cuda
# artifacts when device time is scarce: builds gecko-run alone, then the
# golden forward and gradient checks of golden_tiny_a on the GPU (fp32, and
# bf16 where compiled) and the 7B-block benchmarks. Prints as it goes (so a
# timeout keeps what ran).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build=/tmp/gecko-quick
a="$root/.deps/artifacts/cuda"
g="$root/.deps/shared/golden"
cmake -G Ninja -S "$root" -B "$build" -DGECKO_ENABLE_COMPILER=OFF \
  -DGECKO_ENABLE_CUDA=ON -DGECKO_ENABLE_TESTS=OFF -DGECKO_ENABLE_MPI=OFF \
  -DGECKO_ENABLE_SENTENCEPIECE=OFF >/dev/null 2>&1 || exit 1
ninja -C "$build" gecko-run 2>&1 | tail -1
run="$build/bin/gecko-run"
nvidia-smi --query-gpu=name --format=csv,noheader
"$run" check "$a/tiny-a-fwd.gkm" --golden "$g/golden_tiny_a.safetensors" | tail -1
"$run" check "$a/tiny-a-train.gkm" --golden "$g/golden_tiny_a.safetensors" --function grad | tail -1
"$run" check "$a/tiny-a-gen.gkm" --golden "$g/golden_tiny_stream.safetensors" \
  --weights "$g/golden_tiny_a.safetensors" --cases stream,stream_p16 | tail -1
bf="$root/.deps/artifacts/bf16" # --precision=bf16, bf16 tolerances
if [ -f "$bf/cuda-tiny-a-fwd.gkm.gz" ]; then
  gunzip -c "$bf/cuda-tiny-a-fwd.gkm.gz" >"$build/bf16-fwd.gkm"
  gunzip -c "$bf/cuda-tiny-a-train.gkm.gz" >"$build/bf16-train.gkm"
  "$run" check "$build/bf16-fwd.gkm" --golden "$g/golden_tiny_a.safetensors" \
    --rtol-output 1e-2 --rtol-debug 1e-2 | tail -1
  "$run" check "$build/bf16-train.gkm" --golden "$g/golden_tiny_a.safetensors" \
    --function grad --rtol-output 1e-2 --rtol-grad 2e-2 | tail -1
fi
for spec in ${BENCH:-block-forward-8k:forward:3 block-train-8k:grad:2 block-forward-32k:forward:2}; do
  IFS=: read -r name fn iters <<<"$spec"
  timeout 60 "$run" bench "$a/$name.gkm" --function "$fn" --warmup 1 --iters "$iters" | tail -1
done
