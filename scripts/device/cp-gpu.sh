#!/usr/bin/env bash
# Runs ON a multi-GPU machine (device tool, kind nvidia-h100-x2 or larger),
# from scripts/device/run.sh or alone:
#   bash scripts/device/cp-gpu.sh BUILD_DIR OUT_DIR
# with the cuda artifacts of scripts/device/compile-artifacts.sh in
# .deps/artifacts/cp (gzipped). Chunk (sequence) parallelism, one process
# per GPU under mpirun: chunk_loss / chunk_grad / apply_gradients bound
# once with the params, optimizer state and gradients on the GPU, the
# stream state and its cotangent passed between neighbours GPU to GPU
# (ncclSend/ncclRecv; --chunk-messages host: through host memory and
# MPI), the gradients summed by NCCL in device memory.
#   1. equivalence: 2 GPUs x pieces of 16 against 1 GPU on the whole
#      sequences of 32 (train_step), and 4 GPUs x 16 against 1 GPU x 64
#      where the host has 4 GPUs: per-step losses within 1e-6 and
#      gradient norms within 1e-5 relative, weights after 3 AdamW steps
#      within 2e-6 relative L2 per tensor (the bounds of
#      tests/distributed/cp-equivalence.sh, which says why); the optimizer
#      state is printed for information. The same over 2 GPUs with
#      --chunk-messages host (the state through the host) and with
#      --dist mpi (the state and the gradient sum through the host).
#      The same in one process with the GPUs as threads (--ranks 2, 4).
#   2. data x chunk parallelism on 4 GPUs: 2 replicas x 2 GPUs
#      (--chunk-ranks 2) against 1 GPU with batch 2 on sequences of 32,
#      the same bounds (tests/distributed/dpcp-equivalence.sh on GPUs).
#   3. negative control: 1 GPU with --chunk-parallel (P = 1: only the
#      first 16 tokens of each sequence) must fail the comparison with 32.
#   4. figures: the per-step phases (cp_phases_s of the metrics) of the
#      scaling artifact (batch 4, pieces of 512) over 2 and 4 GPUs, the
#      messages GPU to GPU and through the host, and the bytes of the
#      messages, written to OUT/cp-phases.txt.
# Prints PASS/FAIL lines; exit 1 when a check fails; SKIP (exit 0) with
# fewer than 2 GPUs.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$1" out="$2"
run="$build/bin/gecko-run"
a="${TMPDIR:-/tmp}/gecko-cp-artifacts"
rm -rf "$a"; mkdir -p "$a"
for f in "$root"/.deps/artifacts/cp/*.gkm.gz; do
  [ -f "$f" ] && gunzip -c "$f" >"$a/$(basename "$f" .gz)"
done
cmp="$root/tests/distributed/compare_weights.py"
work="$out/cp"
rm -rf "$work"; mkdir -p "$work"
export NCCL_NVLS_ENABLE=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
gpus=$(nvidia-smi -L | grep -c '^GPU')
if [ "$gpus" -lt 2 ]; then
  echo "SKIP cp-gpu: $gpus GPU(s); chunk parallelism needs 2 or more"
  exit 0
fi
mpiexec=$(command -v mpirun || command -v mpiexec || true)
if [ -z "$mpiexec" ]; then
  echo "FAIL cp-gpu: no mpirun on this machine"; exit 1
fi
for f in c16 t32 t64 t32-b2; do
  if [ ! -f "$a/$f.gkm" ]; then
    echo "FAIL cp-gpu: .deps/artifacts/cp/$f.gkm.gz is missing (scripts/device/compile-artifacts.sh)"
    exit 1
  fi
done
rc=0
python3 "$root/tests/lit/training/Inputs/make_tokens.py" "$work/tokens.bin" 20000 50
common=(--data "$work/tokens.bin" --steps 3 --seed 3 --lr 1e-2 --warmup 1
        --log-every 1 --collective-timeout 120)

phases() { # METRICS.jsonl: the per-step phases
  python3 - "$1" <<'PY'
import json, sys
for r in map(json.loads, open(sys.argv[1])):
    p = r.get("cp_phases_s") or {}
    print("  step %d: loss %.7f, %s" % (r["step"], r["loss"],
          ", ".join("%s %.2f ms" % (k, 1e3 * v) for k, v in p.items())))
PY
}

reference() { # REF: 1 GPU with the train_step of REF.gkm
  [ -d "$work/one-$1" ] && return 0
  "$run" train "$a/$1.gkm" --device cuda:0 "${common[@]}" \
    --checkpoint-dir "$work/one-$1" --metrics "$work/one-$1.jsonl" --quiet
}

# equivalence N DIST REPLICAS REF MESSAGES: N GPUs (REPLICAS replicas of
# N/REPLICAS pieces of 16) against 1 GPU running REF.gkm on the whole
# sequences; MESSAGES: auto or host (--chunk-messages).
equivalence() {
  local n=$1 dist=$2 d=$3 ref=$4 msg=$5 p=$(($1 / $3))
  local name="cp$1-$2-d$3-$5" len=$((16 * p)) group="$p ranks"
  local extra=(--chunk-messages "$msg") how="device to device"
  [ "$msg" = host ] || [ "$dist" = mpi ] && how="through the host"
  [ "$d" -gt 1 ] && { group="$p ranks x $d data-parallel replicas"; extra+=(--chunk-ranks "$p"); }
  echo "== equivalence: $n GPUs = $d x $p pieces of 16 (--dist $dist, messages $msg) vs 1 GPU ($ref)"
  reference "$ref" || return 1
  rm -rf "$work/$name"
  timeout 300 "$mpiexec" -np "$n" "$run" train "$a/c16.gkm" --chunk-parallel \
    "${extra[@]}" --dist "$dist" "${common[@]}" --checkpoint-dir "$work/$name" \
    --metrics "$work/$name.jsonl" --consistency-check-every 1 \
    >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; return 1; }
  grep "chunk parallel over" "$work/$name.log"
  grep -q "chunk parallel over $group ($dist): sequences of $len tokens in pieces of 16;.* to the previous rank ($how)" \
    "$work/$name.log" || { echo "unexpected set-up line"; return 1; }
  phases "$work/$name.jsonl"
  python3 "$root/tests/distributed/compare_losses.py" "$work/$name.jsonl" \
    "$work/one-$ref.jsonl" || return 1
  python3 "$cmp" "$work/$name/step-00000003.safetensors" \
    "$work/one-$ref/step-00000003.safetensors" --rtol 2e-6 --skip-prefix opt. \
    | tail -2 || return 1
  echo "  optimizer state (informative):"
  python3 "$cmp" "$work/$name/step-00000003.safetensors" \
    "$work/one-$ref/step-00000003.safetensors" --rtol 1e-3 --prefix opt. | tail -1
}

# one_process N: the N GPUs as threads of one process (--ranks N; NCCL
# over threads, device messages) x pieces of 16 against 1 GPU x 16 N.
one_process() {
  local n=$1 ref=t$((16 * $1)) name="cp-threads$1"
  echo "== one process: $n GPUs (--ranks $n) x pieces of 16 vs 1 GPU ($ref)"
  reference "$ref" || return 1
  rm -rf "$work/$name"
  timeout 300 "$run" train "$a/c16.gkm" --chunk-parallel --ranks "$n" \
    "${common[@]}" --checkpoint-dir "$work/$name" \
    --metrics "$work/$name.jsonl" --consistency-check-every 1 \
    >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; return 1; }
  grep "chunk parallel over" "$work/$name.log"
  grep -q "chunk parallel over $n ranks (nccl): sequences of $((16 * n)) tokens in pieces of 16;.* to the previous rank (device to device)" \
    "$work/$name.log" || { echo "unexpected set-up line"; return 1; }
  python3 "$root/tests/distributed/compare_losses.py" "$work/$name.jsonl" \
    "$work/one-$ref.jsonl" || return 1
  python3 "$cmp" "$work/$name/step-00000003.safetensors" \
    "$work/one-$ref/step-00000003.safetensors" --rtol 2e-6 --skip-prefix opt. \
    | tail -2 || return 1
}

check() { # LABEL CMD...: PASS/FAIL line
  local label="$1"; shift
  if "$@"; then echo "PASS cp-gpu $label"; else echo "FAIL cp-gpu $label"; rc=1; fi
}
check "equivalence (2 GPUs, nccl)" equivalence 2 nccl 1 t32 auto
check "equivalence (2 GPUs, nccl, state through the host)" equivalence 2 nccl 1 t32 host
check "equivalence (2 GPUs, --dist mpi)" equivalence 2 mpi 1 t32 auto
check "equivalence (2 GPUs in one process, --ranks 2)" one_process 2
if [ "$gpus" -ge 4 ]; then
  check "equivalence (4 GPUs, nccl)" equivalence 4 nccl 1 t64 auto
  check "equivalence (2 replicas x 2 GPUs, nccl)" equivalence 4 nccl 2 t32-b2 auto
  check "equivalence (4 GPUs in one process, --ranks 4)" one_process 4
fi

echo "== negative control: 1 GPU on the first 16 tokens must NOT match 32"
if "$run" train "$a/c16.gkm" --chunk-parallel --device cuda:0 "${common[@]}" \
     --checkpoint-dir "$work/half" --metrics "$work/half.jsonl" --quiet \
   && reference t32; then
  if python3 "$cmp" "$work/half/step-00000003.safetensors" \
       "$work/one-t32/step-00000003.safetensors" --rtol 2e-6 --skip-prefix opt. \
       | tail -1; then
    echo "FAIL cp-gpu negative control: the first halves matched the whole sequences"; rc=1
  else
    echo "PASS cp-gpu negative control"
  fi
else
  echo "FAIL cp-gpu negative control: the 1-GPU runs failed"; rc=1
fi

# Figures: where a step's time goes with a larger piece (batch 4 x 512).
if [ -f "$a/cp-scale.gkm" ]; then
  rm -f "$out/cp-phases.txt"
  for run_ in 2:device 2:host 4:device 4:host; do
    n=${run_%%:*} msg=${run_#*:} sn="scale$n-$msg"
    [ "$gpus" -ge "$n" ] || continue
    echo "== phases: cp-scale over $n GPUs, messages $msg, 8 steps"
    timeout 600 "$mpiexec" -np "$n" "$run" train "$a/cp-scale.gkm" \
      --chunk-parallel --chunk-messages "$msg" --data "$work/tokens.bin" \
      --steps 8 --seed 5 --lr 1e-3 --log-every 1 --collective-timeout 300 \
      --consistency-check-every 0 --checkpoint-dir "$work/$sn" \
      --metrics "$work/$sn.jsonl" >"$work/$sn.log" 2>&1 \
      || { cat "$work/$sn.log"; echo "FAIL cp-gpu phases ($n GPUs, $msg)"; rc=1; continue; }
    {
      echo "cp-scale over $n x $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), messages $msg"
      grep "chunk parallel over" "$work/$sn.log"
      python3 - "$work/$sn.jsonl" <<'PY'
import json, statistics, sys
r = [json.loads(l) for l in open(sys.argv[1])][2:]  # steps 3.. (warm)
keys = r[0]["cp_phases_s"].keys()
print("median over steps 3-%d (rank 0): " % (len(r) + 2) + ", ".join(
    "%s %.2f ms" % (k, 1e3 * statistics.median(x["cp_phases_s"][k] for x in r))
    for k in keys) + "; %.0f tok/s" % statistics.median(
    x["tokens_per_s"] for x in r))
PY
    } | tee -a "$out/cp-phases.txt"
  done
fi
exit $rc
