#!/usr/bin/env bash
# Runs ON the GPU machine, from scripts/device/run.sh, with the runtime built
# in $1 and logs going to $2: the compiler's cuda artifacts (made here by
# scripts/device/compile-artifacts.sh) against the golden files and against
# the CPU on random inputs, then the benchmarks. Exit status 1 if a check
# failed. Timings go to $2/bench.txt with the card's name.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$1" out="$2"
run="$build/bin/gecko-run"
a="$root/.deps/artifacts"
g="$root/.deps/shared/golden"
rc=0

check() { # NAME ARGS...: one gecko-run check, its last lines shown
  local name=$1
  shift
  if timeout 300 "$run" check "$@" >"$out/$name.txt" 2>&1; then
    echo "PASS $name: $(grep -c ' PASS$' "$out/$name.txt") results within tolerance"
  else
    echo "FAIL $name"
    rc=1
  fi
  tail -3 "$out/$name.txt"
}

echo "== golden parity on the GPU (fp32)"
check cuda-forward-a "$a/cuda/tiny-a-fwd.gkm" --golden "$g/golden_tiny_a.safetensors"
check cuda-forward-b "$a/cuda/tiny-b-fwd.gkm" --golden "$g/golden_tiny_b.safetensors"
check cuda-grad-a "$a/cuda/tiny-a-train.gkm" --golden "$g/golden_tiny_a.safetensors" --function grad
check cuda-grad-b "$a/cuda/tiny-b-train.gkm" --golden "$g/golden_tiny_b.safetensors" --function grad
check cuda-stream-a "$a/cuda/tiny-a-gen.gkm" --golden "$g/golden_tiny_stream.safetensors" \
  --weights "$g/golden_tiny_a.safetensors" --cases stream,stream_p16
check cuda-stream-b "$a/cuda/tiny-b-gen.gkm" --golden "$g/golden_tiny_stream.safetensors" \
  --weights "$g/golden_tiny_b.safetensors" --cases stream_b --atol-stream 3e-4

echo "== the same random tokens on the CPU and the GPU (golden_tiny_a weights)"
for seed in 1 2; do
  "$run" inspect "$a/cuda/tiny-a-fwd.gkm" |
    python3 "$root/bench/random_inputs.py" "$out/rand-w$seed.safetensors" \
      "$out/rand-t$seed.safetensors" forward "$seed" >/dev/null
  for dev in cpu cuda; do
    "$run" forward "$a/$dev/tiny-a-fwd.gkm" --weights "$g/golden_tiny_a.safetensors" \
      --tokens "$out/rand-t$seed.safetensors" --function forward \
      --out "$out/rand-$dev$seed.safetensors" >/dev/null || rc=1
  done
  python3 "$root/scripts/device/compare_outputs.py" "$out/rand-cpu$seed.safetensors" \
    "$out/rand-cuda$seed.safetensors" --rtol 1e-5 >"$out/rand-compare$seed.txt" || rc=1
  echo "seed $seed: $(tail -1 "$out/rand-compare$seed.txt")"
  grep -E "output.logits|FAIL" "$out/rand-compare$seed.txt" | head -5
done

bash "$root/bench/cuda_block.sh" "$run" "$a/cuda" "$out" || rc=1
exit $rc
