#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Differential conformance check: runs PROGRAM natively and under the shim
# and requires the same stdout and the same exit status.
#
#   run_diff.sh [--launcher PATH] [--status N] [--timeout SECS] [--no-tasks]
#               [--] PROGRAM [ARGS...]
#
#   --launcher PATH  the `greenhouse` launcher (default: $GREENHOUSE_LAUNCHER,
#                    else build/greenhouse of this checkout)
#   --status N       the exit status the native run must have (default 0):
#                    a native run that fails means the test itself is broken
#   --timeout SECS   limit for each run (default 60)
#   --no-tasks       the program does not record its OS thread count
#   --stdin-closed   start both runs with stdin closed (0<&-) instead of on
#                    /dev/null
#
# Programs that use threads write the number of OS threads they saw, while all
# their threads were alive, to the file named by GREENHOUSE_TEST_TASKS
# (tests/programs/common.h). Natively it must be > 1 (the program really has
# threads); under the shim it must be 1 (they all ran as green threads on the
# main thread's carrier). Programs that write no count must write none in
# either run unless --no-tasks is given.
#
# stderr is compared too: the programs write nothing there, and the shim
# prints nothing at the default log level when all is well
# (docs/requirements.md#configuration).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
launcher=${GREENHOUSE_LAUNCHER:-$here/../../build/greenhouse}
want_status=0
limit=60
tasks=1
stdin_closed=0
while [ $# -gt 0 ]; do
  case $1 in
    --launcher) launcher=$2; shift 2 ;;
    --launcher=*) launcher=${1#*=}; shift ;;
    --status) want_status=$2; shift 2 ;;
    --status=*) want_status=${1#*=}; shift ;;
    --timeout) limit=$2; shift 2 ;;
    --timeout=*) limit=${1#*=}; shift ;;
    --no-tasks) tasks=0; shift ;;
    --stdin-closed) stdin_closed=1; shift ;;
    --) shift; break ;;
    -*) echo "run_diff.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 1 ]; then
  echo "usage: run_diff.sh [--launcher PATH] [--status N] [--timeout SECS] [--no-tasks] [--stdin-closed] PROGRAM [ARGS...]" >&2
  exit 2
fi
prog=$1
shift
# The runs happen in scratch directories: make paths absolute.
case $prog in */*) prog=$(cd "$(dirname "$prog")" && pwd)/$(basename "$prog") ;; esac
case $launcher in */*) launcher=$(cd "$(dirname "$launcher")" 2>/dev/null && pwd)/$(basename "$launcher") ;; esac
if [ ! -x "$launcher" ]; then
  echo "run_diff.sh: launcher $launcher not found (build first, or pass --launcher)" >&2
  exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run_diff.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
name=$(basename "$prog")

# Each run gets its own working directory (programs may create files) and
# the same environment apart from the task-count file.
run() { # run KIND CMD...
  local kind=$1
  shift
  mkdir -p "$tmp/$kind.cwd"
  (cd "$tmp/$kind.cwd" &&
    if [ "$stdin_closed" = 1 ]; then exec 0<&-; else exec </dev/null; fi &&
    GREENHOUSE_TEST_TASKS="$tmp/$kind.tasks" timeout -k 5 "$limit" "$@" \
      >"$tmp/$kind.out" 2>"$tmp/$kind.err")
  echo $? >"$tmp/$kind.status"
}

run native "$prog" "$@"
run shim "$launcher" "$prog" "$@"

native_status=$(cat "$tmp/native.status")
shim_status=$(cat "$tmp/shim.status")
fail=0

show_stderr() {
  if [ -s "$tmp/$1.err" ]; then
    echo "--- $1 stderr:"
    head -n 50 "$tmp/$1.err"
  fi
}

if [ "$native_status" = 124 ] || [ "$native_status" = 137 ]; then
  echo "FAIL $name: the native run timed out after ${limit}s (the test is broken)"
  show_stderr native
  exit 1
fi
if [ "$native_status" != "$want_status" ]; then
  echo "FAIL $name: the native run exited with $native_status, expected $want_status (the test is broken)"
  grep -n FAIL "$tmp/native.out" | head -n 20
  show_stderr native
  exit 1
fi

if [ "$shim_status" = 124 ] || [ "$shim_status" = 137 ]; then
  echo "FAIL $name: under the shim the program timed out after ${limit}s (native: exit $native_status)"
  fail=1
elif [ "$shim_status" != "$native_status" ]; then
  echo "FAIL $name: exit status native $native_status, under the shim $shim_status"
  fail=1
fi
if ! cmp -s "$tmp/native.out" "$tmp/shim.out"; then
  echo "FAIL $name: stdout differs (--- native, +++ shim):"
  diff -u --label native --label shim "$tmp/native.out" "$tmp/shim.out" | head -n 200
  fail=1
fi
if ! cmp -s "$tmp/native.err" "$tmp/shim.err"; then
  echo "FAIL $name: stderr differs (--- native, +++ shim):"
  diff -u --label native --label shim "$tmp/native.err" "$tmp/shim.err" | head -n 50
  fail=1
fi

if [ "$tasks" = 1 ]; then
  nt=$(cat "$tmp/native.tasks" 2>/dev/null || echo none)
  st=$(cat "$tmp/shim.tasks" 2>/dev/null || echo none)
  if [ "$nt" = none ] && [ "$st" != none ]; then
    echo "FAIL $name: under the shim the program saw $st OS threads, natively it recorded none"
    fail=1
  elif [ "$nt" != none ]; then
    if ! [ "$nt" -gt 1 ] 2>/dev/null; then
      echo "FAIL $name: natively the program saw $nt OS threads (expected > 1: the test is broken)"
      fail=1
    fi
    if [ "$st" != 1 ]; then
      echo "FAIL $name: under the shim the program saw $st OS threads (expected 1: all green)"
      fail=1
    fi
  fi
fi

if [ "$fail" = 0 ]; then
  echo "ok $name: stdout ($(wc -l <"$tmp/native.out") lines) and exit status $native_status identical; OS threads native $(cat "$tmp/native.tasks" 2>/dev/null || echo -), shim $(cat "$tmp/shim.tasks" 2>/dev/null || echo -)"
else
  show_stderr shim
fi
exit "$fail"
