#!/usr/bin/env bash
# Runs ON the GPU machine, from scripts/device/run.sh, with the runtime built
# in $1 and logs going to $2: the compiler's cuda artifacts (made here by
# scripts/device/compile-artifacts.sh) against the golden files and against
# the CPU on random inputs, in fp32 and (where compiled) bf16, then the
# benchmarks. Exit status 1 if a check
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

# apply_gradients with global-norm clipping against float64 and the CPU,
# and its timings (scripts/device/optimizer-check.sh).
if [ -d "$a/opt" ]; then
  bash "$root/scripts/device/optimizer-check.sh" "$run" "$out" || rc=1
fi

# --precision=bf16 (docs/cuda.md, "Precision"): matrix products with bf16
# operands and f32 accumulation (cuBLASLt GECKO_GEMM_BF16_F32). The
# artifacts come gzipped; they are unpacked outside $out (not returned).
if [ -f "$a/bf16/cuda-tiny-a-fwd.gkm.gz" ]; then
  bf="${TMPDIR:-/tmp}/gecko-bf16-artifacts"
  mkdir -p "$bf"
  for f in "$a"/bf16/*.gkm.gz; do
    gunzip -c "$f" >"$bf/$(basename "$f" .gz)" || rc=1
  done
  echo "== bf16 on the GPU against the fp32 golden (bf16 tolerances, tests/lit/golden/bf16.test)"
  check cuda-bf16-forward-a "$bf/cuda-tiny-a-fwd.gkm" --golden "$g/golden_tiny_a.safetensors" \
    --rtol-output 1e-2 --rtol-debug 1e-2
  check cuda-bf16-grad-a "$bf/cuda-tiny-a-train.gkm" --golden "$g/golden_tiny_a.safetensors" \
    --function grad --rtol-output 1e-2 --rtol-grad 2e-2
  # bf16 must do something: fp32 gets the logits to 1e-5, bf16 to about
  # 3e-3 (CPU: 3.6e-3), so at 5e-4 the logits must fail.
  timeout 300 "$run" check "$bf/cuda-tiny-a-fwd.gkm" --golden "$g/golden_tiny_a.safetensors" \
    --function forward --rtol-output 5e-4 --rtol-debug 1 >"$out/cuda-bf16-differs.txt" 2>&1
  if grep -q '^output.logits .* FAIL$' "$out/cuda-bf16-differs.txt"; then
    echo "PASS cuda-bf16-differs: $(grep '^output.logits' "$out/cuda-bf16-differs.txt")"
  else
    echo "FAIL cuda-bf16-differs: the bf16 logits agree with fp32 to 5e-4 (bf16 not in effect?)"
    grep '^output.logits' "$out/cuda-bf16-differs.txt"
    rc=1
  fi
  # (grep without -q reads all of inspect's output: no SIGPIPE under
  # pipefail.)
  "$run" inspect "$bf/cuda-tiny-a-fwd.gkm" | grep '^  precision bf16' >/dev/null ||
    { echo "FAIL cuda-bf16: the plan does not say precision bf16"; rc=1; }

  # GPU bf16 against CPU bf16 on random tokens. Both round the same f32
  # values to bf16, but f32 values that differ in their last bits (the
  # order of the sums) round differently where they straddle a bf16
  # rounding boundary, and each such flip is a 2^-8 change that the next
  # products carry on: on the CPU, perturbing the weights by 1e-7 (one f32
  # ulp) moves the bf16 logits by 8-9e-4 (fp32: 1e-7). So the two agree
  # to bf16 noise, not to f32 rounding: rtol 5e-3 (the tight check of the
  # bf16 GEMM itself, accumulation order only, is
  # CudaExecutable.GemmBf16InputsFloatOutput at 1e-5).
  echo "== bf16: the same random tokens on the CPU and the GPU"
  for seed in 1 2; do
    "$run" inspect "$bf/cuda-tiny-a-fwd.gkm" |
      python3 "$root/bench/random_inputs.py" "$out/bf16-rand-w$seed.safetensors" \
        "$out/bf16-rand-t$seed.safetensors" forward "$seed" >/dev/null
    for dev in cpu cuda; do
      "$run" forward "$bf/$dev-tiny-a-fwd.gkm" --weights "$g/golden_tiny_a.safetensors" \
        --tokens "$out/bf16-rand-t$seed.safetensors" --function forward \
        --out "$out/bf16-rand-$dev$seed.safetensors" >/dev/null || rc=1
    done
    python3 "$root/scripts/device/compare_outputs.py" "$out/bf16-rand-cpu$seed.safetensors" \
      "$out/bf16-rand-cuda$seed.safetensors" --rtol 5e-3 >"$out/bf16-rand-compare$seed.txt" || rc=1
    echo "seed $seed: $(tail -1 "$out/bf16-rand-compare$seed.txt")"
    grep -E "output.logits|layers.0.mega.znorm|FAIL" "$out/bf16-rand-compare$seed.txt" | head -5
  done
fi

# GECKO_DEVICE_BENCH=0 skips the block benchmarks (minutes of device time).
if [ "${GECKO_DEVICE_BENCH:-1}" = 1 ]; then
  bash "$root/bench/cuda_block.sh" "$run" "$a/cuda" "$out" || rc=1
fi
exit $rc
