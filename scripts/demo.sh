#!/usr/bin/env bash
# README command 1: sets up a fresh Debian 12 machine, builds Gecko, and runs
# the main job: compile a small byte-level Gecko (models/demo.json) into a
# CPU training artifact, train it for a few minutes on public-domain text
# (the Book of Genesis, KJV), write the checkpoints, metrics and loss curve,
# then compile the streaming functions and generate text from the trained
# weights. STEPS (default 300) and OUT_DIR (default out/) can be set.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
out="${OUT_DIR:-$root/out}"
steps="${STEPS:-300}"
mkdir -p "$out"

bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"

echo "== training text: Genesis (King James Version, public domain)"
bash "$root/scripts/demo-text.sh" "$out/genesis.txt"
echo "$(wc -c < "$out/genesis.txt") bytes in $out/genesis.txt"

echo "== gecko-compile models/demo.json --mode train --target cpu"
"$build/bin/gecko-compile" --model "$root/models/demo.json" --mode train \
  --target cpu --batch 4 --seq-len 128 -o "$out/demo-train.gkm"
# (Through a file: `inspect | head` would end inspect with SIGPIPE, which
# pipefail turns into a failure.)
"$build/bin/gecko-run" inspect "$out/demo-train.gkm" >"$out/demo-train.plan.txt"
head -n 6 "$out/demo-train.plan.txt"

echo "== gecko-run train ($steps steps)"
# Each demo run trains from scratch: the trainer refuses to start over a
# directory that holds checkpoints (it would need --resume), so the demo's
# own checkpoints and metrics from an earlier run are removed first.
if [ -d "$out/checkpoints" ]; then
  echo "demo: removing the previous run's $out/checkpoints"
  rm -rf "$out/checkpoints" "$out/metrics.jsonl"
fi
"$build/bin/gecko-run" train "$out/demo-train.gkm" --data "$out/genesis.txt" \
  --steps "$steps" --warmup 20 --lr 3e-3 --seed 1 \
  --checkpoint-dir "$out/checkpoints" --checkpoint-every 100 \
  --metrics "$out/metrics.jsonl" --plot "$out/loss.svg"

echo "== gecko-compile models/demo.json --mode generate --target cpu"
"$build/bin/gecko-compile" --model "$root/models/demo.json" --mode generate \
  --target cpu --batch 1 -o "$out/demo-generate.gkm"
checkpoint="$(ls "$out"/checkpoints/step-*.safetensors | sort | tail -n 1)"
echo "== gecko-run generate (weights $checkpoint)"
"$build/bin/gecko-run" generate "$out/demo-generate.gkm" --weights "$checkpoint" \
  --prompt "In the beginning" --max-tokens 300 --temperature 0.8 --top-k 40 \
  --seed 1
echo
echo "demo: done. Checkpoints in $out/checkpoints, loss curve $out/loss.svg," \
  "metrics $out/metrics.jsonl"
