#!/usr/bin/env bash
# Runs ON the GPU machine (device tool), from the repository root:
#   run(command="bash scripts/device/run.sh", carry=[".deps"])
# after scripts/device/prepare.sh here. Builds the runtime half (no MLIR
# there) with CUDA, prints the devices, and runs the unit and GPU tests.
# Logs go to $OUT when set (the device tool returns that folder). env:
# GECKO_DEVICE_CTEST=0 skips ctest, GECKO_DEVICE_ARTIFACTS=0 the golden
# checks and benchmarks of cuda-artifacts.sh; dp-gpu.sh and cp-gpu.sh run
# when the data- and chunk-parallel artifacts are there (they skip with one
# GPU).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD_DIR:-/tmp/gecko-device-build}"
out="${OUT:-/tmp/gecko-device-out}"
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpus.csv"
# NCCL: nccl.h for the build (the toolkit's, else the pip package's) and
# libnccl.so.2 at run time (GECKO_NCCL_LIBRARY when the loader can't find it).
if [ ! -f /usr/local/cuda/include/nccl.h ]; then
  pkg=$(python3 -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__))' 2>/dev/null \
        || python3 -c 'import nvidia.nccl; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null || true)
  if [ -n "$pkg" ] && [ -f "$pkg/include/nccl.h" ]; then
    export NCCL_HOME="$pkg"
    if ! ldconfig -p | grep -q 'libnccl.so.2 '; then
      export GECKO_NCCL_LIBRARY="$pkg/lib/libnccl.so.2"
    fi
  fi
fi
echo "NCCL: NCCL_HOME=${NCCL_HOME:-toolkit} GECKO_NCCL_LIBRARY=${GECKO_NCCL_LIBRARY:-loader}; mpirun: $(command -v mpirun || echo none)"
cmake -G Ninja -S "$root" -B "$build" \
  -DGECKO_ENABLE_COMPILER=OFF -DGECKO_ENABLE_CUDA=ON \
  -DGECKO_GTEST_SOURCE_DIR="$root/.deps/googletest" \
  -DGECKO_SHARED_DIR="$root/.deps/shared" >"$out/configure.log" 2>&1 \
  || { cat "$out/configure.log"; exit 1; }
ninja -C "$build" 2>&1 | tee "$out/build.log" | tail -3
"$build/bin/gecko-run" devices | tee "$out/devices.txt"
set +e
rc=0
# GECKO_DEVICE_CTEST=0 skips the tests (to spend device time on the
# artifacts and benchmarks below).
if [ "${GECKO_DEVICE_CTEST:-1}" = 1 ]; then
  ctest --test-dir "$build" -L 'unit|gpu|golden' -LE build --output-on-failure \
    -j 8 --output-junit "$out/ctest.xml" 2>&1 | tee "$out/ctest.log" | tail -25
  rc=${PIPESTATUS[0]}
  python3 "$root/scripts/summarize-junit.py" "$out/ctest.xml"
  # The GPU tests once more in one process, for a readable log (the CUDA test
  # artifact: run, graphs, launch errors; CudaExecutableTest.cpp).
  "$build/bin/gecko_runtime_gpu_tests" --gtest_brief=1 >"$out/gpu-tests.log" 2>&1 \
    || rc=1
  tail -4 "$out/gpu-tests.log"
  # gecko-run bench on the CUDA test artifact that ctest wrote (eager, graph).
  cuda_gkm="$build/tests/unit/runtime/gecko-run-cuda-cli/cuda.gkm"
  if [ -f "$cuda_gkm" ]; then
    for fn in vadd vadd2x; do
      "$build/bin/gecko-run" bench "$cuda_gkm" --function $fn --iters 20 || rc=1
      "$build/bin/gecko-run" bench "$cuda_gkm" --function $fn --iters 20 --graph || rc=1
    done
  fi
fi

# CPU artifacts compiled on the development machine (carried in
# .deps/artifacts by scripts/device/prepare.sh when present) run on this
# host's CPU: the golden checks, with no MLIR or LLVM installed here.
golden="$root/.deps/shared/golden"
if [ -f "$root/.deps/artifacts/tiny-forward.gkm" ]; then
  "$build/bin/gecko-run" check "$root/.deps/artifacts/tiny-forward.gkm" \
    --golden "$golden/golden_tiny_a.safetensors" --function forward \
    | tee "$out/check-forward.txt" | tail -2 || rc=1
fi
if [ -f "$root/.deps/artifacts/tiny-generate.gkm" ]; then
  "$build/bin/gecko-run" check "$root/.deps/artifacts/tiny-generate.gkm" \
    --golden "$golden/golden_tiny_stream.safetensors" \
    --weights "$golden/golden_tiny_a.safetensors" --cases stream,stream_p16 \
    | tee "$out/check-stream.txt" | tail -3 || rc=1
fi
# Artifacts the compiler made for --target cuda (scripts/device/
# compile-artifacts.sh, carried in .deps/artifacts/cuda): golden parity on
# the GPU, CPU-vs-GPU on random inputs, benchmarks.
grep -E "^GECKO_ENABLE_(MPI|NCCL|CUDA):" "$build/CMakeCache.txt"
if [ -d "$root/.deps/artifacts/cuda" ] && [ "${GECKO_DEVICE_ARTIFACTS:-1}" = 1 ]; then
  bash "$root/scripts/device/cuda-artifacts.sh" "$build" "$out" || rc=1
fi
# Data parallelism over the host's GPUs (NCCL): equivalence and scaling;
# SKIP with one GPU.
if compgen -G "$root/.deps/artifacts/dp/dp-b1.gkm*" >/dev/null; then
  bash "$root/scripts/device/dp-gpu.sh" "$build" "$out" || rc=1
fi
# Chunk parallelism over the host's GPUs: equivalence on 2 and 4 GPUs and
# the phases of a step; SKIP with one GPU.
if compgen -G "$root/.deps/artifacts/cp/c16.gkm*" >/dev/null; then
  bash "$root/scripts/device/cp-gpu.sh" "$build" "$out" || rc=1
fi
exit $rc
