#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds everything and runs every test
# (GoogleTest unit tests, lit/FileCheck tests, tool smoke tests, the fuzz
# test and the build/lint checks) through ctest. GPU tests skip without a GPU.
# The last line is "N passed, N failed, N skipped".
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"

bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"

junit="$build/ctest-results.xml"
rm -f "$junit"
set +e
ctest --test-dir "$build" --output-on-failure -j "${JOBS:-$(nproc)}" \
  --timeout 900 --output-junit "$junit"
rc=$?
set -e
python3 "$root/scripts/summarize-junit.py" "$junit"
exit $rc
