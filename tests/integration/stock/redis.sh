#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# redis-server natively and under the shim, driven by native redis-benchmark
# and redis-cli on 127.0.0.1 (persistence off, a scratch directory):
#   1. redis-benchmark -n 20000 -c 50 -t set,get,incr,lpush,lpop --csv: every
#      test reports a non-zero rate;
#   2. the exact state it leaves (no -r, so one key per command): counter
#      20000, the list empty again, DBSIZE 2, key:__rand_int__ 3 bytes long;
#   3. redis-benchmark -n 20000 -c 50 -P 16 -t incr (pipelined): counter 40000;
#      -t lpush: LLEN 20000;
# and both runs must report the same state. The server's OS threads are
# counted (iou-* kernel workers left out) after the load: natively redis has
# background threads (bio_*, jemalloc_bg_thd); under the shim they are green,
# so fewer OS threads are required. SHUTDOWN NOSAVE ends the server (bounded
# wait, exit status 0); its log must hold no shim message.
#
# usage: redis.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need redis-server redis-cli redis-benchmark

# os_threads PID: OS threads of PID that run the program (lib.sh task_count).
os_threads() { task_count "$1"; }

# cli PORT ARGS...: one redis-cli command, bounded.
cli() {
  local port="$1"; shift
  timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>&1
}

# run_redis MODE: starts the server, loads it, records the state in
# $WORK/state-MODE; sets STARTED (answered PING: yes/no), THREADS,
# LOADED (yes/no), RC (exit status, -1 if unknown).
run_redis() {
  local mode="$1" pre=() port pid i ok=0
  [ "$mode" = shim ] && pre=("$GH")
  local dir="$WORK/data-$mode" out="$WORK/state-$mode" logf="$WORK/server-$mode.log"
  mkdir -p "$dir"
  : > "$out"
  THREADS=0 LOADED=no RC=-1 STARTED=no
  port="$(free_port)"
  start_bg timeout 120 "${pre[@]}" redis-server --save '' --appendonly no \
    --port "$port" --bind 127.0.0.1 --daemonize no --dir "$dir" \
    < /dev/null > "$logf" 2>&1
  local bg=$BG_PID
  if wait_listen "$port" "$bg" 30; then
    for ((i = 0; i < 200; i++)); do       # up to ~10 s
      [ "$(cli "$port" PING)" = PONG ] && { ok=1; break; }
      kill -0 "$bg" 2>/dev/null || break
      sleep 0.05
    done
  fi
  if [ "$ok" != 1 ]; then
    fail "$mode: redis-server never answered PING on port $port"
    log "--- $mode server log:"; tail -n 20 "$logf" >&2
    stop_bg "$bg"
    return
  fi
  STARTED=yes
  pid="$(leaf_pid "$bg")"
  shim_loaded "$pid" && LOADED=yes

  local csv="$WORK/bench-$mode.csv"
  timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -q -n 20000 -c 50 \
    -t set,get,incr,lpush,lpop --csv > "$csv" 2> "$WORK/bench-$mode.err" ||
    fail "$mode: redis-benchmark exited $?: $(tail -n 3 "$WORK/bench-$mode.err")"
  local t
  for t in SET GET INCR LPUSH LPOP; do
    if awk -F, -v t="\"$t\"" '$1 == t { gsub(/"/, "", $2); if ($2 + 0 > 0) f = 1 } END { exit !f }' "$csv"; then
      echo "benchmark $t: non-zero rate" >> "$out"
    else
      echo "benchmark $t: NO RATE" >> "$out"
      fail "$mode: redis-benchmark reported no rate for $t: $(grep -i "$t" "$csv" | head -1)"
    fi
  done
  {
    echo "counter after 20000 INCR: $(cli "$port" GET counter:__rand_int__)"
    echo "list after 20000 LPUSH + 20000 LPOP: $(cli "$port" LLEN mylist)"
    echo "SET value length: $(cli "$port" STRLEN key:__rand_int__)"
    echo "DBSIZE: $(cli "$port" DBSIZE)"
  } >> "$out"
  timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -q -n 20000 -c 50 -P 16 -t incr \
    > /dev/null 2>&1 || fail "$mode: pipelined redis-benchmark -t incr failed"
  timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -q -n 20000 -c 50 -t lpush \
    > /dev/null 2>&1 || fail "$mode: redis-benchmark -t lpush failed"
  {
    echo "counter after 20000 more pipelined INCR: $(cli "$port" GET counter:__rand_int__)"
    echo "list after 20000 LPUSH: $(cli "$port" LLEN mylist)"
  } >> "$out"
  THREADS="$(os_threads "$pid")"

  # BGSAVE forks a child that writes the snapshot while the server serves.
  cli "$port" BGSAVE > /dev/null
  for ((i = 0; i < 600; i++)); do       # up to ~30 s
    [ -s "$dir/dump.rdb" ] && cli "$port" INFO persistence | grep -q '^rdb_bgsave_in_progress:0' && break
    sleep 0.05
  done
  echo "BGSAVE status: $(cli "$port" INFO persistence | tr -d '\r' | sed -n 's/^rdb_last_bgsave_status://p')" >> "$out"
  echo "snapshot written: $([ -s "$dir/dump.rdb" ] && echo yes || echo no)" >> "$out"

  cli "$port" SHUTDOWN NOSAVE > /dev/null
  if wait_gone "$bg" 30; then
    RC=$WAIT_RC
  else
    fail "$mode: redis-server did not exit within 30 s of SHUTDOWN NOSAVE"
    stop_bg "$bg"
  fi
  no_shim_messages "$mode server" "$logf"
}

SECONDS=0
run_redis native
n_threads=$THREADS n_loaded=$LOADED n_rc=$RC n_started=$STARTED
run_redis shim
s_threads=$THREADS s_loaded=$LOADED s_rc=$RC s_started=$STARTED
log "native: exit $n_rc, $n_threads OS threads, shim loaded: $n_loaded"
log "shim:   exit $s_rc, $s_threads OS threads, shim loaded: $s_loaded"

cat > "$WORK/expected" <<'EOF'
benchmark SET: non-zero rate
benchmark GET: non-zero rate
benchmark INCR: non-zero rate
benchmark LPUSH: non-zero rate
benchmark LPOP: non-zero rate
counter after 20000 INCR: 20000
list after 20000 LPUSH + 20000 LPOP: 0
SET value length: 3
DBSIZE: 2
counter after 20000 more pipelined INCR: 40000
list after 20000 LPUSH: 20000
BGSAVE status: ok
snapshot written: yes
EOF
if cmp -s "$WORK/expected" "$WORK/state-native"; then
  pass "native: the exact state expected"
else
  fail "native run (the test is broken?): state differs from the expected one:"
  diff "$WORK/expected" "$WORK/state-native" | head -20 >&2
fi
if cmp -s "$WORK/state-native" "$WORK/state-shim"; then
  pass "shim: the same state as natively ($(sed -n 6p "$WORK/state-shim"), $(sed -n 11p "$WORK/state-shim"))"
else
  fail "shim run: state differs from the native run (--- native, +++ shim):"
  diff -u "$WORK/state-native" "$WORK/state-shim" | head -20 >&2
fi
# (a server that never answered was reported above; its exit status, maps
# and threads are not looked at)
if [ "$n_started" = yes ]; then
  [ "$n_rc" = 0 ] || fail "native redis-server exited $n_rc"
  [ "$n_loaded" = no ] || fail "libgreenhouse.so is mapped in the native run"
  [ "$n_threads" -gt 1 ] || fail "native redis-server had $n_threads OS threads, expected background threads (> 1)"
fi
if [ "$s_started" = yes ]; then
  [ "$s_rc" = 0 ] || fail "redis-server under the shim exited $s_rc"
  [ "$s_loaded" = yes ] || fail "libgreenhouse.so is not mapped in the shim run"
  if [ "$s_threads" -ge 1 ] && [ "$s_threads" -lt "$n_threads" ]; then
    pass "shim: $s_threads OS thread(s), natively $n_threads"
  else
    fail "shim: $s_threads OS threads, natively $n_threads (expected fewer: threads green)"
  fi
fi
log "time: ${SECONDS}s"
finish
