#!/usr/bin/env bash
# Writes the demo's training text: the Book of Genesis from the public-domain
# King James Version, as packaged by Debian (bible-kjv), with the verse
# references removed. About 200 KB of plain English, byte-level tokenized by
# `gecko-run train`.
#   scripts/demo-text.sh OUT.txt
set -euo pipefail
out="${1:?usage: demo-text.sh OUT.txt}"
if ! command -v bible >/dev/null; then
  echo "demo-text: the 'bible' program is missing; run scripts/setup.sh" >&2
  exit 1
fi
bible -f "Genesis 1:1-50:26" | sed -E 's/^[A-Za-z0-9]+:[0-9]+ //' > "$out.tmp"
if [ "$(wc -c < "$out.tmp")" -lt 100000 ]; then
  echo "demo-text: unexpectedly short text from bible-kjv" >&2
  exit 1
fi
mv "$out.tmp" "$out"
