#!/usr/bin/env bash
# Data-parallel equivalence (ctest label `distributed`): 2 MPI ranks with
# per-rank batch b train exactly like 1 rank with batch 2b.
#
#   dp-equivalence.sh GECKO_RUN MPIEXEC ARTIFACT_DIR WORK_DIR
#
# ARTIFACT_DIR holds b1.gkm (tiny model, batch 1, --data-parallel), b2.gkm
# (batch 2, plain train step) and tokens.bin (made by compile-artifacts.sh).
# Checks: weights after 3 AdamW steps within 1e-6 relative (fp32) and the
# same losses, with the all-reduce inside grad (its ready signals,
# --overlap on) and after it (the default), which must also agree byte for
# byte; a negative control (1 rank, batch b) must fail the same
# comparison; rank 0 alone writes; 2 steps + --resume + 1 step equal 3
# straight steps byte for byte.
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

echo "== the plan shows the gradient all-reduce of apply_gradients"
"$run" inspect "$art/b1.gkm" | tee "$work/inspect.txt" | grep "collective"
grep -q "collective before the call: all_reduce (mean) over group 'data' of 50 inputs: grad.embed.weight, " "$work/inspect.txt"
echo "== grad signals its gradients as they become final (kernel ABI v2)"
grep -q "kernel ABI v2" "$work/inspect.txt"
grep "    signal " "$work/inspect.txt" | head -3
# Every one of the 50 gradients in exactly one signal, several signals.
"$py" - "$work/inspect.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
grad = text.split("function 'grad'")[1].split("function '")[0]
names = [n for line in re.findall(r"^    signal \d+: (.*)$", grad, re.M)
         for n in line.split(", ")]
ids = [int(i) for i in re.findall(r"^    signal (\d+):", grad, re.M)]
assert ids == list(range(len(ids))), ids
assert len(names) == 50 and len(set(names)) == 50, names
assert all(n.startswith("grad.") for n in names), names
assert len(ids) > 1, "expected several signals, got %d" % len(ids)
print("%d signals over %d gradients" % (len(ids), len(names)))
PY

echo "== 1 rank, batch 2 (train_step)"
"$run" train "$art/b2.gkm" "${common[@]}" --checkpoint-dir "$work/one" \
  --metrics "$work/one.jsonl"
echo "== 2 ranks, batch 1 each (grad + all-reduce + apply_gradients)"
"${mpi[@]}" "$run" train "$art/b1.gkm" "${common[@]}" \
  --checkpoint-dir "$work/two" --metrics "$work/two.jsonl" --overlap on \
  --bucket-mb 0.05 --consistency-check-every 1 | tee "$work/two.log"
grep -q "data parallel over 2 ranks (mpi): grad with the all-reduce overlapped" "$work/two.log"
grep -q '"overlap":true' "$work/two.jsonl"
echo "== 2 ranks, the default --overlap auto (off: the all-reduce after grad returns)"
"${mpi[@]}" "$run" train "$art/b1.gkm" "${common[@]}" \
  --checkpoint-dir "$work/off" --metrics "$work/off.jsonl" \
  --bucket-mb 0.05 | tee "$work/off.log"
grep -q "data parallel over 2 ranks (mpi): grad + all-reduce" "$work/off.log"
grep -q '"overlap":false' "$work/off.jsonl"

echo "== weights after 3 steps"
"$py" "$here/compare_weights.py" "$work/two/step-00000003.safetensors" \
  "$work/one/step-00000003.safetensors" --rtol 1e-6 --skip-prefix opt.
echo "== optimizer state (informative)"
"$py" "$here/compare_weights.py" "$work/two/step-00000003.safetensors" \
  "$work/one/step-00000003.safetensors" --rtol 1e-3 --prefix opt.
echo "== losses"
"$py" "$here/compare_losses.py" "$work/two.jsonl" "$work/one.jsonl"
echo "== overlap on and off: the same sums of two ranks, byte for byte"
cmp "$work/two/step-00000003.safetensors" "$work/off/step-00000003.safetensors"

echo "== negative control: 1 rank with batch 1 must NOT match"
"$run" train "$art/b1.gkm" "${common[@]}" --checkpoint-dir "$work/half" --quiet
if "$py" "$here/compare_weights.py" "$work/half/step-00000003.safetensors" \
     "$work/one/step-00000003.safetensors" --rtol 1e-6 --skip-prefix opt.; then
  echo "FAIL: the comparison cannot tell batch 1 from batch 2"; exit 1
fi

echo "== rank 0 alone writes: one metrics record per step, no stray files"
test "$(wc -l < "$work/two.jsonl")" -eq 3
ls "$work/two" | sort > "$work/two.files"
printf 'loss.svg\nstep-00000003.safetensors\n' | diff - "$work/two.files"

echo "== 2 ranks: 2 steps, then --resume for the 3rd = 3 straight steps"
"${mpi[@]}" "$run" train "$art/b1.gkm" "${common[@]}" --stop-at 2 \
  --checkpoint-dir "$work/resumed" --quiet
"${mpi[@]}" "$run" train "$art/b1.gkm" "${common[@]}" --resume \
  --checkpoint-dir "$work/resumed" | tee "$work/resumed.log"
grep -q "resumed from .*step-00000002.safetensors" "$work/resumed.log"
cmp "$work/two/step-00000003.safetensors" \
  "$work/resumed/step-00000003.safetensors"
echo "PASS"
