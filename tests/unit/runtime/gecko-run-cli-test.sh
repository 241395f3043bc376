#!/usr/bin/env bash
# End-to-end test of gecko-run inspect/forward/check/train on the test
# kernel's artifacts. Usage: gecko-run-cli-test.sh GECKO_RUN MAKE_TEST_ARTIFACT WORKDIR
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

# --- check with several functions: grad runs, train_step cannot bind ---
t16="$dir/train16.gkm"
expect 0 "skipped function 'train_step' \(missing input 'input.lr', 'input.step'\)" -- \
  "$run" check "$t16" --golden "$dir/golden_grad.safetensors"
expect 0 "grad.w +max_abs .* tol 1.0e-04  PASS" -- \
  "$run" check "$t16" --golden "$dir/golden_grad.safetensors"
expect 0 "debug.logits +max_abs .* tol 1.0e-06  PASS" -- \
  "$run" check "$t16" --golden "$dir/golden_grad.safetensors" --rtol-debug 1e-6
expect 0 "output.loss +max_abs .*PASS" -- \
  "$run" check "$t16" --golden "$dir/golden_grad.safetensors" --function grad
expect 1 "grad.w +max_abs .*FAIL" -- \
  "$run" check "$t16" --golden "$dir/golden_grad_bad.safetensors"
expect 1 "no function of .* can be bound from" -- \
  "$run" check "$t16" --golden "$dir/weights.safetensors"

# --- train ---
expect 0 "input +input.lr +f32 +\[\]" -- "$run" inspect "$t16"
expect 0 "state +opt.m.w +f32 +\[16, 16\]" -- "$run" inspect "$t16"
expect 0 "param +w +f32 +\[16, 16\]  init normal\(mean 0, std 0.02\)" -- "$run" inspect "$t16"
expect 0 "done after step 6/6" -- "$run" train "$t16" --data "$dir/tokens16.tok" \
  --steps 6 --lr 0.05 --warmup 2 --seed 7 --checkpoint-dir "$dir/A" \
  --metrics "$dir/A.jsonl" --log-every 2
[ "$(wc -l < "$dir/A.jsonl")" -eq 6 ] || { echo "FAIL: metrics lines"; failures=$((failures + 1)); }
grep -q '"grad_norm"' "$dir/A.jsonl" || { echo "FAIL: metrics lack grad_norm"; failures=$((failures + 1)); }
grep -q '<polyline class="smoothed"' "$dir/A/loss.svg" || { echo "FAIL: no loss plot"; failures=$((failures + 1)); }
# 3 steps, then resume for 3 more: byte-identical final checkpoint.
expect 0 "done after step 3/6" -- "$run" train "$t16" --data "$dir/tokens16.tok" \
  --steps 6 --lr 0.05 --warmup 2 --seed 7 --checkpoint-dir "$dir/B" --stop-at 3
expect 0 "resumed from .*step-00000003.safetensors" -- "$run" train "$t16" \
  --data "$dir/tokens16.tok" --checkpoint-dir "$dir/B" --resume
if cmp -s "$dir/A/step-00000006.safetensors" "$dir/B/step-00000006.safetensors"; then
  echo "ok: resumed training is byte-identical to a straight run"
else
  echo "FAIL: resumed checkpoint differs from the straight run"; failures=$((failures + 1))
fi
expect 1 "already holds checkpoints" -- "$run" train "$t16" --data "$dir/tokens16.tok" \
  --steps 6 --checkpoint-dir "$dir/A"
expect 1 "written for a different model" -- "$run" train "$dir/train256.gkm" \
  --data "$dir/tokens16.tok" --checkpoint-dir "$dir/A" --resume
expect 1 "loss is NaN at step 4.*step-00000002.safetensors" -- "$run" train \
  "$dir/train_nan.gkm" --data "$dir/tokens16.tok" --steps 10 --checkpoint-every 2 \
  --checkpoint-dir "$dir/N" --quiet
[ -e "$dir/N/step-00000002.safetensors" ] && [ ! -e "$dir/N/step-00000004.safetensors" ] ||
  { echo "FAIL: NaN run checkpoints"; failures=$((failures + 1)); }
expect 1 "token 0 \(text\) is 84, outside the model's vocabulary \[0, 16\)" -- \
  "$run" train "$t16" --data "$dir/text.txt" --steps 2 --checkpoint-dir "$dir/T16"
expect 0 "step 10/20  loss" -- "$run" train "$dir/train256.gkm" --data "$dir/text.txt" \
  --steps 20 --lr 0.01 --checkpoint-dir "$dir/T" --plot "$dir/text.svg"
[ -s "$dir/text.svg" ] || { echo "FAIL: --plot wrote nothing"; failures=$((failures + 1)); }
expect 2 "needs --data and --checkpoint-dir" -- "$run" train "$t16" --steps 2
expect 2 "--steps needs a positive integer" -- "$run" train "$t16" --data x \
  --checkpoint-dir y --steps abc
expect 2 "option '--resume' takes no value" -- "$run" train "$t16" --resume=1
# SIGINT: stop after the current step, write a checkpoint, exit 130.
"$run" train "$dir/train256.gkm" --data "$dir/text.txt" --steps 100000000 \
  --checkpoint-every 0 --checkpoint-dir "$dir/I" --quiet > "$dir/I.log" 2>&1 &
pid=$!
sleep 1
kill -INT "$pid"
wait "$pid"
rc=$?
if [ "$rc" -eq 130 ] && grep -q "interrupted after step" "$dir/I.log" &&
   ls "$dir/I"/step-*.safetensors > /dev/null 2>&1; then
  echo "ok: SIGINT stops training with a checkpoint (exit 130)"
else
  echo "FAIL: SIGINT run exited $rc"; sed 's/^/    /' "$dir/I.log"; failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures gecko-run CLI check(s) failed"
  exit 1
fi
echo "all gecko-run CLI checks passed"
