#!/usr/bin/env bash
# Failure behaviour with ranks as threads (ctest label `distributed`): a
# rank that stops calling collectives ends the process within the
# collective timeout with a message naming the waiting rank, the collective
# and the missing rank; a killed rank (SIGKILL kills the process: the job);
# Ctrl-C stops every rank after the same step, rank 0 writes the checkpoint
# and the process exits 130.
#
#   dp-threads-failure.sh GECKO_RUN MPIEXEC ARTIFACT_DIR WORK_DIR
#
# MPIEXEC is unused (the same arguments as the other scripts). The outer
# `timeout` only guards the test itself: reaching it is a failure.
set -uo pipefail
run="$1"; art="$3"; work="$4"
rm -rf "$work"; mkdir -p "$work"
common=(--data "$art/tokens.bin" --seed 3 --lr 1e-2 --log-every 1 --ranks 2)
fail() { echo "FAIL: $*"; exit 1; }

# run_case NAME FAULT TIMEOUT_S LIMIT_S EXPECTED_RC
run_case() {
  local name="$1" fault="$2" tmo="$3" limit="$4" want="$5" start end rc
  start=$(date +%s)
  GECKO_FAULT_INJECT="$fault" timeout 120 "$run" train "$art/b1.gkm" \
    "${common[@]}" --steps 50 --collective-timeout "$tmo" \
    --checkpoint-dir "$work/$name" > "$work/$name.log" 2>&1
  rc=$?
  end=$(date +%s)
  echo "== $name: exit $rc after $((end - start)) s"
  cat "$work/$name.log"
  [ "$rc" -ne 124 ] || fail "$name: the job hung (killed by the test's timeout)"
  [ "$rc" -eq "$want" ] || fail "$name: exit $rc, not $want"
  [ $((end - start)) -le "$limit" ] || fail "$name: took more than $limit s"
}

# 1. Rank 1 stops calling collectives before step 3: rank 0's all-reduce of
#    the gradients (after grad by default; inside it, from a ready signal,
#    with --overlap on: the message then also names the signal) times out
#    after 3 s and names rank 1; the process ends.
run_case hang hang:1:3 3 30 1
grep -q "rank 1: GECKO_FAULT_INJECT: this rank stops calling collectives" \
  "$work/hang.log" || fail "hang: no fault-injection note"
grep -q "gecko-run: error: .*rank 0 of 2 (host .*, thread rank): all_reduce (sum, f32 x [0-9]*) of the gradients bucket 1/1 (collective #[0-9]*) did not complete within 3 s (GECKO_COLLECTIVE_TIMEOUT): another rank died, hangs or stopped calling collectives: rank 1 of this process never reached it" \
  "$work/hang.log" || fail "hang: no timeout message naming rank 0, the collective and rank 1"
grep -q "aborting the job (every rank of this process, exit 1)" \
  "$work/hang.log" || fail "hang: the process was not aborted"
grep -q "step 2/50" "$work/hang.log" || fail "hang: steps before the fault did not run"
[ ! -e "$work/hang/step-00000003.safetensors" ] ||
  fail "hang: a checkpoint was written for the failed step"

# 2. Rank 1 kills itself (SIGKILL): that is the whole process.
run_case kill kill:1:3 60 30 137
grep -q "rank 1: GECKO_FAULT_INJECT: killing this rank" "$work/kill.log" ||
  fail "kill: no fault-injection note"

# 3. Ctrl-C: SIGINT to the process while it trains; the ranks agree on the
#    step, rank 0 writes its checkpoint, exit 130.
"$run" train "$art/b1.gkm" "${common[@]}" --steps 100000 \
  --collective-timeout 60 --consistency-check-every 0 \
  --checkpoint-dir "$work/int" > "$work/int.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  grep -q "step 3/100000" "$work/int.log" && break
  sleep 0.1
done
kill -INT "$pid"
for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fail "ctrl-c: still running 30 s after SIGINT"; fi
wait "$pid"; rc=$?
echo "== ctrl-c: exit $rc"
cat "$work/int.log"
[ "$rc" -eq 130 ] || fail "ctrl-c: exit $rc, not 130"
step=$(sed -n 's/^gecko-run: interrupted after step \([0-9]*\); checkpoint .*/\1/p' "$work/int.log")
[ -n "$step" ] || fail "ctrl-c: no 'interrupted after step' line"
[ -f "$work/int/$(printf 'step-%08d.safetensors' "$step")" ] ||
  fail "ctrl-c: no checkpoint for step $step"
echo "PASS"
