#!/usr/bin/env bash
# End-to-end test of gecko-run inspect/forward/check on the test kernel's
# artifact. Usage: gecko-run-cli-test.sh GECKO_RUN MAKE_TEST_ARTIFACT WORKDIR
set -uo pipefail
run="${1:?gecko-run}"
make="${2:?gecko-make-test-artifact}"
dir="${3:?work directory}"
rm -rf "$dir" && mkdir -p "$dir"
"$make" "$dir" || { echo "FAIL: cannot generate the test files"; exit 1; }

failures=0
# expect RC PATTERN -- CMD...: runs CMD, checks its exit status and that its
# combined output matches the extended regex PATTERN.
expect() {
  local want="$1" pattern="$2"
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL: '$*' exited $rc, expected $want"
    echo "$out" | sed 's/^/    /'
    failures=$((failures + 1))
  elif ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: '$*' output lacks /$pattern/"
    echo "$out" | sed 's/^/    /'
    failures=$((failures + 1))
  else
    echo "ok: $*"
  fi
}

g="$dir/test.gkm"
expect 0 "function 'forward' \(mode forward, entry gecko_entry_forward\)" -- \
  "$run" inspect "$g"
expect 0 "input +input.tokens +i64 +\[2, 4\] +range \[0, 5\)" -- "$run" inspect "$g"
expect 0 "target cpu" -- "$run" inspect "$dir/foreign.gkm"
expect 0 "output.loss +f32 +\[\] += 100.8" -- \
  "$run" forward "$g" --weights "$dir/weights.safetensors" \
  --tokens "$dir/tokens.safetensors" --out "$dir/out.safetensors"
[ -s "$dir/out.safetensors" ] || { echo "FAIL: --out wrote nothing"; failures=$((failures + 1)); }
expect 0 "tokens/s" -- "$run" forward "$g" --weights "$dir/weights.safetensors" \
  --tokens "$dir/golden.safetensors" --function forward
# The forward output, used as a golden, passes check.
expect 0 "output.logits .*PASS" -- "$run" check "$g" --golden "$dir/golden.safetensors"
expect 0 "output.loss .*PASS" -- "$run" check "$g" --golden "$dir/golden.safetensors" \
  --weights "$dir/weights.safetensors" --rtol-output 1e-6
expect 1 "output.logits .*FAIL" -- "$run" check "$g" --golden "$dir/golden_bad.safetensors"
expect 1 "input 'input.tokens': element \[0, 3\] \(flat 3\) is 5" -- \
  "$run" check "$g" --golden "$dir/golden_oob.safetensors"
expect 1 "no result of function 'forward'" -- "$run" check "$g" \
  --golden "$dir/inputs_only.safetensors" --weights "$dir/weights.safetensors"
expect 1 "missing input 'input.tokens'" -- \
  "$run" check "$g" --golden "$dir/weights.safetensors" --weights "$dir/weights.safetensors"
expect 1 "missing param 'embed.weight'" -- "$run" forward "$g" \
  --weights "$dir/tokens.safetensors" --tokens "$dir/tokens.safetensors"
expect 1 "^gecko-run: error: .*compiled for aarch64" -- "$run" forward \
  "$dir/foreign.gkm" --weights "$dir/weights.safetensors" --tokens "$dir/tokens.safetensors"
expect 1 "^gecko-run: error: .*no such file" -- "$run" inspect "$dir/nope.gkm"
expect 1 "^gecko-run: error: .*not a Gecko artifact" -- "$run" inspect "$dir/weights.safetensors"
expect 1 "no function 'train'" -- "$run" check "$g" --golden "$dir/golden.safetensors" --function train
expect 2 "^gecko-run: error: .*needs --weights" -- "$run" forward "$g"
expect 2 "^gecko-run: error: .*unknown option '--bogus'" -- "$run" check "$g" --bogus 1
expect 2 "^gecko-run: error: .*--rtol-grad needs" -- "$run" check "$g" --golden x --rtol-grad abc
expect 2 "^gecko-run: error: .*unknown command 'frobnicate'" -- "$run" frobnicate
expect 0 "artifact format v1, kernel ABI v1" -- "$run" version
expect 0 "USAGE" -- "$run" --help

# A corrupted copy: one flipped byte in the middle of the code.
cp "$g" "$dir/corrupt.gkm"
size=$(stat -c %s "$dir/corrupt.gkm")
printf '\xff' | dd of="$dir/corrupt.gkm" bs=1 seek=$((size - 100)) conv=notrunc status=none
expect 1 "code section checksum mismatch" -- "$run" inspect "$dir/corrupt.gkm"

if [ "$failures" -ne 0 ]; then
  echo "$failures gecko-run CLI check(s) failed"
  exit 1
fi
echo "all gecko-run CLI checks passed"
