#!/usr/bin/env bash
# Failure behaviour of data-parallel training (ctest label `distributed`):
# a rank that dies, or one that stops calling collectives, ends the whole
# job with a non-zero status and a clear message within a bounded time.
#
#   dp-failure.sh GECKO_RUN MPIEXEC ARTIFACT_DIR WORK_DIR
#
# Faults are injected with GECKO_FAULT_INJECT (kill:RANK:STEP or
# hang:RANK:STEP, read by the trainer). The outer `timeout` only guards the
# test itself: reaching it is a failure (the job hung).
set -uo pipefail
run="$1"; mpiexec="$2"; art="$3"; work="$4"
rm -rf "$work"; mkdir -p "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(--data "$art/tokens.bin" --steps 50 --seed 3 --lr 1e-2 --log-every 1)
fail() { echo "FAIL: $*"; exit 1; }

# run_case NAME FAULT TIMEOUT_S LIMIT_S: runs 2 ranks with the fault, checks
# a non-zero exit within LIMIT_S seconds; the output is in $work/NAME.log.
run_case() {
  local name="$1" fault="$2" tmo="$3" limit="$4" start end rc
  start=$(date +%s)
  GECKO_FAULT_INJECT="$fault" timeout 120 "$mpiexec" -np 2 --oversubscribe \
    "$run" train "$art/b1.gkm" "${common[@]}" --collective-timeout "$tmo" \
    --checkpoint-dir "$work/$name" > "$work/$name.log" 2>&1
  rc=$?
  end=$(date +%s)
  echo "== $name: exit $rc after $((end - start)) s"
  cat "$work/$name.log"
  [ "$rc" -ne 124 ] || fail "$name: the job hung (killed by the test's timeout)"
  [ "$rc" -ne 0 ] || fail "$name: the job exited 0"
  [ $((end - start)) -le "$limit" ] || fail "$name: took more than $limit s"
}

# 1. Rank 1 is killed (SIGKILL) before step 3: the launcher notices and ends
#    rank 0, which is waiting in the step's all-reduce.
run_case kill kill:1:3 60 60
grep -q "rank 1: GECKO_FAULT_INJECT: killing this rank" "$work/kill.log" ||
  fail "kill: no fault-injection note"
grep -Eq "exited on signal 9|killed|Killed" "$work/kill.log" ||
  fail "kill: no message naming the killed process"

# 2. Rank 1 stops calling collectives before step 3: rank 0's all-reduce of
#    the gradients times out after 5 s, reports itself and the collective,
#    and aborts the job.
run_case hang hang:1:3 5 60
grep -q "rank 1: GECKO_FAULT_INJECT: this rank stops calling collectives" \
  "$work/hang.log" || fail "hang: no fault-injection note"
grep -q "rank 0 of 2 (host .*): all_reduce (sum, f32 x [0-9]*) of the gradients bucket 1/1 (collective #[0-9]*) did not complete within 5 s" \
  "$work/hang.log" || fail "hang: no timeout message naming rank 0 and the collective"
grep -q "aborting the job (MPI_Abort, exit 1)" "$work/hang.log" ||
  fail "hang: the job was not aborted"
# Steps 1 and 2 completed; nothing was written for the failed step.
grep -q "step 2/50" "$work/hang.log" || fail "hang: steps before the fault did not run"
echo "PASS"
