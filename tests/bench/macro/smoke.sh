#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Smoke test of the macro benchmark's path (CTest integration.macro_echo_smoke):
# the legacy echo server, natively and under the shim, with the load generator
# at 200 connections for 2 s. Passes when every echoed byte was checked and
# right, and the server ran with 1 OS thread under the shim (natively: one per
# connection plus the accept loop).
#
#   smoke.sh LAUNCHER ECHO_SERVER LOADGEN [CONNECTIONS]
set -u
launcher=$1 server=$2 loadgen=$3 conns=${4:-200}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/macro_smoke.XXXXXX")
spid=
cleanup() {
  [ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

fail=0
run() { # run MODE COMMAND...
  local mode=$1
  shift
  "$@" -p 0 >"$tmp/$mode.server.out" 2>"$tmp/$mode.server.err" </dev/null &
  spid=$!
  # Wait (bounded) for the server to say where it listens.
  local port= i
  for i in $(seq 1 200); do
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/$mode.server.out")
    [ -n "$port" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    echo "FAIL $mode: the server did not start listening within 10 s"
    cat "$tmp/$mode.server.err"
    fail=1
    return
  fi
  # The load generator; meanwhile, sample the server's OS thread count: the
  # threads that run its code (greenhouse's own gh-* threads and kernel
  # iou-* workers are not counted).
  timeout -k 5 30 "$loadgen" -p "$port" -c "$conns" -w 0.5 -d 2 -T 10 \
    --json "$tmp/$mode.json" 2>"$tmp/$mode.loadgen.err" &
  local lpid=$! threads=0 t
  while kill -0 "$lpid" 2>/dev/null; do
    t=0
    # (Builtins only: a fork per task would sample too slowly to see a
    # thread per connection.)
    local d comm st
    for d in /proc/"$spid"/task/*; do
      comm='' st=''
      read -r comm < "$d/comm" 2>/dev/null
      case $comm in iou-*|gh-*|'') continue ;; esac
      # A kernel io_uring worker that has not run yet still has its
      # creator's name: told by its flag PF_IO_WORKER (field 9 of stat).
      read -r st < "$d/stat" 2>/dev/null
      local -a f=(${st##*)})
      (( (${f[6]:-0} & 0x10) != 0 )) && continue
      t=$((t + 1))
    done
    [ "$t" -gt "$threads" ] && threads=$t
    sleep 0.1
  done
  wait "$lpid"
  local lstatus=$?
  kill -TERM "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
  spid=
  local summary
  summary=$(grep '^loadgen: done' "$tmp/$mode.loadgen.err")
  echo "$mode: server OS threads (max seen): $threads; $summary"
  if [ "$lstatus" -ne 0 ] || ! grep -q '"ok": true' "$tmp/$mode.json" 2>/dev/null; then
    echo "FAIL $mode: load generator status $lstatus"
    cat "$tmp/$mode.loadgen.err" "$tmp/$mode.json" 2>/dev/null
    fail=1
  fi
  # ok=true already means: all connected, nothing mismatched, lost or extra.
  if ! grep -q "\"established\": $conns," "$tmp/$mode.json" 2>/dev/null ||
     grep -q '"requests": 0,' "$tmp/$mode.json" 2>/dev/null; then
    echo "FAIL $mode: not all connections established, or no request measured"
    fail=1
  fi
  case $mode in
    shim)
      if [ "$threads" -ne 1 ]; then
        echo "FAIL shim: the server had $threads OS threads, want 1 (green threads)"
        fail=1
      fi ;;
    native)
      if [ "$threads" -le "$conns" ]; then
        echo "FAIL native: the server had $threads OS threads, want > $conns (thread per connection)"
        fail=1
      fi ;;
  esac
  if grep -q . "$tmp/$mode.server.err" && ! grep -q '^echo_server: connections=' "$tmp/$mode.server.err"; then
    echo "FAIL $mode: the server wrote to stderr:"
    cat "$tmp/$mode.server.err"
    fail=1
  fi
}

run native "$server"
run shim "$launcher" "$server"
[ "$fail" -eq 0 ] && echo "ok"
exit "$fail"
