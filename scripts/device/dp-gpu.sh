#!/usr/bin/env bash
# Runs ON a multi-GPU machine (device tool, kind nvidia-h100-x2 or larger),
# from scripts/device/run.sh or alone:
#   bash scripts/device/dp-gpu.sh BUILD_DIR OUT_DIR
# with the cuda artifacts of scripts/device/compile-artifacts.sh in
# .deps/artifacts/dp. One process per GPU under mpirun; the gradients are
# all-reduced by NCCL in device memory.
#   1. equivalence: 2 GPUs x batch 1 (grad + NCCL all-reduce +
#      apply_gradients) against 1 GPU x batch 2 (train_step): weights after
#      3 AdamW steps within 1e-6 relative, the same losses; a negative
#      control (1 GPU x batch 1) must fail that comparison. The same with
#      4 GPUs x batch 1 against batch 4 where the host has 4 GPUs.
#   2. one process (gecko-run train --ranks N: the N ranks are threads of
#      one process, thread r drives cuda:r, NCCL over a "threads" group):
#      the same comparison (N GPUs x batch 1 in one process against 1 GPU x
#      batch N, weights within 1e-6, same losses), the host-reduction
#      variant (--dist threads: gradients copied to the host and reduced by
#      the thread group) within 1e-6 as well, the one-process checkpoint
#      against the mpirun one (max relative difference, printed; byte
#      equality is reported, not required), and a hung rank (fault
#      injection) ending the process with the NCCL timeout message within
#      60 s. With 4 GPUs the same for 4. Before that, gecko_nccl_comm_test
#      --threads N (device sums and means, host collectives through the
#      thread group, bad input, the timeout of a collective one rank never
#      joins) for N = 2 and 4.
#   3. scaling: tokens/s of the scaling artifacts on 1 GPU (train_step) and
#      on N = 2 (and 4) GPUs (data parallel, the same per-GPU batch), under
#      mpirun and in one process (--ranks N); efficiency = tok/s(N) / (N x
#      tok/s(1)). Written to OUT/dp-scaling.txt.
# Each check prints a PASS/FAIL line. Exit 1 when a check fails; prints SKIP
# and exits 0 with fewer than 2 GPUs.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$1" out="$2"
run="$build/bin/gecko-run"
# The artifacts travel gzipped (the device tool carries 64 MiB at most).
a="${TMPDIR:-/tmp}/gecko-dp-artifacts"
rm -rf "$a"; mkdir -p "$a"
for f in "$root"/.deps/artifacts/dp/*.gkm "$root"/.deps/artifacts/dp/*.gkm.gz; do
  [ -f "$f" ] || continue
  case "$f" in
    *.gz) gunzip -c "$f" >"$a/$(basename "$f" .gz)" ;;
    *) cp "$f" "$a/" ;;
  esac
done
cmp="$root/tests/distributed/compare_weights.py"
work="$out/dp"
rm -rf "$work"; mkdir -p "$work"
export NCCL_NVLS_ENABLE=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
gpus=$(nvidia-smi -L | grep -c '^GPU')
if [ "$gpus" -lt 2 ]; then
  echo "SKIP dp-gpu: $gpus GPU(s); data parallelism needs 2 or more"
  exit 0
fi
mpiexec=$(command -v mpirun || command -v mpiexec || true)
if [ -z "$mpiexec" ]; then
  echo "FAIL dp-gpu: no mpirun on this machine"; exit 1
fi
rc=0
python3 "$root/tests/lit/training/Inputs/make_tokens.py" "$work/tokens.bin" 200000 50
common=(--data "$work/tokens.bin" --steps 3 --seed 3 --lr 1e-2 --warmup 1
        --log-every 1 --collective-timeout 120)

losses() { # A.jsonl B.jsonl: per-step loss within 1e-6, grad norm 1e-5
  python3 "$root/tests/distributed/compare_losses.py" "$1" "$2"
}

equivalence() { # N: N GPUs x batch 1 against 1 GPU x batch N
  local n=$1 one="$a/dp-b$1.gkm"
  echo "== equivalence: $n GPUs x batch 1 (NCCL) vs 1 GPU x batch $n"
  "$run" train "$one" --device cuda:0 "${common[@]}" \
    --checkpoint-dir "$work/one$n" --metrics "$work/one$n.jsonl" --quiet || return 1
  timeout 300 "$mpiexec" -np "$n" "$run" train "$a/dp-b1.gkm" "${common[@]}" \
    --checkpoint-dir "$work/dp$n" --metrics "$work/dp$n.jsonl" \
    --consistency-check-every 1 >"$work/dp$n.log" 2>&1 || { cat "$work/dp$n.log"; return 1; }
  grep "data parallel over" "$work/dp$n.log"
  python3 - "$work/dp$n.jsonl" <<'PY'
import json, sys
for r in map(json.loads, open(sys.argv[1])):
    print("  step %d: %.1f tok/s, phases (s) %s" % (r["step"], r["tokens_per_s"], r.get("dp_phases_s")))
PY
  grep -q "data parallel over $n ranks (nccl)" "$work/dp$n.log" || return 1
  python3 "$cmp" "$work/dp$n/step-00000003.safetensors" \
    "$work/one$n/step-00000003.safetensors" --rtol 1e-6 --skip-prefix opt. \
    | tail -2 || return 1
  losses "$work/dp$n.jsonl" "$work/one$n.jsonl" || return 1
}

if equivalence 2; then echo "PASS dp-gpu equivalence (2 GPUs)"; else echo "FAIL dp-gpu equivalence (2 GPUs)"; rc=1; fi
echo "== negative control: 1 GPU x batch 1 must NOT match batch 2"
"$run" train "$a/dp-b1.gkm" --device cuda:0 "${common[@]}" \
  --checkpoint-dir "$work/half" --metrics "$work/half.jsonl" --quiet
if python3 "$cmp" "$work/half/step-00000003.safetensors" \
     "$work/one2/step-00000003.safetensors" --rtol 1e-6 --skip-prefix opt. >/dev/null; then
  echo "FAIL dp-gpu negative control: batch 1 matched batch 2"; rc=1
else
  echo "PASS dp-gpu negative control"
fi
if [ "$gpus" -ge 4 ] && [ -f "$a/dp-b4.gkm" ]; then
  if equivalence 4; then echo "PASS dp-gpu equivalence (4 GPUs)"; else echo "FAIL dp-gpu equivalence (4 GPUs)"; rc=1; fi
fi

one_process() { # N: N GPUs in one process (--ranks N) x batch 1 vs 1 GPU x batch N
  local n=$1
  echo "== one process: $n GPUs x batch 1 (--ranks $n, NCCL) vs 1 GPU x batch $n"
  timeout 300 "$run" train "$a/dp-b1.gkm" --ranks "$n" "${common[@]}" \
    --checkpoint-dir "$work/sp$n" --metrics "$work/sp$n.jsonl" \
    --consistency-check-every 1 >"$work/sp$n.log" 2>&1 || { cat "$work/sp$n.log"; return 1; }
  grep "data parallel over" "$work/sp$n.log"
  grep -q "data parallel over $n ranks (nccl)" "$work/sp$n.log" || return 1
  python3 "$cmp" "$work/sp$n/step-00000003.safetensors" \
    "$work/one$n/step-00000003.safetensors" --rtol 1e-6 --skip-prefix opt. \
    | tail -2 || return 1
  losses "$work/sp$n.jsonl" "$work/one$n.jsonl" || return 1
  echo "-- one process vs mpirun ($n GPUs), informative:"
  if cmp -s "$work/sp$n/step-00000003.safetensors" "$work/dp$n/step-00000003.safetensors"; then
    echo "   byte-identical checkpoints"
  else
    python3 "$cmp" "$work/sp$n/step-00000003.safetensors" \
      "$work/dp$n/step-00000003.safetensors" --rtol 1 | tail -2
  fi
  echo "-- one process, host reduction (--dist threads)"
  timeout 300 "$run" train "$a/dp-b1.gkm" --ranks "$n" --dist threads "${common[@]}" \
    --checkpoint-dir "$work/sph$n" --metrics "$work/sph$n.jsonl" \
    >"$work/sph$n.log" 2>&1 || { cat "$work/sph$n.log"; return 1; }
  grep -q "data parallel over $n ranks (threads)" "$work/sph$n.log" || return 1
  python3 "$cmp" "$work/sph$n/step-00000003.safetensors" \
    "$work/one$n/step-00000003.safetensors" --rtol 1e-6 --skip-prefix opt. \
    | tail -2 || return 1
  losses "$work/sph$n.jsonl" "$work/one$n.jsonl" || return 1
}

one_process_hang() { # N: rank N-1 stops before step 3; the process must end
  local n=$1 start end prc
  echo "== one process: rank $((n - 1)) of $n hangs before step 3 (timeout 5 s)"
  start=$(date +%s)
  GECKO_FAULT_INJECT="hang:$((n - 1)):3" timeout 120 "$run" train "$a/dp-b1.gkm" \
    --ranks "$n" --data "$work/tokens.bin" --steps 20 --seed 3 --log-every 1 \
    --collective-timeout 5 --checkpoint-dir "$work/sphang$n" >"$work/sphang$n.log" 2>&1
  prc=$?
  end=$(date +%s)
  echo "   exit $prc after $((end - start)) s"
  tail -4 "$work/sphang$n.log"
  [ "$prc" -eq 1 ] || return 1
  [ $((end - start)) -le 60 ] || return 1
  grep -q "NCCL all_reduce (avg, .*) of the gradients (collective #[0-9]*) did not complete within 5 s" \
    "$work/sphang$n.log" || return 1
  grep -q "aborting the job (every rank of this process, exit 1)" "$work/sphang$n.log" || return 1
}

# The NCCL communicator checks with the ranks as threads of one process
# (ctest distributed/nccl-communicator-threads2 runs the 2-GPU case too).
for n in 2 4; do
  [ "$gpus" -ge "$n" ] || continue
  if [ ! -x "$build/bin/gecko_nccl_comm_test" ]; then
    echo "FAIL dp-gpu nccl communicator in threads: no gecko_nccl_comm_test"; rc=1; break
  fi
  echo "== NCCL communicator, $n ranks as threads of one process"
  if timeout 300 "$build/bin/gecko_nccl_comm_test" --threads "$n" 2>&1 | tee "$work/ncclthreads$n.log" | tail -3 \
     && grep -q "nccl communicator test on $n ranks (threads): PASS" "$work/ncclthreads$n.log"; then
    echo "PASS dp-gpu nccl communicator in threads ($n GPUs)"
  else
    echo "FAIL dp-gpu nccl communicator in threads ($n GPUs)"; rc=1
  fi
done

for n in 2 4; do
  [ "$gpus" -ge "$n" ] && [ -f "$a/dp-b$n.gkm" ] || continue
  if one_process "$n"; then echo "PASS dp-gpu one-process equivalence ($n GPUs)"; else echo "FAIL dp-gpu one-process equivalence ($n GPUs)"; rc=1; fi
  if one_process_hang "$n"; then echo "PASS dp-gpu one-process hung rank ($n GPUs)"; else echo "FAIL dp-gpu one-process hung rank ($n GPUs)"; rc=1; fi
done

# Scaling: tok/s over steps 3..S (the first two warm up the GPU and NCCL),
# the median of the per-step figures in the metrics.
steps=${DP_SCALE_STEPS:-12}
rate() { # METRICS.jsonl: median tokens_per_s of steps >= 3
  python3 - "$1" <<'PY'
import json, statistics, sys
r = [json.loads(l) for l in open(sys.argv[1])]
print("%.1f" % statistics.median(x["tokens_per_s"] for x in r if x["step"] >= 3))
PY
}
rm -f "$out/dp-scaling.txt"
for sa in "$a/dp-scale.gkm" "$a/dp-small.gkm"; do
  [ -f "$sa" ] || continue
  sn=$(basename "$sa" .gkm)
  echo "== scaling: $sn, $steps steps"
  scale=(--data "$work/tokens.bin" --steps "$steps" --seed 5 --lr 1e-3
         --log-every 1 --collective-timeout 300 --quiet
         --consistency-check-every 0)
  "$run" train "$sa" --device cuda:0 --function train_step "${scale[@]}" \
    --checkpoint-dir "$work/$sn-1" --metrics "$work/$sn-1.jsonl" || { rc=1; continue; }
  r1=$(rate "$work/$sn-1.jsonl")
  line="1 GPU: $r1 tok/s"
  for n in 2 4; do
    [ "$gpus" -ge "$n" ] || continue
    timeout 600 "$mpiexec" -np "$n" "$run" train "$sa" "${scale[@]}" \
      --checkpoint-dir "$work/$sn-$n" --metrics "$work/$sn-$n.jsonl" \
      >"$work/$sn-$n.log" 2>&1 || { cat "$work/$sn-$n.log"; rc=1; continue; }
    rn=$(rate "$work/$sn-$n.jsonl")
    tail -1 "$work/$sn-$n.jsonl"
    eff=$(python3 -c "print('%.3f' % ($rn / ($n * $r1)))")
    line="$line; $n GPUs: $rn tok/s (efficiency $eff)"
    # The same in one process (--ranks N: a thread per GPU).
    timeout 600 "$run" train "$sa" --ranks "$n" "${scale[@]}" \
      --checkpoint-dir "$work/$sn-sp$n" --metrics "$work/$sn-sp$n.jsonl" \
      >"$work/$sn-sp$n.log" 2>&1 || { cat "$work/$sn-sp$n.log"; rc=1; continue; }
    rs=$(rate "$work/$sn-sp$n.jsonl")
    tail -1 "$work/$sn-sp$n.jsonl"
    eff=$(python3 -c "print('%.3f' % ($rs / ($n * $r1)))")
    line="$line, one process: $rs tok/s (efficiency $eff)"
  done
  {
    echo "$sn on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
    "$run" inspect "$sa" | grep -m2 -E "function 'train_step'|input.tokens" || true
    echo "$line"
  } | tee -a "$out/dp-scaling.txt"
done
exit $rc
