# Sourced by the distributed test scripts (which set `work`):
#   expect_error [--exit CODE] NEEDLE CMD...
# runs CMD, which must fail (with exit status CODE when given) and print
# NEEDLE (a fixed string) on stdout or stderr; exits the script with FAIL
# otherwise. The output is in $work/err.log.
expect_error() {
  local code=""
  if [ "$1" = --exit ]; then code="$2"; shift 2; fi
  local needle="$1" rc=0; shift
  "$@" > "$work/err.log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "FAIL: succeeded: $*"; cat "$work/err.log"; exit 1
  fi
  if [ -n "$code" ] && [ "$rc" -ne "$code" ]; then
    echo "FAIL: exit $rc, not $code: $*"; cat "$work/err.log"; exit 1
  fi
  grep -qF -- "$needle" "$work/err.log" || {
    echo "FAIL: '$needle' not in:"; cat "$work/err.log"; exit 1; }
  echo "ok: $needle"
}
