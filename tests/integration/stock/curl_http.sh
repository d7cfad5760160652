#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# curl against `python3 -m http.server` (a ThreadingHTTPServer), natively and
# under the shim, in all four combinations of server and client:
#   native server + native curl, shim server + native curl,
#   native server + shim curl,   shim server + shim curl.
# In each: one curl with 16 --parallel transfers of four files (up to 20 MiB of
# random bytes) plus 8 concurrent curl processes; every download must
# have the file's sha256. A missing file must give the same HTTP status (404)
# and the same curl exit code (0, and 22 with --fail) as natively. Connection
# refused and --max-time against a server that never answers give curl's
# native exit codes (7, 28), the latter not before the time is up.
#
# usage: curl_http.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need curl

www="$WORK/www"
mkdir -p "$www"
printf 'hello, greenhouse\n' > "$www/tiny.txt"
gen_random "$www/small.bin" 65536 1
gen_random "$www/medium.bin" $((1024 * 1024 + 7)) 2
gen_random "$www/large.bin" $((20 * 1024 * 1024)) 3
files=(tiny.txt small.bin medium.bin large.bin)
declare -A want
for f in "${files[@]}"; do want[$f]="$(sha "$www/$f")"; done

ref404=""   # "status exit-code" pairs of the native run, the reference

# start_server MODE: starts http.server (under the shim if MODE=shim) on a free
# port; sets SRV_PID and PORT.
start_server() {
  local mode="$1" try pre=()
  [ "$mode" = shim ] && pre=("$GH")
  for try in 1 2 3 4 5; do
    PORT="$(free_port)"
    start_bg timeout 200 "${pre[@]}" "$PY" -m http.server --bind 127.0.0.1 \
      --directory "$www" "$PORT" < /dev/null > "$WORK/server-$mode.log" 2>&1
    SRV_PID=$BG_PID
    wait_listen "$PORT" "$SRV_PID" 30 && return 0
    stop_bg "$SRV_PID"
  done
  return 1
}

combo() {  # combo SERVER_MODE CLIENT_MODE
  local smode="$1" cmode="$2" name="server=$1 client=$2" pre=() f i
  [ "$cmode" = shim ] && pre=("$GH")
  if ! start_server "$smode"; then
    fail "$name: http.server did not start"; cat "$WORK/server-$smode.log" >&2; return
  fi
  local base="http://127.0.0.1:$PORT" out="$WORK/out-$smode-$cmode"
  mkdir -p "$out"

  # 1. one curl, parallel transfers: every file four times.
  local args=()
  for f in "${files[@]}"; do
    for i in 1 2 3 4; do args+=(-o "$out/par-$i-$f" "$base/$f"); done
  done
  timeout 120 "${pre[@]}" curl -sS --no-progress-meter --fail --parallel --parallel-immediate --parallel-max 16 \
    "${args[@]}" 2> "$out/par.err"
  local rc=$?
  [ $rc -eq 0 ] || fail "$name: curl --parallel exited $rc"
  local bad=0
  for f in "${files[@]}"; do
    for i in 1 2 3 4; do
      [ "$(sha "$out/par-$i-$f" 2>/dev/null)" = "${want[$f]}" ] || {
        bad=1; fail "$name: --parallel download $i of $f has the wrong checksum"; }
    done
  done
  [ $rc -eq 0 ] && [ $bad -eq 0 ] && pass "$name: curl --parallel, 16 transfers, checksums match"

  # 2. eight concurrent curl processes, each fetching the two big files.
  local pids=() p ok=1
  for i in 1 2 3 4 5 6 7 8; do
    timeout 120 "${pre[@]}" curl -sS --fail -o "$out/con-$i-large.bin" "$base/large.bin" \
      -o "$out/con-$i-medium.bin" "$base/medium.bin" 2> "$out/con-$i.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { ok=0; fail "$name: a concurrent curl failed"; }; done
  for i in 1 2 3 4 5 6 7 8; do
    for f in large.bin medium.bin; do
      [ "$(sha "$out/con-$i-$f" 2>/dev/null)" = "${want[$f]}" ] || {
        ok=0; fail "$name: concurrent curl $i: $f has the wrong checksum"; }
    done
  done
  [ $ok -eq 1 ] && pass "$name: 8 concurrent curls, checksums match"

  # 3. 404: status and exit code, without and with --fail.
  local code1 rc1 code2 rc2 got
  code1="$(timeout 30 "${pre[@]}" curl -s -o /dev/null -w '%{http_code}' "$base/no-such-file")"
  rc1=$?
  code2="$(timeout 30 "${pre[@]}" curl -s --fail -o /dev/null -w '%{http_code}' "$base/no-such-file")"
  rc2=$?
  got="$code1 $rc1 $code2 $rc2"
  if [ -z "$ref404" ]; then
    ref404="$got"
    [ "$got" = "404 0 404 22" ] && pass "$name: 404 gives '$got'" \
      || fail "$name: native 404 gave '$got', expected '404 0 404 22'"
  elif [ "$got" = "$ref404" ]; then
    pass "$name: 404 gives '$got' as natively"
  else
    fail "$name: 404 gives '$got', natively '$ref404'"
  fi

  # the shim has nothing to say when all is well (docs/requirements.md#configuration)
  no_shim_messages "$name" "$out"/*.err "$WORK/server-$smode.log"

  # the server must still be alive after all this, and be what we think it is
  local leaf; leaf="$(leaf_pid "$SRV_PID")"
  if [ "$smode" = shim ]; then
    shim_loaded "$leaf" || fail "$name: libgreenhouse.so is not mapped in the server (pid $leaf)"
    [ "$(task_count "$leaf")" -eq 1 ] || fail "$name: shim server has $(task_count "$leaf") OS threads, expected 1"
  else
    shim_loaded "$leaf" && fail "$name: libgreenhouse.so is mapped in the native server"
  fi
  kill -0 "$SRV_PID" 2>/dev/null || { fail "$name: http.server died"; cat "$WORK/server-$smode.log" >&2; }
  stop_bg "$SRV_PID"
  rm -rf "$out"
}

# Errors, natively and with curl under the shim: connection refused (exit 7)
# and a server that accepts but never answers, with --max-time 1 (exit 28,
# after at least 1 s: the shim's poll timeouts must hold).
errors() {
  local mode pre got rc t0 t1 ms
  local closed; closed="$(free_port)"   # nothing listens there
  start_bg timeout 100 "$PY" -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)   # accept, never answer' < /dev/null > "$WORK/mute.port" 2>&1
  local mute_pid=$BG_PID i
  for ((i = 0; i < 600; i++)); do [ -s "$WORK/mute.port" ] && break; sleep 0.05; done
  local mute; mute="$(head -1 "$WORK/mute.port")"
  wait_listen "$mute" "$mute_pid" 30 || { fail "errors: mute server did not start"; return; }
  for mode in native shim; do
    pre=(); [ "$mode" = shim ] && pre=("$GH")
    timeout 30 "${pre[@]}" curl -sS -o /dev/null "http://127.0.0.1:$closed/" 2> "$WORK/refused.err"
    rc=$?
    [ $rc -eq 7 ] && pass "curl=$mode: connection refused gives exit 7" \
      || { fail "curl=$mode: connection refused gives exit $rc, expected 7"; cat "$WORK/refused.err" >&2; }
    t0=$(date +%s%N)
    timeout 30 "${pre[@]}" curl -sS --max-time 1 -o /dev/null "http://127.0.0.1:$mute/" 2> "$WORK/mute.err"
    rc=$?
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    if [ $rc -eq 28 ] && [ $ms -ge 1000 ] && [ $ms -lt 15000 ]; then
      pass "curl=$mode: --max-time 1 against a mute server gives exit 28 after ${ms} ms"
    else
      fail "curl=$mode: --max-time 1 against a mute server gives exit $rc after ${ms} ms, expected 28 after >= 1000 ms"
      cat "$WORK/mute.err" >&2
    fi
    no_shim_messages "curl=$mode errors" "$WORK/refused.err" "$WORK/mute.err"
  done
  stop_bg "$mute_pid"
}

SECONDS=0
t0=$SECONDS; combo native native; log "  ($((SECONDS - t0))s)"
t0=$SECONDS; combo shim native; log "  ($((SECONDS - t0))s)"
t0=$SECONDS; combo native shim; log "  ($((SECONDS - t0))s)"
t0=$SECONDS; combo shim shim; log "  ($((SECONDS - t0))s)"
t0=$SECONDS; errors; log "  ($((SECONDS - t0))s)"
log "time: ${SECONDS}s"
finish
