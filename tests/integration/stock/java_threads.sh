#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The HotSpot JVM (Debian openjdk) natively and under the shim: a program
# with a thread pool, ThreadLocal values across sleeps, synchronized counters
# and a CountDownLatch prints the same thing both ways. The JVM keeps the
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
