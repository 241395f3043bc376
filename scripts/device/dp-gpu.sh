#!/usr/bin/env bash
# Runs ON a multi-GPU machine (device tool, kind nvidia-h100-x2 or larger),
# from scripts/device/run.sh or alone:
#   bash scripts/device/dp-gpu.sh BUILD_DIR OUT_DIR
# with the cuda artifacts of scripts/device/compile-artifacts.sh in
# .deps/artifacts/dp. One process per GPU under mpirun; the gradients are
# all-reduced by NCCL in device memory.
#   0. the artifacts' grad raises ready signals (kernel ABI v2) covering
#      every gradient once.
#   1. equivalence: 2 GPUs x batch 1 (grad + NCCL all-reduce +
#      apply_gradients) against 1 GPU x batch 2 (train_step): weights after
#      3 AdamW steps within 1e-6 relative, the same losses; once with the
#      all-reduce overlapped with grad's backward (--overlap on: buckets
#      started from grad's ready signals on a communication stream) and
#      once after grad (--overlap off); on and off are also compared with
#      each other (informative). A negative control (1 GPU x batch 1) must
#      fail that comparison. The same with 4 GPUs x batch 1 against batch 4
#      where the host has 4 GPUs.
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
#      --threads N (device sums and means, overlapped groups, host
#      collectives through the thread group, bad input, the timeout of a
#      collective one rank never joins) for N = 2 and 4.
#   3. scaling: tokens/s of the scaling artifacts on 1 GPU (train_step) and
#      on N = 2 (and 4) GPUs (data parallel, the same per-GPU batch), under
#      mpirun with --overlap off and on, and in one process (--ranks N,
#      overlap on); efficiency = tok/s(N) / (N x tok/s(1)), the on/off
#      ratio and the median dp_phases_s of the mpirun runs (grad, time in
#      the signal handlers, tail all-reduce wait). Printed and written to
#      OUT/dp-scaling.txt.
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

signals() { # ARTIFACT: grad's ready signals name every gradient once
  "$run" inspect "$1" >"$work/inspect-$(basename "$1").txt" || return 1
  python3 - "$work/inspect-$(basename "$1").txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
assert "kernel ABI v2" in text, "not a kernel ABI v2 artifact"
grad = text.split("function 'grad'")[1].split("function '")[0]
reduced = re.search(r"collective before the call: .*: (.*)$",
                    text.split("function 'apply_gradients'")[1], re.M)
names = [n for l in re.findall(r"^    signal \d+: (.*)$", grad, re.M)
         for n in l.split(", ")]
ids = [int(i) for i in re.findall(r"^    signal (\d+):", grad, re.M)]
assert ids == list(range(len(ids))) and ids, ids
want = reduced.group(1).split(", ")
assert sorted(names) == sorted(want), (len(names), len(want))
print("  %s: grad raises %d ready signals over %d gradients"
      % (sys.argv[1].split("inspect-")[1][:-4], len(ids), len(names)))
PY
}

equivalence() { # N MODE: N GPUs x batch 1 (--overlap MODE) against 1 GPU x batch N
  local n=$1 mode=$2 one="$a/dp-b$1.gkm"
  echo "== equivalence: $n GPUs x batch 1 (NCCL, --overlap $mode) vs 1 GPU x batch $n"
  if [ ! -f "$work/one$n/step-00000003.safetensors" ]; then
    "$run" train "$one" --device cuda:0 "${common[@]}" \
      --checkpoint-dir "$work/one$n" --metrics "$work/one$n.jsonl" --quiet || return 1
  fi
  local d="$work/dp$n-$mode"
  timeout 300 "$mpiexec" -np "$n" "$run" train "$a/dp-b1.gkm" "${common[@]}" \
    --overlap "$mode" --checkpoint-dir "$d" --metrics "$d.jsonl" \
    --consistency-check-every 1 >"$d.log" 2>&1 || { cat "$d.log"; return 1; }
  grep "data parallel over" "$d.log"
  python3 - "$d.jsonl" <<'PY'
import json, sys
for r in map(json.loads, open(sys.argv[1])):
    print("  step %d: %.1f tok/s, phases (s) %s" % (r["step"], r["tokens_per_s"], r.get("dp_phases_s")))
PY
  if [ "$mode" = on ]; then
    grep -q "data parallel over $n ranks (nccl): grad with the all-reduce overlapped" "$d.log" || return 1
    grep -q '"overlap":true' "$d.jsonl" || return 1
  else
    grep -q "data parallel over $n ranks (nccl): grad + all-reduce" "$d.log" || return 1
    grep -q '"overlap":false' "$d.jsonl" || return 1
  fi
  python3 "$cmp" "$d/step-00000003.safetensors" \
    "$work/one$n/step-00000003.safetensors" --rtol 1e-6 --skip-prefix opt. \
    | tail -2 || return 1
  losses "$d.jsonl" "$work/one$n.jsonl" || return 1
}

on_vs_off() { # N: informative, overlap on against off (the same sums)
  echo "== $1 GPUs: --overlap on vs off (informative)"
  python3 "$cmp" "$work/dp$1-on/step-00000003.safetensors" \
    "$work/dp$1-off/step-00000003.safetensors" --rtol 1e-6 --skip-prefix opt. \
    | tail -2 || true
}

# DP_CHECKS=0 skips sections 0-2, DP_SCALING=0 section 3 (to split the
# work over device calls of at most 10 minutes).
if [ "${DP_CHECKS:-1}" = 1 ]; then
for f in "$a/dp-b1.gkm" "$a/dp-scale.gkm" "$a/dp-small.gkm"; do
  [ -f "$f" ] || continue
  if signals "$f"; then echo "PASS dp-gpu ready signals ($(basename "$f"))"
  else echo "FAIL dp-gpu ready signals ($(basename "$f"))"; rc=1; fi
done
for mode in on off; do
  if equivalence 2 $mode; then echo "PASS dp-gpu equivalence (2 GPUs, overlap $mode)"
  else echo "FAIL dp-gpu equivalence (2 GPUs, overlap $mode)"; rc=1; fi
done
on_vs_off 2
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
  for mode in on off; do
    if equivalence 4 $mode; then echo "PASS dp-gpu equivalence (4 GPUs, overlap $mode)"
    else echo "FAIL dp-gpu equivalence (4 GPUs, overlap $mode)"; rc=1; fi
  done
  on_vs_off 4
fi

one_process() { # N: N GPUs in one process (--ranks N) x batch 1 vs 1 GPU x batch N
  local n=$1
  echo "== one process: $n GPUs x batch 1 (--ranks $n, NCCL) vs 1 GPU x batch $n"
  timeout 300 "$run" train "$a/dp-b1.gkm" --ranks "$n" "${common[@]}" --overlap on \
    --checkpoint-dir "$work/sp$n" --metrics "$work/sp$n.jsonl" \
    --consistency-check-every 1 >"$work/sp$n.log" 2>&1 || { cat "$work/sp$n.log"; return 1; }
  grep "data parallel over" "$work/sp$n.log"
  grep -q "data parallel over $n ranks (nccl)" "$work/sp$n.log" || return 1
  python3 "$cmp" "$work/sp$n/step-00000003.safetensors" \
    "$work/one$n/step-00000003.safetensors" --rtol 1e-6 --skip-prefix opt. \
    | tail -2 || return 1
  losses "$work/sp$n.jsonl" "$work/one$n.jsonl" || return 1
  echo "-- one process vs mpirun ($n GPUs, both overlapped), informative:"
  if cmp -s "$work/sp$n/step-00000003.safetensors" "$work/dp$n-on/step-00000003.safetensors"; then
    echo "   byte-identical checkpoints"
  else
    python3 "$cmp" "$work/sp$n/step-00000003.safetensors" \
      "$work/dp$n-on/step-00000003.safetensors" --rtol 1 | tail -2
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

fi # DP_CHECKS

if [ "${DP_SCALING:-1}" = 1 ]; then
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
phases() { # METRICS.jsonl: median dp phases of steps >= 3, in ms
  python3 - "$1" <<'PY'
import json, statistics, sys
r = [json.loads(l)["dp_phases_s"] for l in open(sys.argv[1])
     if json.loads(l)["step"] >= 3]
med = lambda k: 1e3 * statistics.median(x.get(k, 0) for x in r)
print("grad %.2f ms (handlers %.2f), tail all-reduce %.2f ms, host %.2f ms, "
      "apply %.2f ms" % (med("grad"), med("all_reduce_in_grad"),
                         med("all_reduce"), med("host_sync"), med("apply")))
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
  detail=""
  unset r_2_on r_2_off r_4_on r_4_off
  for n in 2 4; do
    [ "$gpus" -ge "$n" ] || continue
    for mode in off on; do
      tag="$sn-$n-$mode"
      timeout 600 "$mpiexec" -np "$n" "$run" train "$sa" "${scale[@]}" \
        --overlap "$mode" --checkpoint-dir "$work/$tag" \
        --metrics "$work/$tag.jsonl" >"$work/$tag.log" 2>&1 \
        || { cat "$work/$tag.log"; rc=1; continue; }
      rn=$(rate "$work/$tag.jsonl")
      eval "r_${n}_${mode}=$rn"
      eff=$(python3 -c "print('%.3f' % ($rn / ($n * $r1)))")
      line="$line; $n GPUs overlap $mode: $rn tok/s (efficiency $eff)"
      detail="$detail
  $n GPUs overlap $mode: $(phases "$work/$tag.jsonl")"
    done
    on_rate=$(eval echo "\${r_${n}_on:-0}") off_rate=$(eval echo "\${r_${n}_off:-0}")
    if [ "$off_rate" != 0 ] && [ "$on_rate" != 0 ]; then
      detail="$detail
  $n GPUs: overlap on / off = $(python3 -c "print('%.3f' % ($on_rate / $off_rate))")"
    fi
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
    echo "  median phases of steps >= 3:$detail"
  } | tee -a "$out/dp-scaling.txt"
done
fi # DP_SCALING
exit $rc
