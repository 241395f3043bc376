#!/usr/bin/env bash
# Ranks as threads of one process (ctest label `distributed`):
# `gecko-run train --ranks 2` with per-rank batch b trains exactly like 1
# rank with batch 2b, and like 2 mpirun ranks.
#
#   dp-threads.sh GECKO_RUN MPIEXEC ARTIFACT_DIR WORK_DIR
#
# MPIEXEC may be empty (a build without MPI): the comparison with mpirun is
# then skipped. ARTIFACT_DIR holds b1.gkm, b2.gkm, c16.gkm and tokens.bin
# (compile-artifacts.sh). Checks: weights after 3 AdamW steps within 1e-6
# relative of 1 rank x batch 2 and the same losses; a negative control (1
# rank, batch 1) must fail that comparison; the same run twice gives the
# same checkpoint byte for byte (the reduction is in rank order); with
# mpirun, the same checkpoint as 2 MPI ranks byte for byte (with two ranks
# both sum a + b); rank 0 alone writes; 2 steps + --resume + 1 step = 3
# straight steps byte for byte; chunk parallelism over 2 threads against
# 1 rank on the whole sequences (as cp-equivalence.sh); the CLI errors.
set -euo pipefail
run="$1"; mpiexec="$2"; art="$3"; work="$4"
here="$(cd "$(dirname "$0")" && pwd)"
py=python3
rm -rf "$work"; mkdir -p "$work"
common=(--data "$art/tokens.bin" --steps 3 --seed 3 --lr 1e-2 --warmup 1
        --log-every 1 --collective-timeout 120)
threads=(timeout 300 "$run" train "$art/b1.gkm" --ranks 2 "${common[@]}")

echo "== 1 rank, batch 2 (train_step)"
"$run" train "$art/b2.gkm" "${common[@]}" --checkpoint-dir "$work/one" \
  --metrics "$work/one.jsonl" --quiet
echo "== --ranks 2: 2 threads, batch 1 each (grad + all-reduce + apply_gradients)"
"${threads[@]}" --checkpoint-dir "$work/two" --metrics "$work/two.jsonl" \
  --bucket-mb 0.05 --consistency-check-every 1 | tee "$work/two.log"
grep -q "data parallel over 2 ranks (threads)" "$work/two.log"

echo "== weights after 3 steps"
"$py" "$here/compare_weights.py" "$work/two/step-00000003.safetensors" \
  "$work/one/step-00000003.safetensors" --rtol 1e-6 --skip-prefix opt.
echo "== losses"
"$py" "$here/compare_losses.py" "$work/two.jsonl" "$work/one.jsonl"

echo "== negative control: 1 rank with batch 1 must NOT match"
"$run" train "$art/b1.gkm" "${common[@]}" --checkpoint-dir "$work/half" --quiet
if "$py" "$here/compare_weights.py" "$work/half/step-00000003.safetensors" \
     "$work/one/step-00000003.safetensors" --rtol 1e-6 --skip-prefix opt. \
     >/dev/null; then
  echo "FAIL: the comparison cannot tell batch 1 from batch 2"; exit 1
fi

echo "== deterministic: the same run again, byte for byte"
"${threads[@]}" --checkpoint-dir "$work/again" --bucket-mb 0.05 --quiet
cmp "$work/two/step-00000003.safetensors" "$work/again/step-00000003.safetensors"

if [ -n "$mpiexec" ]; then
  echo "== the same as 2 mpirun ranks, byte for byte"
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    timeout 300 "$mpiexec" -np 2 --oversubscribe "$run" train "$art/b1.gkm" \
    "${common[@]}" --checkpoint-dir "$work/mpi" --bucket-mb 0.05 --quiet
  cmp "$work/two/step-00000003.safetensors" "$work/mpi/step-00000003.safetensors"
else
  echo "== (no mpiexec: the comparison with mpirun is skipped)"
fi

echo "== rank 0 alone writes: one metrics record per step, no stray files"
test "$(wc -l < "$work/two.jsonl")" -eq 3
ls "$work/two" | sort > "$work/two.files"
printf 'loss.svg\nstep-00000003.safetensors\n' | diff - "$work/two.files"

echo "== --ranks 2: 2 steps, then --resume for the 3rd = 3 straight steps"
"${threads[@]}" --stop-at 2 --checkpoint-dir "$work/resumed" --bucket-mb 0.05 \
  --quiet
"${threads[@]}" --resume --checkpoint-dir "$work/resumed" --bucket-mb 0.05 \
  | tee "$work/resumed.log"
grep -q "resumed from .*step-00000002.safetensors" "$work/resumed.log"
cmp "$work/two/step-00000003.safetensors" \
  "$work/resumed/step-00000003.safetensors"

echo "== chunk parallelism over 2 threads (pieces of 16) vs 1 rank on 32"
timeout 300 "$run" train "$art/c16.gkm" --chunk-parallel --ranks 2 \
  "${common[@]}" --checkpoint-dir "$work/cp" --metrics "$work/cp.jsonl" \
  | tee "$work/cp.log"
grep -q "chunk parallel over 2 ranks (threads)" "$work/cp.log"
"$run" train "$art/b1.gkm" "${common[@]}" --checkpoint-dir "$work/whole" \
  --metrics "$work/whole.jsonl" --quiet
"$py" "$here/compare_losses.py" "$work/cp.jsonl" "$work/whole.jsonl"
"$py" "$here/compare_weights.py" "$work/cp/step-00000003.safetensors" \
  "$work/whole/step-00000003.safetensors" --rtol 2e-6 --skip-prefix opt.

echo "== CLI errors"
# expect_usage WANT ARGS...: gecko-run exits 2 (usage) or 1 and prints WANT.
. "$here/expect_error.sh"
base=("$run" train "$art/b1.gkm" "${common[@]}" --checkpoint-dir "$work/err")
expect_error --exit 2 "--dist threads needs --ranks N" "${base[@]}" --dist threads
expect_error --exit 2 "--ranks needs an integer in [1, 1024]" "${base[@]}" --ranks 0
expect_error --exit 2 "it takes --dist auto, threads or nccl, not --dist mpi" \
  "${base[@]}" --ranks 2 --dist mpi
expect_error --exit 2 "this process is one rank of an mpirun/srun job already" \
  env OMPI_COMM_WORLD_SIZE=2 "${base[@]}" --ranks 2
expect_error --exit 2 "--dist nccl needs a cuda artifact" "${base[@]}" --ranks 2 \
  --dist nccl
expect_error --exit 2 "--device with --ranks" "${base[@]}" --ranks 2 --device cuda:1
expect_error --exit 1 "gecko-run: error: rank " "$run" train "$art/b1.gkm" --ranks 2 \
  --data "$work/no-such-file" --steps 3 --checkpoint-dir "$work/err"
grep -Eq "gecko-run: error: rank [01] of 2: .*no-such-file" "$work/err.log"
echo "PASS"
