#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# io_uring refused by seccomp (EPERM, as Docker's profile; ENOSYS, as
# others), the way CI containers refuse it: a threaded program, a keys-only
# program and python3 behave exactly as natively (under the same filter)
# and the shim prints nothing: its carriers use epoll. With
# GREENHOUSE_BACKEND=io_uring no backend can start: the shim prints one
# `greenhouse:` line and the program runs natively, still correct.
source "$(dirname "$0")/../stock/lib.sh"
gh_init "$@"
BIN="$(dirname "$GH")"
NO_URING="$BIN/tests/no_io_uring"
PROGS="$BIN/tests/programs"
[ -x "$NO_URING" ] || { log "missing $NO_URING (build the tests)"; exit 1; }

PY_PROG='import threading, socket
out = []
def serve(s):
    with s:
        out.append(s.recv(100).decode())
a, b = socket.socketpair()
t = threading.Thread(target=serve, args=(a,), name="server")
t.start()
b.sendall(b"ping")
b.close()
t.join()
local = threading.local()
local.v = "main"
print(out, local.v, threading.current_thread().name)'

# compare LABEL ERRNO EXPECT_STDERR CMD...: runs CMD natively and under the
# shim, both with io_uring refused with ERRNO; stdout and status must match,
# and the shim's stderr must be EXPECT_STDERR ("" or "one-line").
compare() {
  local label="$1" err="$2" expect="$3"; shift 3
  local nout nrc sout src serr
  nout="$(timeout 60 "$NO_URING" "$err" "$@" 2>/dev/null)"; nrc=$?
  sout="$(timeout 60 "$NO_URING" "$err" "$GH" -- "$@" 2>"$WORK/err")"; src=$?
  serr="$(cat "$WORK/err")"
  local ok=1
  [ "$nout" = "$sout" ] && [ "$nrc" = "$src" ] || ok=0
  if [ "$expect" = "" ]; then
    [ -z "$serr" ] || ok=0
  else
    [ "$(grep -c '^greenhouse: no I/O backend can be set up here' <<<"$serr")" = 1 ] &&
      [ "$(grep -vc '^greenhouse: no I/O backend' <<<"$serr")" = 0 ] || ok=0
  fi
  if [ "$ok" = 1 ]; then
    pass "$label ($err): same output and status ($nrc)"
  else
    fail "$label ($err): native status $nrc, shim $src; stderr '$serr'"
    diff <(echo "$nout") <(echo "$sout") >&2
  fi
}

for err in EPERM ENOSYS; do
  compare "threaded program" "$err" "" "$PROGS/threads"
  compare "keys-only program" "$err" "" "$PROGS/keys_only"
  compare "python3" "$err" "" "$PY" -c "$PY_PROG"
  # The carriers say which backend they use.
  if timeout 60 "$NO_URING" "$err" env GREENHOUSE_LOG_LEVEL=debug "$GH" -- "$PROGS/keys_only" \
       2>&1 >/dev/null | grep -q 'carrier backend: epoll'; then
    pass "debug log names the epoll backend ($err)"
  else
    fail "debug log does not name the epoll backend ($err)"
  fi
  if "$NO_URING" "$err" "$GH" --version | grep -q '^backend: epoll (io_uring refused here'; then
    pass "greenhouse --version names the epoll backend ($err)"
  else
    fail "greenhouse --version: $("$NO_URING" "$err" "$GH" --version | tail -1)"
  fi
  # No backend at all: one line, then native behaviour.
  export GREENHOUSE_BACKEND=io_uring
  compare "threaded program, no backend" "$err" one-line "$PROGS/threads"
  compare "keys-only program, no backend" "$err" one-line "$PROGS/keys_only"
  unset GREENHOUSE_BACKEND
done

# An invalid GREENHOUSE_BACKEND is refused, naming the variable and the
# accepted values, by the launcher (also for --version) and by the shim.
refused GREENHOUSE_BACKEND uring "auto, io_uring or epoll"

[ "$FAILURES" = 0 ]
