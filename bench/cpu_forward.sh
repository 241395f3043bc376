#!/usr/bin/env bash
# Reproduces the CPU measurements of docs/perf.md: compile time and
# tokens/s of forward artifacts (tiny B2 L64 with the golden weights, demo
# B4 L128 and small B1 L1024 with random weights) and of a demo training
# artifact (B4 L128, 10 steps of `gecko-run train` on Genesis).
#
# Usage: bench/cpu_forward.sh [OUT_DIR]       (default /tmp/gecko-bench)
#   env: GECKO_COMPILE, GECKO_RUN (default build/bin/...), MODELS
#        ("tiny demo small"), TRAIN (1: also the demo train artifact),
#        REPEAT (3 forward runs each; the best is reported), EXTRA (more
#        gecko-compile options, e.g. "--opt-level 3"), PYTHON (python3 with
#        numpy, default /usr/bin/python3).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
compile="${GECKO_COMPILE:-$here/build/bin/gecko-compile}"
run="${GECKO_RUN:-$here/build/bin/gecko-run}"
out="${1:-/tmp/gecko-bench}"
models="${MODELS:-tiny demo small}"
repeat="${REPEAT:-3}"
python="${PYTHON:-/usr/bin/python3}"
golden="${GECKO_SHARED_DIR:-$here/../shared}/golden/golden_tiny_a.safetensors"
[ -f "$golden" ] || golden=/work/shared/golden/golden_tiny_a.safetensors
mkdir -p "$out"

timed_compile() { # name args...
  local name="$1"; shift
  local t0 t1
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$compile" "$@" ${EXTRA:-} -o "$out/$name.gkm"
  t1=$(date +%s.%N)
  printf '%-14s compile %6.1f s\n' "$name" "$(echo "$t1 - $t0" | bc)"
}

best_forward() { # name weights tokens
  local best=0 rate
  for _ in $(seq "$repeat"); do
    rate=$("$run" forward "$out/$1.gkm" --weights "$2" --tokens "$3" |
           sed -n 's/.* \([0-9.]*\) tokens\/s/\1/p')
    best=$(echo "if ($rate > $best) $rate else $best" | bc)
  done
  printf '%-14s forward %9.1f tokens/s (best of %s)\n' "$1" "$best" "$repeat"
}

for model in $models; do
  case "$model" in
    tiny) b=2; l=64 ;;
    demo) b=4; l=128 ;;
    small) b=1; l=1024 ;;
    *) echo "cpu_forward: unknown model $model"; exit 2 ;;
  esac
  timed_compile "$model" --model "$here/models/$model.json" --mode forward \
    --target cpu --batch "$b" --seq-len "$l"
  if [ "$model" = tiny ]; then
    weights="$golden"; tokens="$golden"
  else
    weights="$out/${model}_w.safetensors"; tokens="$out/${model}_t.safetensors"
    "$run" inspect "$out/$model.gkm" |
      "$python" "$here/bench/random_inputs.py" "$weights" "$tokens" >/dev/null
  fi
  best_forward "$model" "$weights" "$tokens"
done

if [ "${TRAIN:-1}" = 1 ]; then
  timed_compile demo_train --model "$here/models/demo.json" --mode train \
    --target cpu --batch 4 --seq-len 128
  [ -f "$out/genesis.txt" ] || bash "$here/scripts/demo-text.sh" "$out/genesis.txt"
  rm -rf "$out/ckpt"
  "$run" train "$out/demo_train.gkm" --data "$out/genesis.txt" --steps 10 \
    --checkpoint-dir "$out/ckpt" --log-every 10 2>&1 | grep "done after"
fi
