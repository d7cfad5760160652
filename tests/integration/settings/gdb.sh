#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The gdb helper (scripts/gdb/greenhouse.py) on tests/programs/ps_target.c:
# `info green-threads` lists the five threads with their waits, and
# `green-bt ID` walks a parked thread's stack through the function it waits
# in, attached to the live process and in its core dump (the kernel's, made
# by SIGABRT; skipped when core dumps go to a program, see core_pattern).
source "$(dirname "$0")/../stock/lib.sh"
gh_init "$@"
need gdb
BIN="$(dirname "$GH")"
PROG="$BIN/tests/programs/ps_target"
HELPER="$(cd "$(dirname "$0")/../../.." && pwd)/scripts/gdb/greenhouse.py"
[ -x "$PROG" ] || { log "missing $PROG (build the tests)"; exit 1; }

# check_gdb LABEL GDB_ARGS...: runs gdb with the helper; checks its output.
check_gdb() {
  local label="$1"
  shift
  local out
  out="$(timeout 120 gdb -nx -batch "$@" -ex "source $HELPER" -ex "info green-threads" \
    -ex "green-bt $READER" -ex "green-bt $LOCKER" 2>&1)"
  local ok=1 line
  for line in "^$PID +ps_target +parked +join 0x" "^[0-9]+ +reader +parked +read fd [0-9]+" \
      "^[0-9]+ +locker +parked +mutex 0x" "^[0-9]+ +sleeper +parked +sleep" \
      "^[0-9]+ +waiter +parked +cond 0x" "^5 green threads$" \
      "^#[0-9]+ +0x[0-9a-f]+ in in_read \\(\\)" "^#[0-9]+ +0x[0-9a-f]+ in in_mutex \\(\\)"; do
    grep -Eq "$line" <<<"$out" || { ok=0; log "$label: no line /$line/"; }
  done
  if [ "$ok" = 1 ]; then
    pass "$label: info green-threads lists the five threads; green-bt goes through in_read and in_mutex"
  else
    fail "$label: gdb said:"
    log "$(grep -v '^\[New LWP\|^warning' <<<"$out" | head -60)"
  fi
}

cd "$WORK" || exit 1
rm -f core core.* pid
ulimit -c unlimited 2>/dev/null
start_bg "$GH" -- "$PROG" "$WORK/pid" </dev/null
bg=$BG_PID
for ((i = 0; i < 200; i++)); do [ -s "$WORK/pid" ] && break; sleep 0.05; done
PID="$(cat "$WORK/pid")"
# The threads pass a barrier and then block, the pid file is written after
# the barrier: wait until greenhouse ps shows all five parked where they
# block (with every runnable thread on one carrier, GREENHOUSE_SPREAD=never,
# they get there one after the other), so that gdb sees them there.
for ((i = 0; i < 400; i++)); do
  ps_out="$("$GH" ps "$PID")"
  [ "$(grep -cE ' parked +[0-9]+ +(join|read fd|mutex|sleep|cond) ' <<<"$ps_out")" = 5 ] && break
  sleep 0.05
done
READER="$(awk '$2 == "reader" {print $1}' <<<"$ps_out")"
LOCKER="$(awk '$2 == "locker" {print $1}' <<<"$ps_out")"
[ -n "$READER" ] && [ -n "$LOCKER" ] || fail "greenhouse ps did not list reader and locker: $ps_out"

check_gdb "live process" -p "$PID"

pattern="$(cat /proc/sys/kernel/core_pattern)"
if [ "${pattern:0:1}" = "|" ]; then
  log "(core dumps go to a program here, core_pattern '$pattern': the core file check is left out)"
  stop_bg "$bg"
else
  # (SIGABRT: a background job started by a shell ignores SIGQUIT)
  kill -ABRT "$PID"
  wait_gone "$bg" 30
  core="$(ls -t "$WORK"/core* 2>/dev/null | head -1)"
  if [ -z "$core" ]; then
    log "(no core file was written, core_pattern '$pattern': the core file check is left out)"
  else
    check_gdb "core file" "$PROG" "$core"
  fi
fi
finish
