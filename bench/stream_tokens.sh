#!/usr/bin/env bash
# Streams N tokens through a generate artifact (prefill + decode) with
# `gecko-run stream`, reporting tokens/s every K tokens and the peak RSS
# (VmHWM) at K tokens and at the end; fails unless memory stays flat.
#
# Usage: bench/stream_tokens.sh [MODEL.gkm WEIGHTS.safetensors]
#   env: GECKO_RUN (default build/bin/gecko-run), TOKENS (1000000),
#        REPORT_EVERY (100000), MODES ("feed decode": prefill where legal,
#        then decode only), EXTRA (more gecko-run stream options).
# Without a model it uses the test kernel's recurrent LM, written by
# gecko-make-test-artifact from the same build directory (a check of the
# runtime's per-call overhead and of constant memory, not of a real model).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
run="${GECKO_RUN:-$here/build/bin/gecko-run}"
tokens="${TOKENS:-1000000}"
every="${REPORT_EVERY:-100000}"
modes="${MODES:-feed decode}"
[ -x "$run" ] || { echo "stream_tokens: no gecko-run at $run (set GECKO_RUN)"; exit 2; }
if [ $# -ge 2 ]; then
  model="$1"; weights="$2"
else
  make="$(dirname "$run")/gecko-make-test-artifact"
  [ -x "$make" ] || { echo "stream_tokens: give MODEL.gkm WEIGHTS, or build gecko-make-test-artifact"; exit 2; }
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  "$make" "$work"
  model="$work/gen256.gkm"; weights="$work/gen_weights256.safetensors"
fi
status=0
for mode in $modes; do
  flag=""
  [ "$mode" = decode ] && flag="--decode-only"
  echo "== $mode: $tokens tokens, report every $every"
  # shellcheck disable=SC2086
  out=$("$run" stream "$model" --weights "$weights" --tokens "$tokens" \
        --report-every "$every" $flag ${EXTRA:-} | tee /dev/stderr)
  if ! grep -q "memory flat" <<<"$out"; then
    echo "stream_tokens: memory grew in mode $mode"; status=1
  fi
done
exit $status
