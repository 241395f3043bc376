#!/usr/bin/env bash
# End-to-end test of gecko-run inspect/forward/check/train on the test
# kernel's artifacts. Usage: gecko-run-cli-test.sh GECKO_RUN MAKE_TEST_ARTIFACT WORKDIR
set -uo pipefail
run="${1:?gecko-run}"
make="${2:?gecko-make-test-artifact}"
dir="${3:?work directory}"
rm -rf "$dir" && mkdir -p "$dir"
"$make" "$dir" || { echo "FAIL: cannot generate the test files"; exit 1; }

source "$(dirname "$0")/cli-test-lib.sh"

g="$dir/test.gkm"
expect 0 "function 'forward' \(mode forward, entry gecko_entry_forward\)" -- \
  "$run" inspect "$g"
expect 0 "input +input.tokens +i64 +\[2, 4\] +range \[0, 5\)" -- "$run" inspect "$g"
expect 0 "target cpu" -- "$run" inspect "$dir/foreign.gkm"
# bench and --device on the CPU (cuda artifacts: gecko-run-cuda-cli-test.sh).
expect 0 "function 'forward' on cpu: median [0-9.]+ ms per call .*3 iters after 1 warmup; steady_clock" -- \
  "$run" bench "$g" --iters 3 --warmup 1 --device cpu
expect 2 "--device takes cpu, cuda or cuda:N, not 'gpu'" -- \
  "$run" bench "$g" --device gpu
expect 2 "--graph needs a cuda artifact" -- "$run" bench "$g" --graph
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
expect 0 "artifact format v1, kernel ABI v1 to v2" -- "$run" version
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

# --- streaming: generate, state files, stream, check replay ---
g256="$dir/gen256.gkm"; w256="$dir/gen_weights256.safetensors"
g16="$dir/gen16.gkm"; w16="$dir/gen_weights16.safetensors"
expect 0 "function 'prefill' \(mode prefill" -- "$run" inspect "$g256"
expect 0 "state +stream.layers.0.h +f32 +\[1, 4\]" -- "$run" inspect "$g256"
expect 0 "prefill: 176 tokens in 22 calls" -- "$run" generate "$g256" --weights "$w256" \
  --prompt-file "$dir/prompt.txt" --max-tokens 20
expect 0 "decode: +12 tokens in 12 calls.*tokens/s" -- "$run" generate "$g256" \
  --weights "$w256" --prompt "The gecko" --max-tokens 11
expect 0 "generated 16 tokens" -- "$run" generate "$g256" --weights "$w256" \
  --prompt "abc" --max-tokens 16 --temperature 0.8 --top-k 20 --top-p 0.9 --seed 3
# Greedy and seeded output is deterministic; another seed differs.
o1=$("$run" generate "$g256" --weights "$w256" --prompt "abc" --max-tokens 24 \
  --temperature 1 --seed 5 --quiet)
o2=$("$run" generate "$g256" --weights "$w256" --prompt "abc" --max-tokens 24 \
  --temperature 1 --seed 5 --quiet)
o3=$("$run" generate "$g256" --weights "$w256" --prompt "abc" --max-tokens 24 \
  --temperature 1 --seed 6 --quiet)
if [ -n "$o1" ] && [ "$o1" = "$o2" ] && [ "$o1" != "$o3" ]; then
  echo "ok: seeded generation is deterministic"
else
  echo "FAIL: seeded generation: '$o1' / '$o2' / '$o3'"; failures=$((failures + 1))
fi
# Raw bytes print as escapes: no control bytes reach the terminal.
if printf '%s' "$o1" | LC_ALL=C grep -q '[[:cntrl:]]'; then
  echo "FAIL: generate printed control bytes"; failures=$((failures + 1))
else
  echo "ok: generated bytes are printed safely"
fi
expect 0 "--- row 1 ---" -- "$run" generate "$dir/gen256_b2.gkm" --weights "$w256" \
  --prompt "xy" --max-tokens 4 --temperature 1
expect 0 "decode: +10 tokens in 10 calls" -- "$run" generate "$dir/gen256_decode.gkm" \
  --weights "$w256" --prompt "hello" --max-tokens 5
# State files: the whole prompt equals its first half, saved, then the rest.
expect 0 "wrote stream state" -- "$run" generate "$g256" --weights "$w256" \
  --prompt-file "$dir/prompt.txt" --max-tokens 0 --state-out "$dir/whole.st"
expect 0 "stream position 77" -- "$run" generate "$g256" --weights "$w256" \
  --prompt-file "$dir/prompt_a.txt" --max-tokens 0 --state-out "$dir/half.st"
expect 0 "resumed stream at position 77" -- "$run" generate "$g256" --weights "$w256" \
  --prompt-file "$dir/prompt_b.txt" --max-tokens 0 --state-in "$dir/half.st" \
  --state-out "$dir/resumed.st"
if cmp -s "$dir/whole.st" "$dir/resumed.st"; then
  echo "ok: resumed stream state is byte-identical to one run"
else
  echo "FAIL: resumed stream state differs"; failures=$((failures + 1))
fi
# Generation continues from a state with an empty prompt.
expect 0 "generated 3 tokens" -- "$run" generate "$g256" --weights "$w256" \
  --state-in "$dir/whole.st" --max-tokens 3
expect 1 "holds the stream state of a different model" -- "$run" generate \
  "$dir/gen256_b2.gkm" --weights "$w256" --prompt "a" --state-in "$dir/whole.st"
expect 1 "not a Gecko stream state file|not a Gecko checkpoint" -- "$run" generate \
  "$g256" --weights "$w256" --prompt "a" --state-in "$w256"
expect 1 "prompt byte 0x68 at offset 0 is outside the model's vocabulary \[0, 16\)" -- \
  "$run" generate "$dir/gen16_b1.gkm" --weights "$w16" --prompt "hi"
expect 0 "generated 2 tokens" -- "$run" generate "$dir/gen16_b1.gkm" --weights "$w16" \
  --prompt-ids 1,2,3 --max-tokens 2
# SentencePiece: a model of 200 pieces trained here on the bundled corpus
# (spm_train's defaults: unk 0, BOS 1, EOS 2), or the clear error of a build
# without it.
corpus="$(dirname "$0")/testdata/spm-corpus.txt"
if ! "$run" version | grep -q "sentencepiece enabled"; then
  expect 1 "this build of Gecko lacks SentencePiece" -- "$run" generate "$g256" \
    --weights "$w256" --prompt a --tokenizer sentencepiece:sp.model
  echo "skipped: SentencePiece generation (not in this build)"
elif ! command -v spm_train >/dev/null || ! command -v spm_encode >/dev/null; then
  echo "skipped: SentencePiece generation (spm_train missing; install sentencepiece)"
elif ! spm_train --input="$corpus" --model_prefix="$dir/sp" --vocab_size=200 \
    --character_coverage=0.98 --num_threads=1 --minloglevel=2 >"$dir/spm_train.log" 2>&1; then
  echo "FAIL: spm_train"; sed 's/^/    /' "$dir/spm_train.log"; failures=$((failures + 1))
else
  sp="$dir/sp.model"
  text="The gecko waits on the warm wall"
  pieces=$(printf '%s\n' "$text" | spm_encode --model="$sp" --output_format=id | wc -w)
  # BOS + the pieces spm_encode gives, fed through prefill and decode calls.
  expect 0 "prompt $((pieces + 1)) tokens .*generated 12 tokens" -- "$run" generate \
    "$g256" --weights "$w256" --prompt "$text" --tokenizer "sentencepiece:$sp" \
    --max-tokens 12
  expect 0 "prompt $pieces tokens" -- "$run" generate "$g256" --weights "$w256" \
    --prompt "$text" --tokenizer "sentencepiece:$sp" --max-tokens 1 --no-bos
  # The test LM's ids 200..255 are not pieces of this model: they print as
  # <|N|>; the others as text, never as control bytes.
  expect 0 "note: the tokenizer's vocabulary|generated" -- "$run" generate "$g256" \
    --weights "$w256" --prompt "$text" --tokenizer "sentencepiece:$sp" --max-tokens 2
  o1=$("$run" generate "$g256" --weights "$w256" --prompt "$text" \
    --tokenizer "sentencepiece:$sp" --max-tokens 40 --temperature 1 --seed 2 --quiet)
  o2=$("$run" generate "$g256" --weights "$w256" --prompt-ids 1,5,9 \
    --tokenizer "sentencepiece:$sp" --max-tokens 40 --temperature 1 --seed 2 --quiet)
  if [ -n "$o1" ] && [ "$o1" != "$o2" ] && ! printf '%s' "$o1$o2" | LC_ALL=C grep -q '[[:cntrl:]]'; then
    echo "ok: SentencePiece output is printed safely"
  else
    echo "FAIL: SentencePiece output: '$o1' / '$o2'"; failures=$((failures + 1))
  fi
  # A model larger than the artifact's vocabulary: the error names both.
  expect 1 "prompt token [0-9]+ .* is outside the model's vocabulary \[0, 16\): the SentencePiece model .*sp.model has a vocabulary of 200 pieces but the artifact's vocabulary is 16" -- \
    "$run" generate "$dir/gen16_b1.gkm" --weights "$w16" --prompt "$text" \
    --tokenizer "sentencepiece:$sp"
  printf 'not a sentencepiece model\n' > "$dir/bad.model"
  expect 1 "bad.model is not a valid SentencePiece model" -- "$run" generate "$g256" \
    --weights "$w256" --prompt a --tokenizer "sentencepiece:$dir/bad.model"
  expect 1 "SentencePiece model .*nope.model: No such file" -- "$run" generate "$g256" \
    --weights "$w256" --prompt a --tokenizer "sentencepiece:$dir/nope.model"
fi
expect 2 "--tokenizer must be 'byte' or 'sentencepiece:MODEL'" -- "$run" generate \
  "$g256" --weights "$w256" --prompt a --tokenizer sentencepiece:
expect 2 "--tokenizer must be" -- "$run" generate "$g256" --weights "$w256" \
  --prompt a --tokenizer bpe
expect 1 "has no 'decode' function" -- "$run" generate "$g" \
  --weights "$dir/weights.safetensors" --prompt a
expect 1 "missing param 'head.weight'" -- "$run" generate "$g256" \
  --weights "$dir/weights.safetensors" --prompt a
expect 2 "generate needs --prompt" -- "$run" generate "$g256" --weights "$w256"
expect 2 "generate needs --weights" -- "$run" generate "$g256" --prompt a
expect 2 "give only one of" -- "$run" generate "$g256" --weights "$w256" --prompt a \
  --prompt-file "$dir/prompt.txt"
expect 2 "--top-p needs a number in \(0, 1\]" -- "$run" generate "$g256" \
  --weights "$w256" --prompt a --top-p 1.5
expect 2 "--temperature needs" -- "$run" generate "$g256" --weights "$w256" \
  --prompt a --temperature -1
expect 2 "--max-tokens needs" -- "$run" generate "$g256" --weights "$w256" \
  --prompt a --max-tokens x
# Streaming benchmark: flat memory.
expect 0 "peak RSS \(VmHWM\): .* at 100000 tokens, .*memory flat" -- "$run" stream "$g256" --weights "$w256" \
  --tokens 200000 --report-every 100000
expect 0 "decode 60000 tokens in 30000 calls" -- "$run" stream "$dir/gen256_b2.gkm" \
  --weights "$w256" --tokens 30000 --report-every 10000 --decode-only
expect 2 "--tokens needs a positive integer" -- "$run" stream "$g256" --weights "$w256" \
  --tokens 0
# check replays the streaming cases of a golden.
expect 0 "stream_p16.logits +prefill 16 \(2 calls\) \+ 8 decodes +max_abs 0.000e\+00" -- \
  "$run" check "$g16" --golden "$dir/golden_stream16.safetensors" --weights "$w16"
expect 0 "note: stream_p4: skipped \(prefill of 4 tokens, not a multiple" -- \
  "$run" check "$g16" --golden "$dir/golden_stream16.safetensors" --weights "$w16"
expect 0 "full_b.logits +forward \[2, 24\].*PASS" -- \
  "$run" check "$g16" --golden "$dir/golden_stream16.safetensors" --weights "$w16"
expect 0 "stream_p16.logits +prefill 16 \(1 call\)" -- "$run" check "$dir/gen16_p16.gkm" \
  --golden "$dir/golden_stream16.safetensors" --weights "$w16"
expect 0 "stream.logits +prefill 8 \(1 call\).*PASS" -- "$run" check "$dir/gen16_b1.gkm" \
  --golden "$dir/golden_stream16.safetensors" --weights "$w16"
expect 1 "stream_b.logits .*max_abs 1.0..e-03  atol 2.0e-04  FAIL" -- "$run" check "$g16" \
  --golden "$dir/golden_stream16_bad.safetensors" --weights "$w16"
expect 0 "stream_b.logits .*PASS" -- "$run" check "$g16" \
  --golden "$dir/golden_stream16_bad.safetensors" --weights "$w16" --atol-stream 2e-3
expect 2 "--atol-stream needs" -- "$run" check "$g16" --golden x --atol-stream abc

if [ "$failures" -ne 0 ]; then
  echo "$failures gecko-run CLI check(s) failed"
  exit 1
fi
echo "all gecko-run CLI checks passed"
