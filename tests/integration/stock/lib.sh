# SPDX-License-Identifier: MIT
# Shared helpers of the stock-tool integration tests (sourced, not run).
#
# Every test script is called as `SCRIPT PATH_TO_GREENHOUSE_LAUNCHER` and
# starts with `source "$(dirname "$0")/lib.sh"; gh_init "$@"`.
#
# Conventions:
#   - exit 0 = pass, 1 = fail, 77 = skipped (a tool is missing);
#   - everything on 127.0.0.1, ports picked free at run time;
#   - never a bare sleep as synchronisation: wait_listen polls the kernel's
#     table of listening sockets, bounded; every command runs under `timeout`;
#   - background processes are started with start_bg, each in its own process
#     group, and the EXIT trap ends exactly those groups.

set -uo pipefail
export LC_ALL=C

GH=""          # the launcher, build/greenhouse
WORK=""        # scratch directory, removed at exit
PY=""          # python3 binary (the real one, not a pyenv wrapper script)
BG_PIDS=()     # process-group leaders started by start_bg
FAILURES=0

log()  { printf '%s\n' "$*" >&2; }
pass() { log "PASS: $*"; }
fail() { log "FAIL: $*"; FAILURES=$((FAILURES + 1)); }

skip() { log "SKIP: $*"; exit 77; }

cleanup() {
  local pid
  for pid in "${BG_PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null
  done
  for pid in "${BG_PIDS[@]}"; do
    # bounded wait for the group leader to go
    local i
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null
  done
  BG_PIDS=()
  [ -n "$WORK" ] && [ -d "$WORK" ] && rm -rf "$WORK"
}

gh_init() {
  GH="${1:-}"
  if [ -z "$GH" ] || [ ! -x "$GH" ]; then
    log "usage: $0 PATH_TO_GREENHOUSE_LAUNCHER (got '${GH}')"
    exit 2
  fi
  GH="$(cd "$(dirname "$GH")" && pwd)/$(basename "$GH")"
  need timeout setsid sha256sum cmp
  if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3
  elif command -v python3 >/dev/null; then PY="$(command -v python3)"
  else skip "python3 not installed"; fi
  # the shim's default configuration, unless debugging (GH_STOCK_DEBUG=1
  # keeps GREENHOUSE_* such as GREENHOUSE_LOG_LEVEL=debug and turns off the
  # check that the shim prints nothing)
  if [ -z "${GH_STOCK_DEBUG:-}" ]; then
    local v
    for v in $(compgen -e | grep '^GREENHOUSE_'); do unset "$v"; done
  fi
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/gh-stock.XXXXXX")"
  trap cleanup EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
}

# need TOOL...: skip the whole test (exit 77) when a tool is missing.
need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || skip "$t not installed"
  done
}

# run MODE CMD...: runs CMD natively (MODE=native) or under the shim (MODE=shim).
run() {
  local mode="$1"; shift
  if [ "$mode" = shim ]; then "$GH" "$@"; else "$@"; fi
}

# start_bg CMD...: starts CMD in the background in a new process group;
# its pid (= process group id) is in $BG_PID. CMD gets the standard input of
# the call (bash would give a background command /dev/null otherwise).
start_bg() {
  setsid "$@" <&0 &
  BG_PID=$!
  BG_PIDS+=("$BG_PID")
}

# stop_bg PID: ends the process group started by start_bg and reaps it.
stop_bg() {
  local pid="$1" i
  kill -TERM -- "-$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  local keep=() p
  for p in "${BG_PIDS[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
  BG_PIDS=("${keep[@]}")
}

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  "$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# is_listening PORT: is a socket in LISTEN state bound to PORT (IPv4 or IPv6)?
# Reads the kernel's tables, so it never connects (a one-shot listener such as
# `socat TCP-LISTEN` without fork would take a probe as its one connection).
is_listening() {
  local hex
  hex="$(printf '%04X' "$1")"
  awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
                    END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# wait_listen PORT PID [SECONDS]: waits until PORT listens; fails (status 1)
# when PID exits first or after SECONDS (default 30).
wait_listen() {
  local port="$1" pid="$2" secs="${3:-30}" i
  for ((i = 0; i < secs * 20; i++)); do
    is_listening "$port" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# wait_gone PID [SECONDS]: waits until PID (a child of this shell) exits and
# sets WAIT_RC to its exit status; status 1 when it did not exit in time.
wait_gone() {
  local pid="$1" secs="${2:-60}" i
  for ((i = 0; i < secs * 20; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"; WAIT_RC=$?
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# gen_random FILE BYTES SEED: deterministic pseudo-random bytes.
gen_random() {
  "$PY" - "$1" "$2" "$3" <<'EOF'
import random, sys
path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
with open(path, "wb") as f:
    while n > 0:
        k = min(n, 1 << 20)
        f.write(r.randbytes(k))
        n -= k
EOF
}

# leaf_pid PID: follows first children down from PID (through `timeout`,
# `setsid`) and prints the last one: the program itself.
leaf_pid() {
  local pid="$1" kids
  while kids="$(cat "/proc/$pid/task/$pid/children" 2>/dev/null)" && [ -n "$kids" ]; do
    pid="${kids%% *}"
  done
  echo "$pid"
}

# shim_loaded PID: is libgreenhouse.so mapped in process PID?
shim_loaded() { grep -q 'libgreenhouse\.so' "/proc/$1/maps" 2>/dev/null; }

# is_io_worker TASKDIR: is /proc/PID/task/TID a kernel io_uring worker? Told
# by its task flag PF_IO_WORKER (0x10, field 9 of stat), not by its name: a
# worker that has not run yet still has the name of the thread that caused
# it (the kernel names it iou-* when it first runs).
is_io_worker() {
  local stat='' flags
  read -r stat < "$1/stat" 2>/dev/null || return 1
  # Fields after the last ')' (the name may hold spaces): state ppid pgrp
  # session tty_nr tpgid flags.
  set -- ${stat##*)}
  flags=${7:-0}
  (( (flags & 0x10) != 0 ))
}

# task_count PID: number of OS threads of PID that run the program's code:
# kernel io_uring workers (iou-*, see is_io_worker) and greenhouse's own
# threads (gh-*: extra carriers, the hand-off monitor, the offload pool) are
# not counted.
task_count() {
  local n=0 t comm
  for t in /proc/"$1"/task/*; do
    comm=$(cat "$t/comm" 2>/dev/null) || continue
    case $comm in iou-*|gh-*) continue ;; esac
    is_io_worker "$t" && continue
    n=$((n + 1))
  done
  echo "$n"
}

# no_shim_messages WHAT FILE...: fails when the shim printed anything
# (docs/requirements.md#configuration: nothing at the default log level when
# all is well).
no_shim_messages() {
  local what="$1"; shift
  [ -n "${GH_STOCK_DEBUG:-}" ] && return 0
  if grep -h '^greenhouse:' "$@" > "$WORK/.shim-messages" 2>/dev/null; then
    fail "$what: the shim printed messages:"
    sort "$WORK/.shim-messages" | uniq -c | head -10 >&2
    return 1
  fi
  return 0
}

sha() { sha256sum < "$1" | cut -d' ' -f1; }

# refused VAR VALUE ACCEPTED: VAR=VALUE is refused (status 2) by the launcher,
# also for --version, with "VAR=VALUE is invalid: expected ACCEPTED", and by
# the shim itself (libgreenhouse.so beside the launcher) before the program.
refused() {
  local var="$1" value="$2" accepted="$3" cmd out rc
  for cmd in "--version" "-- /bin/true"; do
    out="$(env "$var=$value" "$GH" $cmd 2>&1)"; rc=$?
    if [ "$rc" = 2 ] && [[ "$out" == *"$var=$value is invalid: expected $accepted"* ]]; then
      pass "$var=$value refused ($cmd)"
    else
      fail "$var=$value ($cmd): status $rc, '$out'"
    fi
  done
  out="$(env "$var=$value" LD_PRELOAD="$(dirname "$GH")/libgreenhouse.so" /bin/true 2>&1)"; rc=$?
  if [ "$rc" = 2 ] && [[ "$out" == "greenhouse: $var=$value is invalid"* ]]; then
    pass "$var=$value refused by the shim itself"
  else
    fail "shim with $var=$value: status $rc, '$out'"
  fi
}

finish() {
  if [ "$FAILURES" -ne 0 ]; then
    log "$FAILURES check(s) failed"
    exit 1
  fi
  log "all checks passed"
  exit 0
}

# run_gated MODE TAG CMD...: runs CMD natively or under the shim (MODE) with
# stdout and stderr in $WORK/TAG-MODE.out and .err, for a program that, once
# all its threads are alive, writes its pid into the file named by the
# environment variable GH_READY_FILE (atomically: write FILE.tmp, rename) and
# then waits for a line on its standard input. While it waits, its OS threads
# are counted and its mappings looked at; then it gets the line and runs to
# its end (at most 120 s in all). Sets TASKS (OS threads while all its
# threads were alive), LOADED (libgreenhouse.so mapped: yes/no) and RC.
run_gated() {
  local mode="$1" tag="$2" i pid pre=()
  shift 2
  [ "$mode" = shim ] && pre=("$GH")
  local ready="$WORK/ready-$tag-$mode" fifo="$WORK/go-$tag-$mode"
  rm -f "$ready" "$fifo"
  mkfifo "$fifo"
  # Opened read-write first so that no open of the fifo blocks; the program
  # gets the read side as its stdin, this shell writes the go through fd 9.
  exec 9<> "$fifo"
  start_bg timeout 120 env GH_READY_FILE="$ready" "${pre[@]}" "$@" < "$fifo" 9>&- \
    > "$WORK/$tag-$mode.out" 2> "$WORK/$tag-$mode.err"
  local bg=$BG_PID
  TASKS=0 LOADED=no RC=-1
  for ((i = 0; i < 1200; i++)); do      # up to 60 s
    [ -s "$ready" ] && break
    kill -0 "$bg" 2>/dev/null || break
    sleep 0.05
  done
  if [ -s "$ready" ]; then
    pid="$(cat "$ready")"
    TASKS="$(task_count "$pid")"
    shim_loaded "$pid" && LOADED=yes
  else
    fail "$tag $mode: the program never got all its threads running"
  fi
  echo go >&9
  exec 9>&-
  if wait_gone "$bg" 90; then RC=$WAIT_RC; else fail "$tag $mode: the program did not finish"; stop_bg "$bg"; fi
  rm -f "$fifo"
}

# compare_gated TAG N_THREADS: after `run_gated native TAG ...` (its results
# in N_TASKS N_LOADED N_RC) and `run_gated shim TAG ...` (S_TASKS S_LOADED
# S_RC): both exit 0, the shim mapped only in the shim run, more than one OS
# thread natively and exactly one under the shim, the same stdout, nothing on
# stderr.
compare_gated() {
  local tag="$1" what="$2" m
  log "$tag native: exit $N_RC, $N_TASKS OS threads, shim loaded: $N_LOADED"
  log "$tag shim:   exit $S_RC, $S_TASKS OS threads, shim loaded: $S_LOADED"
  [ "$N_RC" -eq 0 ] || fail "$tag: native run exited $N_RC"
  [ "$S_RC" -eq 0 ] || fail "$tag: shim run exited $S_RC"
  [ "$N_LOADED" = no ] || fail "$tag: libgreenhouse.so is mapped in the native run"
  [ "$S_LOADED" = yes ] || fail "$tag: libgreenhouse.so is not mapped in the shim run"
  [ "$N_TASKS" -gt 1 ] || fail "$tag: native run had $N_TASKS OS threads while $what were alive, expected > 1"
  if [ "$S_TASKS" -eq 1 ]; then
    pass "$tag: 1 OS thread under the shim while $what were alive (native: $N_TASKS)"
  else
    fail "$tag: shim run had $S_TASKS OS threads while $what were alive, expected 1"
  fi
  if cmp -s "$WORK/$tag-native.out" "$WORK/$tag-shim.out"; then
    pass "$tag: output identical to the native run ($(wc -l < "$WORK/$tag-shim.out") lines)"
  else
    fail "$tag: output differs from the native run (--- native, +++ shim):"
    diff -u "$WORK/$tag-native.out" "$WORK/$tag-shim.out" | head -40 >&2
  fi
  for m in native shim; do
    if [ -s "$WORK/$tag-$m.err" ]; then
      fail "$tag: $m run wrote on stderr:"
      head -20 "$WORK/$tag-$m.err" >&2
    fi
  done
}
