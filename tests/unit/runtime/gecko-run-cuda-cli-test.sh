#!/usr/bin/env bash
# End-to-end test of gecko-run on the CUDA test artifact (label gpu):
# inspect (needs no GPU), then forward, check, bench (eager and CUDA graph),
# --device errors and a trapping kernel on cuda:0; exits 77 (skipped) after
# inspect when no CUDA device is usable.
# Usage: gecko-run-cuda-cli-test.sh GECKO_RUN MAKE_TEST_ARTIFACT CUDA_HOST_SO WORKDIR
set -uo pipefail
run="${1:?gecko-run}"
make="${2:?gecko-make-test-artifact}"
host="${3:?cuda host object}"
dir="${4:?work directory}"
rm -rf "$dir" && mkdir -p "$dir"
"$make" "$dir" "$host" || { echo "FAIL: cannot generate the test files"; exit 1; }

source "$(dirname "$0")/cli-test-lib.sh"

c="$dir/cuda.gkm"
expect 0 "device image: chip sm_80, format fatbin, 4 kernels" -- "$run" inspect "$c"
expect 0 "kernel 2: gecko_test_trap" -- "$run" inspect "$c"
if ! "$run" devices | grep -q '^cuda:'; then
  "$run" devices
  echo "no CUDA device: skipping the rest"
  [ "$failures" -eq 0 ] && exit 77
  exit 1
fi
w="$dir/cuda_weights.safetensors"
x="$dir/cuda_inputs.safetensors"
expect 0 "output.z +f32 +\[1000\]" -- \
  "$run" forward "$c" --function vadd --weights "$w" --tokens "$x"
expect 0 "output.z .*PASS" -- \
  "$run" check "$c" --function vadd --golden "$dir/cuda_golden.safetensors"
expect 0 "output.z .*PASS" -- \
  "$run" check "$c" --function vadd --device cuda:0 \
  --golden "$dir/cuda_golden.safetensors"
expect 0 "function 'vadd2x' on cuda:0 \(.*\): median [0-9.]+ ms per call .*5 iters after 3 warmup; CUDA events, eager" -- \
  "$run" bench "$c" --function vadd2x --iters 5
expect 0 "median [0-9.]+ ms per call .*CUDA graph replay" -- \
  "$run" bench "$c" --function vadd2x --iters 5 --graph --weights "$w"
expect 0 "function 'step' on cuda:0" -- "$run" bench "$c" --function step
expect 1 "artifact targets cuda \(sm_80\) and cannot run on the cpu device" -- \
  "$run" bench "$c" --function vadd --device cpu
expect 1 "artifact targets cpu and cannot run on cuda:0" -- \
  "$run" bench "$dir/test.gkm" --device cuda
expect 1 "cuda:7 does not exist" -- "$run" bench "$c" --device cuda:7
expect 1 "function 'bad_block'.*kernel 'gecko_test_vadd'.*CUDA_ERROR_INVALID_VALUE" -- \
  "$run" bench "$c" --function bad_block
expect 1 "function 'trap'.*kernel 'gecko_test_trap'" -- \
  "$run" bench "$c" --function trap

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all gecko-run CUDA checks passed"
