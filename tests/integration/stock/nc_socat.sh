#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Data through netcat-openbsd and socat, natively and under the shim, checked
# by sha256:
#   1. `socat -u TCP-LISTEN:... CREATE:out` receives, `nc -N` sends;
#   2. `nc -d -l` receives, `socat -u OPEN:in TCP:...` sends;
#   3. echo round trip: `socat - TCP:...` clients (eight at once) through a
#      forking server `socat TCP-LISTEN:...,fork EXEC:cat` — under the shim the
#      server forks per connection and each child forks+execs cat.
# Each is run in all four combinations of (receiver/server, sender/client)
# native or under the shim.
#
# usage: nc_socat.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need nc socat
nc -h 2>&1 | grep -q OpenBSD || skip "nc is not netcat-openbsd"

in="$WORK/in.bin"
gen_random "$in" $((8 * 1024 * 1024 + 3)) 11
want="$(sha "$in")"
echo_in="$WORK/echo.bin"
gen_random "$echo_in" $((3 * 1024 * 1024 + 5)) 12
echo_want="$(sha "$echo_in")"

# listen_bg MODE LOG CMD_WITH_@PORT@...: starts a listener (under the shim if
# MODE=shim), @PORT@ in its arguments replaced by a free port; retries with
# another port when it does not come up. Sets LPID and PORT.
listen_bg() {
  local mode="$1" logf="$2"; shift 2
  local pre=() try a args
  [ "$mode" = shim ] && pre=("$GH")
  for try in 1 2 3 4 5; do
    PORT="$(free_port)"
    args=()
    for a in "$@"; do args+=("${a//@PORT@/$PORT}"); done
    start_bg timeout 120 "${pre[@]}" "${args[@]}" < /dev/null 2> "$logf"
    LPID=$BG_PID
    if wait_listen "$PORT" "$LPID" 30; then
      local leaf; leaf="$(leaf_pid "$LPID")"
      if [ "$mode" = shim ]; then
        shim_loaded "$leaf" || fail "listener $1 (pid $leaf): libgreenhouse.so is not mapped"
      else
        shim_loaded "$leaf" && fail "native listener $1 (pid $leaf): libgreenhouse.so is mapped"
      fi
      return 0
    fi
    stop_bg "$LPID"
  done
  return 1
}

# one-way transfer: RECEIVER_MODE SENDER_MODE KIND
transfer() {
  local rmode="$1" smode="$2" kind="$3" pre=() rc
  local name="$kind receiver=$rmode sender=$smode" out="$WORK/out-$kind-$rmode-$smode"
  [ "$smode" = shim ] && pre=("$GH")
  if [ "$kind" = nc-to-socat ]; then
    # nc sends to socat
    listen_bg "$rmode" "$WORK/recv.log" socat -u "TCP-LISTEN:@PORT@,bind=127.0.0.1,reuseaddr" \
      "CREATE:$out" || { fail "$name: socat listener did not start"; cat "$WORK/recv.log" >&2; return; }
    timeout 60 "${pre[@]}" nc -N 127.0.0.1 "$PORT" < "$in" 2> "$WORK/send.log"
    rc=$?
  else
    # socat sends to nc
    listen_bg "$rmode" "$WORK/recv.log" sh -c "exec nc -d -l 127.0.0.1 @PORT@ > '$out'" \
      || { fail "$name: nc listener did not start"; cat "$WORK/recv.log" >&2; return; }
    timeout 60 "${pre[@]}" socat -u "OPEN:$in,rdonly" "TCP:127.0.0.1:$PORT" 2> "$WORK/send.log"
    rc=$?
  fi
  [ $rc -eq 0 ] || { fail "$name: sender exited $rc"; cat "$WORK/send.log" >&2; }
  no_shim_messages "$name" "$WORK/send.log"
  if wait_gone "$LPID" 60; then
    [ "$WAIT_RC" -eq 0 ] || { fail "$name: receiver exited $WAIT_RC"; cat "$WORK/recv.log" >&2; }
  else
    fail "$name: receiver did not exit after the sender closed"
    stop_bg "$LPID"
  fi
  no_shim_messages "$name" "$WORK/recv.log"
  local got; got="$(sha "$out" 2>/dev/null)"
  if [ "$got" = "$want" ]; then
    pass "$name: $(stat -c %s "$out") bytes, checksum matches"
  else
    fail "$name: checksum mismatch ($(stat -c %s "$out" 2>/dev/null || echo no) bytes received)"
  fi
  rm -f "$out"
}

# echo round trip through a forking socat server: SERVER_MODE CLIENT_MODE
echo_fork() {
  local smode="$1" cmode="$2" pre=() i p ok=1
  local name="echo fork-server=$smode clients=$cmode"
  [ "$cmode" = shim ] && pre=("$GH")
  listen_bg "$smode" "$WORK/echo-server.log" socat \
    "TCP-LISTEN:@PORT@,bind=127.0.0.1,reuseaddr,fork" EXEC:cat \
    || { fail "$name: server did not start"; cat "$WORK/echo-server.log" >&2; return; }
  local pids=()
  for i in 1 2 3 4 5 6 7 8; do
    timeout 60 "${pre[@]}" socat -t 30 - "TCP:127.0.0.1:$PORT" < "$echo_in" \
      > "$WORK/echo-out-$i" 2> "$WORK/echo-client-$i.log" &
    pids+=($!)
  done
  i=0
  for p in "${pids[@]}"; do
    i=$((i + 1))
    wait "$p" || { ok=0; fail "$name: client $i exited $?"; cat "$WORK/echo-client-$i.log" >&2; }
    [ "$(sha "$WORK/echo-out-$i")" = "$echo_want" ] || {
      ok=0; fail "$name: client $i got $(stat -c %s "$WORK/echo-out-$i") bytes back, checksum mismatch"; }
  done
  no_shim_messages "$name" "$WORK"/echo-client-*.log
  # the forking server is still serving: one more round trip, sequentially
  printf 'still there\n' | timeout 30 "${pre[@]}" socat -t 30 - "TCP:127.0.0.1:$PORT" \
    > "$WORK/echo-last" 2>&1
  [ "$(cat "$WORK/echo-last")" = "still there" ] || {
    ok=0; fail "$name: server did not answer after 8 connections: '$(head -c 200 "$WORK/echo-last")'"; }
  kill -0 "$LPID" 2>/dev/null || { ok=0; fail "$name: server died"; cat "$WORK/echo-server.log" >&2; }
  no_shim_messages "$name" "$WORK/echo-server.log" || ok=0
  [ $ok -eq 1 ] && pass "$name: 8 concurrent clients x $(stat -c %s "$echo_in") bytes echoed, checksums match"
  stop_bg "$LPID"
  rm -f "$WORK"/echo-out-* "$WORK/echo-last" "$WORK"/echo-client-*.log
}

SECONDS=0
for kind in socat-to-nc nc-to-socat; do
  for r in native shim; do
    for s in native shim; do transfer "$r" "$s" "$kind"; done
  done
done
for sm in native shim; do
  for cm in native shim; do echo_fork "$sm" "$cm"; done
done
log "time: ${SECONDS}s"
finish
