#!/usr/bin/env bash
# curl against `python3 -m http.server` (a ThreadingHTTPServer), natively and
# under the shim, in all four combinations of server and client:
#   native server + native curl, shim server + native curl,
#   native server + shim curl,   shim server + shim curl.
# In each: one curl with --parallel transfers of several files (up to 20 MiB of
# random bytes) plus several concurrent curl processes; every download must
# have the file's sha256. A missing file must give the same HTTP status (404)
# and the same curl exit code (0, and 22 with --fail) as natively.
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

  # 1. one curl, parallel transfers: every file twice.
  local args=()
  for f in "${files[@]}"; do
    for i in 1 2; do args+=(-o "$out/par-$i-$f" "$base/$f"); done
  done
  timeout 120 "${pre[@]}" curl -sS --no-progress-meter --fail --parallel --parallel-immediate --parallel-max 8 \
    "${args[@]}"
  local rc=$?
  [ $rc -eq 0 ] || fail "$name: curl --parallel exited $rc"
  local bad=0
  for f in "${files[@]}"; do
    for i in 1 2; do
      [ "$(sha "$out/par-$i-$f" 2>/dev/null)" = "${want[$f]}" ] || {
        bad=1; fail "$name: --parallel download $i of $f has the wrong checksum"; }
    done
  done
  [ $rc -eq 0 ] && [ $bad -eq 0 ] && pass "$name: curl --parallel, 8 transfers, checksums match"

  # 2. four concurrent curl processes, each fetching the two big files.
  local pids=() p ok=1
  for i in 1 2 3 4; do
    timeout 120 "${pre[@]}" curl -sS --fail -o "$out/con-$i-large.bin" "$base/large.bin" \
      -o "$out/con-$i-medium.bin" "$base/medium.bin" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { ok=0; fail "$name: a concurrent curl failed"; }; done
  for i in 1 2 3 4; do
    for f in large.bin medium.bin; do
      [ "$(sha "$out/con-$i-$f" 2>/dev/null)" = "${want[$f]}" ] || {
        ok=0; fail "$name: concurrent curl $i: $f has the wrong checksum"; }
    done
  done
  [ $ok -eq 1 ] && pass "$name: 4 concurrent curls, checksums match"

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

SECONDS=0
combo native native
combo shim native
combo native shim
combo shim shim
log "time: ${SECONDS}s"
finish
