#!/usr/bin/env bash
# Data x chunk parallelism (ctest label `distributed`): 4 MPI ranks as 2
# data-parallel replicas of 2 chunk-parallel ranks (--chunk-ranks 2) train
# exactly like 1 rank with batch 2 on the whole sequences.
#
#   dpcp-equivalence.sh GECKO_RUN MPIEXEC ARTIFACT_DIR WORK_DIR
#
# ARTIFACT_DIR holds b2.gkm (tiny model, batch 2, L 32: train_step, the
# reference), c16.gkm (--mode chunk-train, batch 1, pieces of 16) and
# tokens.bin (compile-artifacts.sh). Replica d (ranks 2d, 2d + 1) trains
# row d of the step's 2 rows, rank 2d + r its columns [16 r, 16 r + 16);
# every piece seeds its loss cotangent with 1/(P D) = 1/4 and one sum
# all-reduce over the 4 ranks gives the gradient of the mean loss over
# the 2 x 32 positions (docs/distributed.md section 5.4).
#
# Checks: losses and gradient norms per step (1e-6 and 1e-5 relative: a
# wrong scale of the gradient shows in the norm) and the weights after 3
# AdamW steps (2e-6 relative L2 per tensor, the bound of
# cp-equivalence.sh, which says why); the negative control (one replica,
# i.e. batch 1, must fail the same comparison); the errors for a
# --chunk-ranks that does not divide the ranks and for --chunk-ranks
# without --chunk-parallel; 2 steps + --resume + 1 step = 3 straight
# steps byte for byte.
set -euo pipefail
run="$1"; mpiexec="$2"; art="$3"; work="$4"
here="$(cd "$(dirname "$0")" && pwd)"
py=python3
rm -rf "$work"; mkdir -p "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
common=(--data "$art/tokens.bin" --steps 3 --seed 3 --lr 1e-2 --warmup 1
        --log-every 1 --collective-timeout 120)

echo "== 1 rank, batch 2 of whole sequences of 32 (train_step)"
"$run" train "$art/b2.gkm" "${common[@]}" --checkpoint-dir "$work/one" \
  --metrics "$work/one.jsonl" --quiet
echo "== 4 ranks: 2 replicas x 2 pieces of 16"
timeout 300 "$mpiexec" -np 4 --oversubscribe "$run" train "$art/c16.gkm" \
  --chunk-parallel --chunk-ranks 2 "${common[@]}" \
  --checkpoint-dir "$work/four" --metrics "$work/four.jsonl" \
  --consistency-check-every 1 | tee "$work/four.log"
grep -q "chunk parallel over 2 ranks x 2 data-parallel replicas (mpi): sequences of 32 tokens in pieces of 16" "$work/four.log"
grep -q "batch 2 x 32" "$work/four.log"

echo "== losses and gradient norms"
"$py" "$here/compare_losses.py" "$work/four.jsonl" "$work/one.jsonl"
echo "== weights after 3 steps"
"$py" "$here/compare_weights.py" "$work/four/step-00000003.safetensors" \
  "$work/one/step-00000003.safetensors" --rtol 2e-6 --skip-prefix opt.
echo "== optimizer state (informative)"
"$py" "$here/compare_weights.py" "$work/four/step-00000003.safetensors" \
  "$work/one/step-00000003.safetensors" --rtol 1e-3 --prefix opt.
"$py" - "$work/four/step-00000003.safetensors" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    md = json.loads(f.read(n))["__metadata__"]
assert md["chunk_parallel_ranks"] == "2" and md["data_parallel_ranks"] == "2", md
print("checkpoint metadata: chunk_parallel_ranks 2, data_parallel_ranks 2")
PY

echo "== negative control: one replica (batch 1) must NOT match batch 2"
timeout 300 "$mpiexec" -np 2 --oversubscribe "$run" train "$art/c16.gkm" \
  --chunk-parallel "${common[@]}" --checkpoint-dir "$work/half" --quiet
if "$py" "$here/compare_weights.py" "$work/half/step-00000003.safetensors" \
     "$work/one/step-00000003.safetensors" --rtol 2e-6 --skip-prefix opt.; then
  echo "FAIL: the comparison cannot tell one replica from two"; exit 1
fi

echo "== errors"
. "$here/expect_error.sh"
expect_error "--chunk-ranks 3 does not divide the job's 2 ranks into data-parallel replicas of that many ranks each" \
  timeout 120 "$mpiexec" -np 2 --oversubscribe "$run" train "$art/c16.gkm" \
  --chunk-parallel --chunk-ranks 3 "${common[@]}" --checkpoint-dir "$work/e1"
expect_error "--chunk-ranks needs --chunk-parallel" \
  "$run" train "$art/b2.gkm" --chunk-ranks 2 "${common[@]}" \
  --checkpoint-dir "$work/e2"

echo "== 2 x 2 ranks: 2 steps, then --resume for the 3rd = 3 straight steps"
dpcp=(timeout 300 "$mpiexec" -np 4 --oversubscribe "$run" train "$art/c16.gkm"
      --chunk-parallel --chunk-ranks 2 "${common[@]}")
"${dpcp[@]}" --stop-at 2 --checkpoint-dir "$work/resumed" --quiet
"${dpcp[@]}" --resume --checkpoint-dir "$work/resumed" | tee "$work/resumed.log"
grep -q "resumed from .*step-00000002.safetensors" "$work/resumed.log"
cmp "$work/four/step-00000003.safetensors" \
  "$work/resumed/step-00000003.safetensors"
echo "PASS"
