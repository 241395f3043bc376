#!/usr/bin/env bash
# Checks clang-format (LLVM style, .clang-format) on C/C++ files. By default
# it checks the files changed since BASE (default: the previous commit, or
# every tracked file on a single-commit clone); --all checks every file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
fmt="${CLANG_FORMAT:-clang-format-22}"
pattern='\.(c|cc|cpp|h|hpp|cu|cuh)$'
exclude='^third_party/'

if [ "${1:-}" = "--all" ] || ! git rev-parse -q --verify HEAD~1 >/dev/null; then
  files=$(git ls-files | grep -E "$pattern" | grep -Ev "$exclude" || true)
else
  base="${BASE:-HEAD~1}"
  files=$(git diff --name-only --diff-filter=ACMR "$base" -- | grep -E "$pattern" | grep -Ev "$exclude" || true)
fi
[ -n "$files" ] || { echo "format-check: no C/C++ files to check"; exit 0; }
bad=0
for f in $files; do
  [ -f "$f" ] || continue
  if ! "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "format-check: $f is not clang-formatted (run: $fmt -i $f)"
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "format-check: $(echo "$files" | wc -w) files OK"
exit $bad
