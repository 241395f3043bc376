#!/usr/bin/env bash
# Run HERE (not on the GPU machine) before a device call: copies what the GPU
# machine lacks into .deps/ (git-ignored), to be named in the call's `carry`:
#   .deps/googletest  GoogleTest sources (the GPU image has no GTest package)
#   .deps/shared      the golden files (../shared does not travel)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$root/.deps"
rm -rf "$root/.deps/googletest" "$root/.deps/shared"
cp -r /usr/src/googletest "$root/.deps/googletest"
mkdir -p "$root/.deps/shared"
cp -r "$root/../shared/golden" "$root/.deps/shared/golden"
du -sh "$root/.deps"
