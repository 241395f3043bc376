# Shared by the gecko-run CLI test scripts (sourced, not run).
#
# expect RC PATTERN -- CMD...: runs CMD, checks its exit status and that its
# combined output matches the extended regex PATTERN; counts failures in
# $failures.
failures=0
expect() {
  local want="$1" pattern="$2"
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL: '$*' exited $rc, expected $want"
    echo "$out" | sed 's/^/    /'
    failures=$((failures + 1))
  elif ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: '$*' output lacks /$pattern/"
    echo "$out" | sed 's/^/    /'
    failures=$((failures + 1))
  else
    echo "ok: $*"
  fi
}
