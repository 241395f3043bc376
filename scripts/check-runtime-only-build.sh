#!/usr/bin/env bash
# Configures and builds the runtime half alone, as on the GPU machine:
# GECKO_ENABLE_COMPILER=OFF with MLIR_DIR/LLVM_DIR pointing nowhere, then
# checks that gecko-run links no LLVM/MLIR library and answers --help.
# Usage: check-runtime-only-build.sh BUILD_DIR [extra cmake args]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:?build directory}"
shift
cxx="${CXX:-clang++-22}"
cc="${CC:-clang-22}"
cmake -G Ninja -S "$root" -B "$build" \
  -DGECKO_ENABLE_COMPILER=OFF \
  -DMLIR_DIR=/nonexistent/mlir -DLLVM_DIR=/nonexistent/llvm \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld "$@" >"$build.configure.log" 2>&1 \
  || { cat "$build.configure.log"; exit 1; }
if grep -qiE 'Using (MLIR|LLVM)Config' "$build.configure.log"; then
  echo "runtime-only configure found LLVM/MLIR"; exit 1
fi
ninja -C "$build" -j "${JOBS:-2}" gecko-run gecko_runtime_tests
if ldd "$build/bin/gecko-run" | grep -qiE 'libLLVM|libMLIR'; then
  echo "gecko-run links LLVM/MLIR:"; ldd "$build/bin/gecko-run"; exit 1
fi
"$build/bin/gecko-run" --help >/dev/null
"$build/bin/gecko-run" devices
"$build/bin/gecko_runtime_tests" --gtest_brief=1
echo "runtime-only build OK"
