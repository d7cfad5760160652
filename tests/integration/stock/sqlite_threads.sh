#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A database the thread-per-task way, natively and under the shim: Debian's
# python3 with its sqlite3 module (the SQLite library: pread/pwrite/fsync on
# the database and its journal, fcntl record locks, busy waits), 8 writer
# threads with a connection each committing with synchronous=FULL (an fsync
# per commit), and 4 threads serialising read-modify-write updates of a
# counter file with flock() on their own descriptions of a lock file (they
# wait for one another: under the shim in the offload pool, not on a
# carrier). Both runs must print the same thing (row counts, sums, the
# counter, SQLite's integrity check); while all threads are alive the
# process has 1 OS thread under the shim.
#
# usage: sqlite_threads.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need mkfifo
"$PY" -c 'import sqlite3, fcntl' 2>/dev/null || skip "python3 without sqlite3"

cat > "$WORK/prog.py" <<'EOF'
import fcntl, os, sqlite3, sys, threading

WRITERS, ROWS, BATCH = 8, 120, 10
LOCKERS, BUMPS = 4, 60
here = sys.argv[1]
db = os.path.join(here, "db.sqlite")
counter = os.path.join(here, "counter")
lockfile = os.path.join(here, "lock")
for p in (db, db + "-journal", counter, lockfile):
    if os.path.exists(p):
        os.unlink(p)
with open(counter, "w") as f:
    f.write("0\n")
open(lockfile, "w").close()

setup = sqlite3.connect(db)
setup.execute("create table t (writer int, n int, payload text)")
setup.commit()
setup.close()

start = threading.Barrier(WRITERS + LOCKERS + 1)
go = threading.Event()
errors = []

def writer(w):
    try:
        con = sqlite3.connect(db, timeout=60, isolation_level=None)
        con.execute("pragma synchronous=FULL")
        start.wait()
        go.wait()
        for b in range(0, ROWS, BATCH):
            con.execute("begin immediate")
            for n in range(b, b + BATCH):
                con.execute("insert into t values (?, ?, ?)", (w, n, "x" * (n % 97)))
            con.execute("commit")
        con.close()
    except Exception as e:
        errors.append("writer %d: %r" % (w, e))

def locker(i):
    try:
        fd = os.open(lockfile, os.O_RDWR)   # its own open file description
        start.wait()
        go.wait()
        for _ in range(BUMPS):
            fcntl.flock(fd, fcntl.LOCK_EX)
            c = os.open(counter, os.O_RDWR)
            v = int(os.pread(c, 32, 0).decode())
            os.pwrite(c, ("%d\n" % (v + 1)).encode(), 0)
            os.fsync(c)
            os.close(c)
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    except Exception as e:
        errors.append("locker %d: %r" % (i, e))

ts = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
ts += [threading.Thread(target=locker, args=(i,)) for i in range(LOCKERS)]
for t in ts:
    t.start()
start.wait()
ready = os.environ["GH_READY_FILE"]
with open(ready + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(ready + ".tmp", ready)
sys.stdin.readline()
go.set()
for t in ts:
    t.join()

con = sqlite3.connect(db)
print("errors:", errors)
print("rows:", con.execute("select count(*) from t").fetchone()[0])
print("per writer:", [r[0] for r in con.execute("select count(*) from t group by writer order by writer")])
print("sum n:", con.execute("select sum(n) from t").fetchone()[0])
print("payload bytes:", con.execute("select sum(length(payload)) from t").fetchone()[0])
print("integrity:", con.execute("pragma integrity_check").fetchone()[0])
con.close()
with open(counter) as f:
    print("counter:", f.read().strip(), "of", LOCKERS * BUMPS)
EOF

SECONDS=0
mkdir -p "$WORK/native" "$WORK/shim"
run_gated native sq "$PY" "$WORK/prog.py" "$WORK/native"
N_TASKS=$TASKS N_LOADED=$LOADED N_RC=$RC
run_gated shim sq "$PY" "$WORK/prog.py" "$WORK/shim"
S_TASKS=$TASKS S_LOADED=$LOADED S_RC=$RC
grep -qx 'errors: \[\]' "$WORK/sq-native.out" || fail "native run: $(head -3 "$WORK/sq-native.out")"
grep -qx 'counter: 240 of 240' "$WORK/sq-native.out" || fail "native run: counter $(grep counter "$WORK/sq-native.out")"
compare_gated sq "13 Python threads"
log "time: ${SECONDS}s"
finish
