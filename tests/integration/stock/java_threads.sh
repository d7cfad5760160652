#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The HotSpot JVM (Debian openjdk) natively and under the shim: a program
# with a thread pool, ThreadLocal values across sleeps, synchronized counters,
# a CountDownLatch and per-thread CPU times (ThreadMXBean) prints the same
# thing both ways. The JVM keeps the
# current thread's context in native thread-locals and looks users up with
# getpwuid at start-up, so it runs only when every green thread has its own
# TLS and glibc's per-thread state (docs/design.md, "The thread pointer").
#
# usage: java_threads.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need java
need javac

cat > "$WORK/T.java" <<'JAVA'
import java.util.*;
import java.util.concurrent.*;

public class T {
  static final ThreadLocal<Integer> local = ThreadLocal.withInitial(() -> -1);
  static int counter;

  public static void main(String[] args) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(8);
    CountDownLatch done = new CountDownLatch(32);
    List<Future<String>> results = new ArrayList<>();
    for (int i = 0; i < 32; i++) {
      final int n = i;
      results.add(pool.submit(() -> {
        local.set(n);
        Thread.sleep(2);
        synchronized (T.class) { counter += n; }
        done.countDown();
        return "task " + n + " saw its own value " + local.get();
      }));
    }
    for (Future<String> f : results) System.out.println(f.get());
    done.await();
    pool.shutdown();
    pool.awaitTermination(30, TimeUnit.SECONDS);
    System.out.println("counter " + counter);
    cpuTimes();
  }

  // Thread CPU times (ThreadMXBean: pthread_getcpuclockid and clock_gettime):
  // a thread that computes 200 ms of its own CPU time while another sleeps;
  // the sleeper's time, read by itself and by main, stays put.
  static void cpuTimes() throws Exception {
    java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
    final long[] r = new long[2];
    Thread busy = new Thread(() -> {
      long t0 = mx.getCurrentThreadCpuTime();
      long x = 0;
      while (mx.getCurrentThreadCpuTime() - t0 < 200_000_000L) x++;
      r[0] = mx.getCurrentThreadCpuTime() - t0;
    });
    CountDownLatch started = new CountDownLatch(1);
    Thread idle = new Thread(() -> {
      long t0 = mx.getCurrentThreadCpuTime();
      started.countDown();
      try { Thread.sleep(400); } catch (InterruptedException e) { }
      r[1] = mx.getCurrentThreadCpuTime() - t0;
    });
    idle.start();
    started.await();
    long byMain0 = mx.getThreadCpuTime(idle.getId());
    busy.start();
    busy.join();
    long byMain1 = mx.getThreadCpuTime(idle.getId());
    idle.join();
    System.out.println("busy thread's CPU time covers its work: " + (r[0] >= 200_000_000L));
    System.out.println("sleeping thread's own CPU time stayed put: " + (r[1] < 50_000_000L));
    System.out.println("sleeping thread's CPU time read by main stayed put: "
        + (byMain0 >= 0 && byMain1 - byMain0 < 50_000_000L));
  }
}
JAVA

timeout 120 javac -d "$WORK" "$WORK/T.java" 2> "$WORK/javac.err" || { cat "$WORK/javac.err" >&2; skip "javac could not compile the test"; }
for mode in native shim; do
  pre=()
  [ "$mode" = shim ] && pre=("$GH")
  timeout 120 "${pre[@]}" java -Xss1m -cp "$WORK" T > "$WORK/$mode.out" 2> "$WORK/$mode.err"
  rc=$?
  [ "$rc" -eq 0 ] || { fail "java $mode run exited $rc"; head -20 "$WORK/$mode.err" >&2; }
done
if cmp -s "$WORK/native.out" "$WORK/shim.out"; then
  pass "java: output identical to the native run ($(wc -l < "$WORK/shim.out") lines)"
else
  fail "java: output differs from the native run (--- native, +++ shim):"
  diff -u "$WORK/native.out" "$WORK/shim.out" | head -20 >&2
fi
grep -q greenhouse: "$WORK/shim.err" && { fail "the shim printed on stderr:"; head -5 "$WORK/shim.err" >&2; }
finish
