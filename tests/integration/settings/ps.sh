#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `greenhouse ps PID` on a program whose threads wait in known places
# (tests/programs/ps_target.c): each thread listed with its name, state and
# what it waits on; --stacks names the function each one waits in; --json
# parses and holds the same threads; another user is refused; no socket with
# GREENHOUSE_CONTROL=0; on the epoll backend too. GREENHOUSE_DUMP_SIGNAL=QUIT
# writes the report to the log and the program lives on.
source "$(dirname "$0")/../stock/lib.sh"
gh_init "$@"
BIN="$(dirname "$GH")"
PROG="$BIN/tests/programs/ps_target"
[ -x "$PROG" ] || { log "missing $PROG (build the tests)"; exit 1; }

# start_target TAG [ENV...]: starts the program under the shim; sets PID.
# MODE (environment of this script): the program's second argument.
start_target() {
  local tag="$1" i
  shift
  rm -f "$WORK/$tag.pid"
  start_bg env "$@" "$GH" -- "$PROG" "$WORK/$tag.pid" ${MODE:-} </dev/null >"$WORK/$tag.out" 2>"$WORK/$tag.err"
  TARGET_BG=$BG_PID
  for ((i = 0; i < 200; i++)); do
    [ -s "$WORK/$tag.pid" ] && break
    sleep 0.05
  done
  PID="$(cat "$WORK/$tag.pid" 2>/dev/null)"
  [ -n "$PID" ] || fail "$tag: the program did not start"
}

# expect_line TEXT REGEX LABEL: TEXT has a line matching REGEX.
expect_line() {
  if grep -Eq "$2" <<<"$1"; then pass "$3"; else fail "$3: no line matching /$2/ in:"; log "$1"; fi
}

start_target plain
out="$("$GH" ps "$PID" 2>&1)"; rc=$?
[ "$rc" = 0 ] || fail "ps exited $rc: $out"
expect_line "$out" "^greenhouse: pid $PID \\(ps_target\\): 5 green threads on [0-9]+ carriers" "ps: the header counts 5 threads"
expect_line "$out" "^$PID +ps_target +parked +[0-9]+ +join 0x[0-9a-f]+ +[0-9.]+ s$" "ps: main waits in join"
expect_line "$out" "^[0-9]+ +reader +parked +[0-9]+ +read fd [0-9]+ +[0-9.]+ s$" "ps: reader waits in read on its fd"
expect_line "$out" "^[0-9]+ +locker +parked +[0-9]+ +mutex 0x[0-9a-f]+ +[0-9.]+ s$" "ps: locker waits on a mutex"
expect_line "$out" "^[0-9]+ +sleeper +parked +[0-9]+ +sleep +[0-9.]+ s$" "ps: sleeper sleeps"
expect_line "$out" "^[0-9]+ +waiter +parked +[0-9]+ +cond 0x[0-9a-f]+ +[0-9.]+ s$" "ps: waiter waits on a condition variable"
expect_line "$out" "^carrier 0: os thread $PID, " "ps: carrier 0 is the main thread"

# --stacks: the block after each thread's line names its function.
stacks="$("$GH" ps "$PID" --stacks 2>&1)"
for pair in reader:in_read locker:in_mutex sleeper:in_sleep waiter:in_cond ps_target:main; do
  name=${pair%%:*} fn=${pair#*:}
  block="$(awk -v n="$name" '$2 == n && $1 ~ /^[0-9]+$/ {on=1; next} /^[0-9]/ {on=0} on' <<<"$stacks")"
  if grep -Eq "^    #[0-9]+ 0x[0-9a-f]+ $fn\\+0x[0-9a-f]+$" <<<"$block"; then
    pass "ps --stacks: $name's backtrace goes through $fn"
  else
    fail "ps --stacks: no frame $fn under $name:"
    log "$stacks"
  fi
done

# --json
json="$("$GH" ps "$PID" --json --stacks 2>&1)"
if "$PY" -c '
import json, sys
d = json.loads(sys.stdin.read())
names = sorted(t["name"] for t in d["threads"])
assert names == ["locker", "ps_target", "reader", "sleeper", "waiter"], names
by = {t["name"]: t for t in d["threads"]}
assert by["reader"]["wait"]["what"] == "read" and by["reader"]["wait"]["fd"] >= 0
assert by["locker"]["wait"]["what"] == "mutex"
assert any(f.get("function") == "in_cond" for f in by["waiter"]["stack"])
assert d["carriers"] and d["carriers"][0]["os_tid"] == d["pid"] and "switches_per_s" in d["carriers"][0]
' <<<"$json"; then
  pass "ps --json: parses; the same five threads, waits and stacks"
else
  fail "ps --json: unexpected document:"
  log "$json"
fi

# Another user may not look inside.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  other="$(setpriv --reuid=65534 --regid=65534 --clear-groups "$GH" ps "$PID" 2>&1)"; rc=$?
  if [ "$rc" = 1 ] && grep -q "^greenhouse: refused: only the process's own user or root" <<<"$other"; then
    pass "ps as another user: refused"
  else
    fail "ps as another user: exit $rc: $other"
  fi
else
  log "(not root: the other-user check needs setpriv as root; left out)"
fi
stop_bg "$TARGET_BG"

# GREENHOUSE_CONTROL=0: no socket.
start_target nocontrol GREENHOUSE_CONTROL=0
out="$("$GH" ps "$PID" 2>&1)"; rc=$?
if [ "$rc" = 1 ] && grep -q "has no control socket" <<<"$out"; then
  pass "GREENHOUSE_CONTROL=0: no control socket"
else
  fail "GREENHOUSE_CONTROL=0: ps exit $rc: $out"
fi
# Someone else takes the process's socket name (abstract names have no
# owner): ps must not believe its answer.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0greenhouse-control-" + sys.argv[1])
s.listen(1)
print("bound", flush=True)
c, _ = s.accept()
c.sendall(b"greenhouse: pid " + sys.argv[1].encode() + b" (fake): 0 green threads\n")
' "$PID" >"$WORK/squat.out" 2>&1 &
  squat=$!
  for ((i = 0; i < 100; i++)); do grep -q bound "$WORK/squat.out" 2>/dev/null && break; sleep 0.05; done
  out="$("$GH" ps "$PID" 2>&1)"; rc=$?
  if [ "$rc" = 1 ] && grep -q "is held by another process" <<<"$out" && ! grep -q fake <<<"$out"; then
    pass "a socket name taken by another user: ps refuses to believe it"
  else
    fail "squatted socket: ps exit $rc: $out"
  fi
  kill "$squat" 2>/dev/null
  wait "$squat" 2>/dev/null
fi
stop_bg "$TARGET_BG"

# The epoll backend.
start_target epoll GREENHOUSE_BACKEND=epoll
out="$("$GH" ps "$PID" 2>&1)"
expect_line "$out" "^carrier 0: .* epoll requests [0-9]+" "ps on the epoll backend: carriers wait in epoll"
expect_line "$out" "^[0-9]+ +reader +parked +[0-9]+ +read fd [0-9]+ +[0-9.]+ s$" "ps on the epoll backend: reader waits in read on its fd"
stop_bg "$TARGET_BG"

# The dump signal: the report in the log, the program still running.
start_target dump GREENHOUSE_DUMP_SIGNAL=QUIT GREENHOUSE_LOG_FILE="$WORK/dump.log"
kill -QUIT "$PID"
for ((i = 0; i < 200; i++)); do
  grep -q "in_cond" "$WORK/dump.log" 2>/dev/null && break
  sleep 0.05
done
log_text="$(cat "$WORK/dump.log" 2>/dev/null)"
expect_line "$log_text" "^greenhouse: pid $PID \\(ps_target\\): 5 green threads" "dump signal: the report's header in the log"
expect_line "$log_text" "^greenhouse:     #[0-9]+ 0x[0-9a-f]+ in_read\\+0x[0-9a-f]+$" "dump signal: backtraces in the log"
if kill -0 "$PID" 2>/dev/null; then pass "dump signal: the program lives on"; else fail "dump signal: the program died"; fi
stop_bg "$TARGET_BG"

# A deadlock: reported once in the log, naming both threads and where they
# wait; the program waits on (as natively).
MODE=deadlock start_target deadlock GREENHOUSE_LOG_FILE="$WORK/deadlock.log"
for ((i = 0; i < 200; i++)); do
  grep -q "take_in_order" "$WORK/deadlock.log" 2>/dev/null && break
  sleep 0.05
done
log_text="$(cat "$WORK/deadlock.log" 2>/dev/null)"
expect_line "$log_text" "^greenhouse: deadlock: every green thread waits on a lock" "deadlock: reported"
expect_line "$log_text" "^greenhouse: [0-9]+ +left +parked +[0-9]+ +mutex 0x[0-9a-f]+ " "deadlock: left waits on a mutex"
expect_line "$log_text" "^greenhouse: [0-9]+ +right +parked +[0-9]+ +mutex 0x[0-9a-f]+ " "deadlock: right waits on a mutex"
expect_line "$log_text" "^greenhouse:     #[0-9]+ 0x[0-9a-f]+ take_in_order\\+0x[0-9a-f]+$" "deadlock: backtraces through take_in_order"
if kill -0 "$PID" 2>/dev/null; then pass "deadlock: the program waits on"; else fail "deadlock: the program ended"; fi
n="$(grep -c "deadlock: every green thread" "$WORK/deadlock.log")"
[ "$n" = 1 ] && pass "deadlock: reported once" || fail "deadlock: reported $n times"
stop_bg "$TARGET_BG"
# Every green thread waits on a condition variable that a thread glibc
# started by itself (a POSIX timer's) signals: no deadlock (2.5 s between
# wake-ups: the deadlock check sees everything still twice meanwhile).
MODE=timer start_target timer GREENHOUSE_LOG_FILE="$WORK/timer.log"
wait_gone "$TARGET_BG" 30 || fail "timer: the program did not end"
if grep -q "timer fired 2 times" "$WORK/timer.out" && ! grep -q deadlock "$WORK/timer.log" 2>/dev/null; then
  pass "no deadlock reported while a glibc timer thread keeps waking a green thread"
else
  fail "timer: out: $(cat "$WORK/timer.out"); log: $(cat "$WORK/timer.log" 2>/dev/null)"
fi
MODE=
# The threads of the first program (a read, a sleep) are not a deadlock.
if grep -q "deadlock" "$WORK/plain.err" "$WORK/dump.log" 2>/dev/null; then
  fail "a deadlock was reported for threads waiting on I/O and a timer"
else
  pass "no deadlock reported for threads waiting on I/O and a timer"
fi

# The hog report: a thread computing for 2 s, GREENHOUSE_HOG_MS=300.
MODE=hog start_target hog GREENHOUSE_HOG_MS=300 GREENHOUSE_LOG_FILE="$WORK/hog.log"
wait_gone "$TARGET_BG" 30 || fail "hog: the program did not end"
log_text="$(cat "$WORK/hog.log" 2>/dev/null)"
expect_line "$log_text" "^greenhouse: thread spinner \\(id [0-9]+\\) has kept carrier [0-9]+ for [0-9.]+ s without a switch .*; it is computing, at:$" "hog: the spinning thread named"
expect_line "$log_text" "^greenhouse:   #[0-9]+ 0x[0-9a-f]+ spin_for\\+0x[0-9a-f]+$" "hog: its backtrace goes through spin_for"
n="$(grep -c "has kept carrier" "$WORK/hog.log")"
[ "$n" = 1 ] && pass "hog: reported once" || fail "hog: reported $n times"
MODE=

# An invalid value is refused by name.
out="$(GREENHOUSE_DUMP_SIGNAL=KILL "$GH" -- true 2>&1)"; rc=$?
if [ "$rc" = 2 ] && grep -q "GREENHOUSE_DUMP_SIGNAL=KILL is invalid: expected off, or one of" <<<"$out"; then
  pass "GREENHOUSE_DUMP_SIGNAL=KILL refused, naming the variable"
else
  fail "GREENHOUSE_DUMP_SIGNAL=KILL: exit $rc: $out"
fi
finish
