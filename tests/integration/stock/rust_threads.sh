#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A Rust program (compiled at test time with rustc; skipped when there is
# none) natively and under the shim: std::thread with names
# (thread::Builder::name, thread::current().name()), thread_local! Cell
# counters and a thread_local! RefCell<Vec<_>>, a thread_local! value whose
# Drop runs at thread exit (before join returns), std::sync::mpsc channels in
# a ring of 16 threads, Mutex + Condvar, thread::sleep, scoped threads. Both
# runs must print the same thing; while the 16 named threads are alive the
# test counts OS threads: 1 under the shim, more than 1 natively.
#
# usage: rust_threads.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need mkfifo

# rustc: on PATH, else the distribution's (Debian rustc), else rustup's.
RUSTC=""
for c in "$(command -v rustc 2>/dev/null)" /usr/bin/rustc "${CARGO_HOME:-$HOME/.cargo}/bin/rustc" \
         /usr/local/bin/rustc; do
  if [ -n "$c" ] && [ -x "$c" ] && "$c" --version >/dev/null 2>&1; then RUSTC="$c"; break; fi
done
[ -n "$RUSTC" ] || skip "rustc not installed"
log "using $("$RUSTC" --version) ($RUSTC)"

cat > "$WORK/prog.rs" <<'EOF'
use std::cell::{Cell, RefCell};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

const N: usize = 16;
const ROUNDS: u64 = 200;

thread_local! {
    static COUNTER: Cell<u64> = Cell::new(7);
    static SEEN: RefCell<Vec<u64>> = RefCell::new(Vec::new());
    static GUARD: RefCell<Option<Guard>> = RefCell::new(None);
}

// Dropped at thread exit (thread-local destructor): records the thread's
// name and its counter in a shared log.
struct Guard {
    name: String,
    log: Arc<Mutex<Vec<String>>>,
}
impl Drop for Guard {
    fn drop(&mut self) {
        let c = COUNTER.try_with(|c| c.get()).map(|v| v.to_string()).unwrap_or_else(|_| "gone".into());
        self.log.lock().unwrap().push(format!("{}: thread-local destructor ran (counter {})", self.name, c));
    }
}

struct Start {
    ready: usize,
    go: bool,
}

fn main() {
    let ready_file = std::env::var("GH_READY_FILE").expect("GH_READY_FILE");
    let start = Arc::new((Mutex::new(Start { ready: 0, go: false }), Condvar::new()));
    let drops = Arc::new(Mutex::new(Vec::new()));
    let (result_tx, result_rx) = mpsc::channel::<(usize, String)>();

    // A ring: worker i receives from rx[i] and sends to tx[(i + 1) % N].
    let mut txs = Vec::new();
    let mut rxs = Vec::new();
    for _ in 0..N {
        let (tx, rx) = mpsc::channel::<u64>();
        txs.push(tx);
        rxs.push(Some(rx));
    }

    COUNTER.with(|c| c.set(1000));
    let mut handles = Vec::new();
    for i in 0..N {
        let rx = rxs[i].take().unwrap();
        let next = txs[(i + 1) % N].clone();
        let start = Arc::clone(&start);
        let drops = Arc::clone(&drops);
        let result_tx = result_tx.clone();
        let h = thread::Builder::new()
            .name(format!("worker-{:02}", i))
            .stack_size(256 * 1024)
            .spawn(move || {
                let name = thread::current().name().unwrap_or("?").to_string();
                GUARD.with(|g| *g.borrow_mut() = Some(Guard { name: name.clone(), log: drops }));
                let initial = COUNTER.with(|c| c.get());
                {
                    let (m, cv) = &*start;
                    let mut s = m.lock().unwrap();
                    s.ready += 1;
                    cv.notify_all();
                    while !s.go {
                        s = cv.wait(s).unwrap();
                    }
                }
                if i == 0 {
                    next.send(0).unwrap();
                }
                for round in 0..ROUNDS {
                    let v = rx.recv().unwrap();
                    COUNTER.with(|c| c.set(c.get() + v));
                    SEEN.with(|s| s.borrow_mut().push(v));
                    if round % 50 == (i as u64) % 50 {
                        thread::sleep(Duration::from_millis(1));
                    }
                    if !(i == 0 && round == ROUNDS - 1) {
                        next.send(v + 1).unwrap();
                    }
                }
                let (count, first, last, sum) = SEEN.with(|s| {
                    let s = s.borrow();
                    (s.len(), s[0], s[s.len() - 1], s.iter().sum::<u64>())
                });
                let counter = COUNTER.with(|c| c.get());
                let ok = counter == 7 + sum;
                let line = format!(
                    "{}: current().name() {}, initial counter {}, {} values {}..{} sum {}, counter {} {}",
                    name,
                    if name == format!("worker-{:02}", i) { "ok" } else { "WRONG" },
                    initial, count, first, last, sum, counter,
                    if ok { "ok" } else { "WRONG" }
                );
                result_tx.send((i, line)).unwrap();
                i * 10
            })
            .expect("spawn");
        handles.push(h);
    }
    drop(result_tx);

    {
        let (m, cv) = &*start;
        let mut s = m.lock().unwrap();
        while s.ready < N {
            s = cv.wait(s).unwrap();
        }
    }
    std::fs::write(format!("{}.tmp", ready_file), format!("{}\n", std::process::id())).unwrap();
    std::fs::rename(format!("{}.tmp", ready_file), &ready_file).unwrap();
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    {
        let (m, cv) = &*start;
        m.lock().unwrap().go = true;
        cv.notify_all();
    }

    let mut lines: Vec<(usize, String)> = result_rx.iter().collect();
    lines.sort();
    let mut joined = Vec::new();
    for h in handles {
        let name = h.thread().name().unwrap_or("?").to_string();
        joined.push(format!("{} joined: {}", name, h.join().unwrap()));
    }
    for (_, l) in &lines {
        println!("{}", l);
    }
    for j in &joined {
        println!("{}", j);
    }
    let mut d = drops.lock().unwrap().clone();
    d.sort();
    println!("thread-local destructors before the joins returned: {}", d.len());
    for l in &d {
        println!("{}", l);
    }

    // Scoped threads borrowing the stack; each with its own thread_local.
    let data: Vec<u64> = (1..=1000).collect();
    let sums: Vec<u64> = thread::scope(|s| {
        let hs: Vec<_> = data
            .chunks(100)
            .map(|ch| {
                s.spawn(move || {
                    for v in ch {
                        COUNTER.with(|c| c.set(c.get() + v));
                    }
                    thread::sleep(Duration::from_micros(200));
                    COUNTER.with(|c| c.get()) - 7
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    println!("scoped sums: {:?} total {}", sums, sums.iter().sum::<u64>());
    println!("main: name {:?}, counter {}", thread::current().name(), COUNTER.with(|c| c.get()));
}
EOF

if ! "$RUSTC" --edition 2021 -O -o "$WORK/prog" "$WORK/prog.rs" > "$WORK/rustc.log" 2>&1; then
  cat "$WORK/rustc.log" >&2
  fail "rustc could not compile the test program"
  finish
fi

SECONDS=0
run_gated native rust "$WORK/prog"
N_TASKS=$TASKS N_LOADED=$LOADED N_RC=$RC
run_gated shim rust "$WORK/prog"
S_TASKS=$TASKS S_LOADED=$LOADED S_RC=$RC
grep -q WRONG "$WORK/rust-native.out" && fail "native run: $(grep WRONG "$WORK/rust-native.out" | head -3)"
grep -qx 'thread-local destructors before the joins returned: 16' "$WORK/rust-native.out" ||
  fail "native run: not 16 thread-local destructors"
compare_gated rust "17 Rust threads"
log "time: ${SECONDS}s"
finish
