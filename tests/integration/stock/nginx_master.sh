#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# nginx's master process natively and under the shim (one worker, a scratch
# prefix on 127.0.0.1): it serves a file (checked by sha256), also through
# its `aio threads` pool (whose threads report through a blocking eventfd), reloads its
# configuration on SIGHUP (the next answers come from the new one), and ends
# on SIGQUIT with status 0. The master makes no threads, but OpenSSL's start
# takes a rwlock, which starts the runtime; it then waits for its control
# signals in sigsuspend with them blocked otherwise. Under the shim that wait
# used to end without running the handler, forever: the master spun and
# never reloaded or stopped.
#
# usage: nginx_master.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need nginx curl
[ -x "$(command -v nginx)" ] || skip "nginx not installed"

# conf DIR PORT VERSION: writes DIR/nginx.conf.
conf() {
  cat > "$1/nginx.conf" <<CONF
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 1;
thread_pool default threads=4;
pid $1/nginx.pid;
error_log $1/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $1/tmp;
  proxy_temp_path $1/tmp;
  fastcgi_temp_path $1/tmp;
  uwsgi_temp_path $1/tmp;
  scgi_temp_path $1/tmp;
  server {
    listen 127.0.0.1:$2;
    root $1/www;
    location = /version { return 200 "$3\n"; }
    location /pool/ { alias $1/www/; aio threads; sendfile off; output_buffers 2 32k; }
  }
}
CONF
}

get() { timeout 10 curl -s --max-time 5 "http://127.0.0.1:$1$2"; }

# run_nginx MODE
run_nginx() {
  local mode="$1" pre=() dir="$WORK/$1" port i v
  [ "$mode" = shim ] && pre=("$GH")
  mkdir -p "$dir/www" "$dir/tmp"
  gen_random "$dir/www/data.bin" 300000 7
  port="$(free_port)"
  conf "$dir" "$port" v1
  start_bg timeout 120 "${pre[@]}" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" \
    -g 'daemon off;' < /dev/null > "$dir/out.log" 2>&1
  local bg=$BG_PID
  if ! wait_listen "$port" "$bg" 30; then
    fail "$mode: nginx never listened on $port"; tail -n 20 "$dir/error.log" >&2
    stop_bg "$bg"; return
  fi
  local master=""
  for ((i = 0; i < 100; i++)); do           # its pid file, up to ~5 s
    master="$(cat "$dir/nginx.pid" 2>/dev/null)"
    [ -n "$master" ] && break
    sleep 0.05
  done
  if [ "$(get "$port" /data.bin | sha256sum | cut -d' ' -f1)" = "$(sha "$dir/www/data.bin")" ]; then
    pass "$mode: a 300 KB file served intact"
  else
    fail "$mode: the file came back different"
  fi
  # Read by the worker's thread pool, which reports each read through a
  # blocking eventfd; eight at a time.
  local want bad=0 j pids=()
  want="$(sha "$dir/www/data.bin")"
  for ((j = 0; j < 8; j++)); do
    get "$port" /pool/data.bin > "$dir/pool.$j" &
    pids+=($!)
  done
  wait "${pids[@]}"
  for ((j = 0; j < 8; j++)); do [ "$(sha "$dir/pool.$j")" = "$want" ] || bad=$((bad + 1)); done
  if [ "$bad" = 0 ]; then pass "$mode: 8 parallel reads through the aio thread pool intact"
  else fail "$mode: $bad of 8 reads through the aio thread pool came back different"; fi
  [ "$(get "$port" /version)" = v1 ] || fail "$mode: /version is not v1 before the reload"
  conf "$dir" "$port" v2
  kill -HUP "$master"
  v=""
  for ((i = 0; i < 200; i++)); do         # up to ~10 s
    v="$(get "$port" /version)"
    [ "$v" = v2 ] && break
    sleep 0.05
  done
  if [ "$v" = v2 ]; then
    pass "$mode: SIGHUP reloaded the configuration"
  else
    fail "$mode: no reload 10 s after SIGHUP (/version: '$v')"
  fi
  kill -QUIT "$master"
  if wait_gone "$bg" 20; then
    if [ "$WAIT_RC" = 0 ]; then pass "$mode: SIGQUIT ended it with status 0"
    else fail "$mode: SIGQUIT ended it with status $WAIT_RC"; fi
  else
    fail "$mode: still running 20 s after SIGQUIT"
    stop_bg "$bg"
  fi
  if [ "$mode" = shim ] && grep -q 'greenhouse:' "$dir/out.log" "$dir/error.log"; then
    fail "shim: a greenhouse: message"; grep 'greenhouse:' "$dir/out.log" "$dir/error.log" >&2
  fi
}

run_nginx native
run_nginx shim
finish
