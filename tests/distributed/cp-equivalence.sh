#!/usr/bin/env bash
# Chunk-parallel equivalence (ctest label `distributed`): 2 MPI ranks that
# each hold one half of every sequence train exactly like 1 rank on the
# whole sequences.
#
#   cp-equivalence.sh GECKO_RUN MPIEXEC ARTIFACT_DIR WORK_DIR
#
# ARTIFACT_DIR holds b1.gkm (tiny model, batch 1, L 32: train_step, the
# reference), c16.gkm (the same model, --mode chunk-train, batch 1, pieces
# of L 16 = one chunk each) and tokens.bin (made by compile-artifacts.sh).
# Checks: losses and gradient norms per step (1e-6 and 1e-5 relative) and
# the weights after 3 AdamW steps (2e-6 relative L2 per tensor, fp32), the
# negative control (one rank on the first half of every sequence must fail
# the same comparison), clear errors for a wrong artifact or flag, and
# 2 steps + --resume + 1 step = 3 straight steps byte for byte.
#
# Tolerances: both sides compute the same fp32 function with the sums in
# another order (attention over the cached history, the EMA scan and the
# working memory resumed from the received state, the gradients summed over
# the ranks), and --adam-eps 1e-3 keeps AdamW linear in rounding-level
# gradients (docs/distributed.md section 4). Measured (2026-11-28): losses
# and gradient norms equal in steps 1-2 and 4e-8 / 7e-8 apart in step 3;
# weights 6.9e-7 worst (layers.0.mega.wz.bias, whose gradient sums terms
# that largely cancel; ChunkParallel.GeckoF32OneChunkPieces sees the same
# tensor as the worst), the next 5.5e-7 and below. The negative control is
# 1.8 off.
set -euo pipefail
run="$1"; mpiexec="$2"; art="$3"; work="$4"
here="$(cd "$(dirname "$0")" && pwd)"
py=python3
rm -rf "$work"; mkdir -p "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
mpi=(timeout 300 "$mpiexec" -np 2 --oversubscribe)
common=(--data "$art/tokens.bin" --steps 3 --seed 3 --lr 1e-2 --warmup 1
        --log-every 1 --collective-timeout 120)

echo "== the plan: chunk_loss, chunk_grad, apply_gradients summed over 'chunk'"
"$run" inspect "$art/c16.gkm" > "$work/inspect.txt"
grep "^function\|collective" "$work/inspect.txt" | cut -c1-120
grep -q "collective before the call: all_reduce (sum) over group 'chunk' of 50 inputs: grad.embed.weight, " "$work/inspect.txt"

echo "== 1 rank, whole sequences of 32 (train_step)"
"$run" train "$art/b1.gkm" "${common[@]}" --checkpoint-dir "$work/one" \
  --metrics "$work/one.jsonl"
echo "== 2 ranks, pieces of 16 (chunk_loss, state ->, chunk_grad, <- cotangent)"
"${mpi[@]}" "$run" train "$art/c16.gkm" --chunk-parallel "${common[@]}" \
  --checkpoint-dir "$work/two" --metrics "$work/two.jsonl" \
  --bucket-mb 0.05 --consistency-check-every 1 | tee "$work/two.log"
grep -q "chunk parallel over 2 ranks (mpi): sequences of 32 tokens in pieces of 16" "$work/two.log"
# The bound calls report where each step's time went (rank 0).
grep -q '"cp_phases_s":{"chunk_loss":' "$work/two.jsonl"

echo "== losses and gradient norms"
"$py" "$here/compare_losses.py" "$work/two.jsonl" "$work/one.jsonl"
echo "== weights after 3 steps"
"$py" "$here/compare_weights.py" "$work/two/step-00000003.safetensors" \
  "$work/one/step-00000003.safetensors" --rtol 2e-6 --skip-prefix opt.
echo "== optimizer state (informative)"
"$py" "$here/compare_weights.py" "$work/two/step-00000003.safetensors" \
  "$work/one/step-00000003.safetensors" --rtol 1e-3 --prefix opt.

echo "== negative control: 1 rank on the first 16 tokens must NOT match"
"$run" train "$art/c16.gkm" --chunk-parallel "${common[@]}" \
  --checkpoint-dir "$work/half" --quiet
if "$py" "$here/compare_weights.py" "$work/half/step-00000003.safetensors" \
     "$work/one/step-00000003.safetensors" --rtol 2e-6 --skip-prefix opt.; then
  echo "FAIL: the comparison cannot tell half sequences from whole ones"; exit 1
fi

echo "== errors"
. "$here/expect_error.sh"
expect_error "has no function 'chunk_loss', which --chunk-parallel needs; compile it with gecko-compile --mode chunk-train" \
  "$run" train "$art/b1.gkm" --chunk-parallel "${common[@]}" \
  --checkpoint-dir "$work/e1"
expect_error "(a --mode chunk-train artifact: train it with --chunk-parallel)" \
  "$run" train "$art/c16.gkm" "${common[@]}" --checkpoint-dir "$work/e2"
expect_error "--chunk-messages device needs a cuda artifact and the NCCL communicator (--dist nccl); this run has a cpu artifact and the 'local' communicator" \
  "$run" train "$art/c16.gkm" --chunk-parallel --chunk-messages device \
  "${common[@]}" --checkpoint-dir "$work/e4"
expect_error "--chunk-messages needs --chunk-parallel" \
  "$run" train "$art/b1.gkm" --chunk-messages host "${common[@]}" \
  --checkpoint-dir "$work/e5"
expect_error "--chunk-parallel runs chunk_loss, chunk_grad and apply_gradients; it takes no --function" \
  "$run" train "$art/c16.gkm" --chunk-parallel --function chunk_loss \
  "${common[@]}" --checkpoint-dir "$work/e3"

echo "== 2 ranks: 2 steps, then --resume for the 3rd = 3 straight steps"
"${mpi[@]}" "$run" train "$art/c16.gkm" --chunk-parallel "${common[@]}" \
  --stop-at 2 --checkpoint-dir "$work/resumed" --quiet
"${mpi[@]}" "$run" train "$art/c16.gkm" --chunk-parallel "${common[@]}" \
  --resume --checkpoint-dir "$work/resumed" | tee "$work/resumed.log"
grep -q "resumed from .*step-00000002.safetensors" "$work/resumed.log"
cmp "$work/two/step-00000003.safetensors" \
  "$work/resumed/step-00000003.safetensors"
echo "PASS"
