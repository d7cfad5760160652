#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# python3 threading + sockets, natively and under the shim: a thread-per-
# connection server and 50 client threads exchange checksummed data (each
# client sends 100-150 KB of seeded pseudo-random bytes; the server answers
# with their sha256 and the bytes reversed). Both runs must print the same
# thing. While all 102 Python threads are alive (50 clients waiting for the
# go, 50 handlers in recv, the acceptor, main), the test looks at
# /proc/PID/task: under the shim 1 OS thread (all threads green), natively
# more than 1. Nothing may be written on stderr by either run.
#
# usage: python_threads.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need mkfifo

cat > "$WORK/prog.py" <<'EOF'
import hashlib, os, random, socket, sys, threading

N = 50
ready_path = os.environ["GH_READY_FILE"]

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(128)
port = srv.getsockname()[1]

def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(65536, n - len(buf)))
        if not chunk:
            raise EOFError("peer closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)

def handle(conn):
    with conn:
        n = int.from_bytes(recv_exact(conn, 8), "big")
        data = recv_exact(conn, n)
        conn.sendall(hashlib.sha256(data).digest() + data[::-1])

all_accepted = threading.Event()
handlers = []

def acceptor():
    for _ in range(N):
        conn, _ = srv.accept()
        t = threading.Thread(target=handle, args=(conn,), name="handler")
        t.start()
        handlers.append(t)
    all_accepted.set()
    go.wait(timeout=60)       # stays alive until the go: a fixed thread count

connected = threading.Barrier(N + 1)
go = threading.Event()
results = [None] * N

def client(i):
    data = random.Random(1000 + i).randbytes(100000 + 997 * i)
    want = hashlib.sha256(data)
    status = "BAD"
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", port))
        connected.wait(timeout=60)
        if not go.wait(timeout=60):
            raise TimeoutError("no go")
        s.sendall(len(data).to_bytes(8, "big") + data)
        digest = recv_exact(s, 32)
        back = recv_exact(s, len(data))
        eof = s.recv(1)
        s.close()
        if digest == want.digest() and back == data[::-1] and eof == b"":
            status = "ok"
    except Exception as e:
        status = "BAD %s: %s" % (type(e).__name__, e)
    results[i] = "client %2d sent %6d bytes sha256 %s %s" % (i, len(data), want.hexdigest()[:16], status)

acc = threading.Thread(target=acceptor, name="acceptor")
acc.start()
clients = [threading.Thread(target=client, args=(i,), name="client") for i in range(N)]
for t in clients:
    t.start()
connected.wait(timeout=60)
if not all_accepted.wait(timeout=60):
    print("acceptor did not accept all connections", file=sys.stderr)
alive = threading.active_count()
with open(ready_path + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(ready_path + ".tmp", ready_path)
sys.stdin.readline()          # the test says go once it has looked at /proc
go.set()
for t in clients:
    t.join()
acc.join()
for t in handlers:
    t.join()
print("python threads alive at the barrier: %d" % alive)
for line in results:
    print(line)
print("all ok" if all(r.endswith(" ok") for r in results) else "FAILURES")
EOF

SECONDS=0
run_gated native py "$PY" "$WORK/prog.py"
N_TASKS=$TASKS N_LOADED=$LOADED N_RC=$RC
run_gated shim py "$PY" "$WORK/prog.py"
S_TASKS=$TASKS S_LOADED=$LOADED S_RC=$RC
grep -qx 'all ok' "$WORK/py-native.out" || fail "native run: $(grep -v ' ok$' "$WORK/py-native.out" | head -5)"
compare_gated py "102 Python threads"
log "time: ${SECONDS}s"
finish
