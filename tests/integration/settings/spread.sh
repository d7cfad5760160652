#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# GREENHOUSE_SPREAD and --spread: each accepted value reaches the pool (its
# start-up line at debug level names it), a pool without the hand-off always
# spreads, and a bad value is refused by the launcher and by the shim itself,
# naming the variable and the accepted values. (What the modes do is tested
# by the unit tests and the integration.packed.* programs.)
source "$(dirname "$0")/../stock/lib.sh"
gh_init "$@"
unset GREENHOUSE_SPREAD GREENHOUSE_HANDOFF_MS  # the defaults are checked
BIN="$(dirname "$GH")"
PROG="$BIN/tests/programs/threads"
[ -x "$PROG" ] || { log "missing $PROG (build the tests)"; exit 1; }

# pool_line [ENV...] -- [LAUNCHER OPTIONS...]: "hand-off after N ms, spread M"
# from the debug log of a threaded program's run.
pool_line() {
  local envs=() opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  opts=("$@")
  rm -f "$WORK/log"
  env "${envs[@]}" GREENHOUSE_LOG_LEVEL=debug GREENHOUSE_LOG_FILE="$WORK/log" \
    timeout 60 "$GH" "${opts[@]}" -- "$PROG" >/dev/null 2>&1
  grep -o "hand-off after [0-9]* ms, spread [a-z]*" "$WORK/log" | tail -1
}

# expect LABEL WANT [ENV...] -- [OPTIONS...]
expect() {
  local label="$1" want="$2"; shift 2
  local got
  got="$(pool_line "$@")"
  if [ "$got" = "$want" ]; then pass "$label: $got"; else fail "$label: '$got', want '$want'"; fi
}

expect "default" "hand-off after 5 ms, spread auto" --
expect "GREENHOUSE_SPREAD=never" "hand-off after 5 ms, spread never" GREENHOUSE_SPREAD=never --
expect "GREENHOUSE_SPREAD=always" "hand-off after 5 ms, spread always" GREENHOUSE_SPREAD=always --
expect "--spread=never" "hand-off after 5 ms, spread never" -- --spread=never
expect "never without the hand-off" "hand-off after 0 ms, spread always" \
  GREENHOUSE_SPREAD=never GREENHOUSE_HANDOFF_MS=0 --

refused GREENHOUSE_SPREAD sometimes "auto, always or never"

[ "$FAILURES" = 0 ]
