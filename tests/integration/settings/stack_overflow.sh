#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A green thread that overflows its stack: the process ends as natively
# (killed by SIGSEGV), and the shim says why first, on stderr:
#   greenhouse: stack overflow in thread deep (id N): stack K KiB, used U KiB;
#   set GREENHOUSE_STACK_SIZE (or pthread_attr_setstacksize) larger
# followed by a backtrace that names the recursing function. With 128 KiB,
# with the default size (glibc's: from RLIMIT_STACK), with guard pages made
# by mprotect as on kernels before 6.13 (GREENHOUSE_GUARD_PAGES=mprotect),
# and on the epoll backend. A program's own SIGSEGV handler (on its own
# alternate stack) still runs, as natively, also in 8 threads that overflow
# at once and recover.
source "$(dirname "$0")/../stock/lib.sh"
gh_init "$@"
BIN="$(dirname "$GH")"
PROG="$BIN/tests/programs/stack_overflow"
[ -x "$PROG" ] || { log "missing $PROG (build the tests)"; exit 1; }
ulimit -c 0  # no core files from the expected crashes

default_kib=$(( $(ulimit -s) ))
[ "$(ulimit -s)" = unlimited ] && default_kib=2048

# check LABEL KIB EXPECT_KIB [ENV...]: overflow with a KIB stack (0: default).
check() {
  local label="$1" kib="$2" want_kib="$3"; shift 3
  local nout nrc sout src serr
  nout="$(timeout 60 "$PROG" plain "$kib" 2>/dev/null)"; nrc=$?
  sout="$(env "$@" timeout 60 "$GH" -- "$PROG" plain "$kib" 2>"$WORK/err")"; src=$?
  serr="$(cat "$WORK/err")"
  local first
  first="$(head -1 <<<"$serr")"
  local re="^greenhouse: stack overflow in thread deep \\(id [0-9]+\\): stack $want_kib KiB, used [0-9]+ KiB; set GREENHOUSE_STACK_SIZE \\(or pthread_attr_setstacksize\\) larger\$"
  if [ "$nrc" = 139 ] && [ "$src" = 139 ] && [ "$nout" = "$sout" ] && [[ "$first" =~ $re ]] &&
     grep -Eq '^greenhouse:   #[0-9]+ 0x[0-9a-f]+ recurse\+0x[0-9a-f]+ \([0-9]+ frames\)$' <<<"$serr"; then
    pass "$label: SIGSEGV as natively, after: $first"
  else
    fail "$label: native status $nrc, shim $src; stderr:"
    log "$serr"
  fi
}

check "128 KiB stack" 128 128
check "default stack" 0 "$default_kib"
check "128 KiB stack, mprotect guard pages" 128 128 GREENHOUSE_GUARD_PAGES=mprotect
check "default stack, mprotect guard pages" 0 "$default_kib" GREENHOUSE_GUARD_PAGES=mprotect
check "128 KiB stack, epoll backend" 128 128 GREENHOUSE_BACKEND=epoll

# The program's own handler.
nout="$(timeout 60 "$PROG" handler 128 2>/dev/null)"; nrc=$?
sout="$(timeout 60 "$GH" -- "$PROG" handler 128 2>"$WORK/err")"; src=$?
if [ "$nrc" = 3 ] && [ "$src" = 3 ] && [ "$nout" = "$sout" ] &&
   grep -q '^greenhouse: stack overflow in thread deep' "$WORK/err"; then
  pass "the program's own SIGSEGV handler runs (status 3, '$sout'), after the report"
else
  fail "own handler: native status $nrc '$nout', shim $src '$sout'; stderr: $(cat "$WORK/err")"
fi

# Eight threads overflow at once and recover (siglongjmp from a SA_ONSTACK
# handler on each one's own alternate stack), three times each: every
# recovery as natively, and the reports (one backtrace at a time) do not
# bring the process down.
nout="$(timeout 60 "$PROG" recover 128 2>/dev/null)"; nrc=$?
for run in 1 2 3; do
  sout="$(timeout 60 "$GH" -- "$PROG" recover 128 2>"$WORK/err")"; src=$?
  if [ "$nrc" = 0 ] && [ "$src" = 0 ] && [ "$nout" = "$sout" ] &&
     grep -q '^greenhouse: stack overflow in thread' "$WORK/err"; then
    pass "8 threads recover from 3 overflows each at once (run $run)"
  else
    fail "recover, run $run: native status $nrc, shim $src; shim stdout: $sout; stderr: $(head -5 "$WORK/err")"
  fi
done

# A bad setting is refused, naming the variable.
out="$(GREENHOUSE_GUARD_PAGES=yes "$GH" -- /bin/true 2>&1)"; rc=$?
if [ "$rc" = 2 ] && [[ "$out" == *"GREENHOUSE_GUARD_PAGES=yes is invalid: expected auto or mprotect"* ]]; then
  pass "GREENHOUSE_GUARD_PAGES=yes refused"
else
  fail "GREENHOUSE_GUARD_PAGES=yes: status $rc, '$out'"
fi

[ "$FAILURES" = 0 ]
