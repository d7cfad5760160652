// SPDX-License-Identifier: MIT
/* A thread's CPU-time clock counts that thread alone. A thread computes
 * until its own CLOCK_THREAD_CPUTIME_ID has advanced 60 ms, while another
 * thread and main wait (in read and in join): their clocks, read by
 * themselves, through pthread_getcpuclockid, getrusage(RUSAGE_THREAD) and
 * syscall(SYS_clock_gettime), stay near where they were. The computing
 * thread's clock, read by main, shows its work; the clock of a joined thread
 * is EINVAL. A thread that yields and sleeps 2000 times (and moves between
 * carriers under the shim) never sees its clock go back. Under the shim
 * with one carrier for all (integration.packed.*) the waiting threads share
 * the computing thread's OS thread, whose clock does advance. A timer on a
 * thread's own clock can be made and expires as it computes; one on a
 * joined thread's clock is EINVAL. */
#include "common.h"

#include <sys/resource.h>
#include <sys/syscall.h>

#define WORK_NS (60 * 1000000LL)
#define IDLE_NS (20 * 1000000LL) /* generous: a wait costs microseconds */

static int g_release_b[2], g_release_a[2], g_ready[2];
static volatile uint64_t g_sink;

static int64_t clock_of(clockid_t clk) {
  struct timespec ts;
  if (clock_gettime(clk, &ts) != 0) return -errno;
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t rusage_ns(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_THREAD, &ru) != 0) return -1;
  return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
         ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static void wait_byte(int fd) {
  char c;
  while (read(fd, &c, 1) != 1) {
  }
}
static void post_byte(int fd) {
  char c = 1;
  while (write(fd, &c, 1) != 1) {
  }
}

static int64_t g_a_work, g_b_self, g_b_rusage, g_b_raw;

static void* computer(void* arg) {
  (void)arg;
  int64_t start = clock_of(CLOCK_THREAD_CPUTIME_ID);
  int64_t now = start;
  uint64_t x = 1;
  while (now - start < WORK_NS) {
    for (int i = 0; i < 10000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    now = clock_of(CLOCK_THREAD_CPUTIME_ID);
  }
  g_sink = x;
  g_a_work = now - start;
  post_byte(g_ready[1]);
  wait_byte(g_release_a[0]); /* alive while main reads its clock */
  return NULL;
}

static void* waiter(void* arg) {
  (void)arg;
  int64_t c0 = clock_of(CLOCK_THREAD_CPUTIME_ID);
  int64_t r0 = rusage_ns();
  struct timespec t0, t1;
  syscall(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &t0);
  tasks_sample();
  post_byte(g_ready[1]);
  wait_byte(g_release_b[0]); /* until the computer has finished */
  g_b_self = clock_of(CLOCK_THREAD_CPUTIME_ID) - c0;
  g_b_rusage = rusage_ns() - r0;
  syscall(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &t1);
  g_b_raw = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
  return NULL;
}

static int g_backwards;
static int64_t g_mover_total;

static void* mover(void* arg) {
  (void)arg;
  clockid_t own;
  pthread_getcpuclockid(pthread_self(), &own);
  int64_t last = clock_of(CLOCK_THREAD_CPUTIME_ID), first = last;
  for (int i = 0; i < 2000; i++) {
    if (i % 2)
      sched_yield();
    else {
      struct timespec d = {0, 1000};
      nanosleep(&d, NULL);
    }
    int64_t a = clock_of(CLOCK_THREAD_CPUTIME_ID);
    int64_t b = clock_of(own);
    if (a < last || b < a) g_backwards++;
    last = b;
  }
  g_mover_total = last - first;
  return NULL;
}

/* A timer on its own CPU clock (haproxy's watchdog arms one per thread):
 * made, and expired once the thread has computed for its time. */
static int g_timed_rc = -1, g_timed_expired;
static void* timed(void* arg) {
  (void)arg;
  clockid_t clk;
  if ((g_timed_rc = pthread_getcpuclockid(pthread_self(), &clk)) != 0) return NULL;
  struct sigevent none;
  memset(&none, 0, sizeof none);
  none.sigev_notify = SIGEV_NONE;
  timer_t t;
  if (timer_create(clk, &none, &t) != 0) {
    g_timed_rc = errno;
    return NULL;
  }
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_nsec = 20 * 1000000L;
  timer_settime(t, 0, &its, NULL);
  int64_t deadline = now_ns(CLOCK_MONOTONIC) + 5000000000LL;
  while (now_ns(CLOCK_MONOTONIC) < deadline) {
    for (int i = 0; i < 100000; i++) g_sink += (uint64_t)i * 7;
    struct itimerspec left;
    timer_gettime(t, &left);
    if (left.it_value.tv_sec == 0 && left.it_value.tv_nsec == 0) {
      g_timed_expired = 1;
      break;
    }
  }
  timer_delete(t);
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (pipe(g_release_b) || pipe(g_release_a) || pipe(g_ready)) return 2;
  clockid_t main_clk;
  EXPECT_RC("pthread_getcpuclockid(self) in main", pthread_getcpuclockid(pthread_self(), &main_clk),
            0);
  int64_t m0 = clock_of(CLOCK_THREAD_CPUTIME_ID);
  int64_t mc0 = clock_of(main_clk);

  pthread_t a, b, m;
  pthread_create(&b, NULL, waiter, NULL);
  wait_byte(g_ready[0]);
  clockid_t b_clk, a_clk;
  EXPECT_RC("pthread_getcpuclockid(waiter)", pthread_getcpuclockid(b, &b_clk), 0);
  int64_t b_before = clock_of(b_clk);
  pthread_create(&a, NULL, computer, NULL);
  EXPECT_RC("pthread_getcpuclockid(computer)", pthread_getcpuclockid(a, &a_clk), 0);
  wait_byte(g_ready[0]); /* the computer has done its work */

  int64_t a_by_main = clock_of(a_clk);
  CHECK(g_a_work >= WORK_NS && a_by_main >= g_a_work, "the computer's clock shows its work",
        "own %lld ns, read by main %lld ns", (long long)g_a_work, (long long)a_by_main);
  int64_t b_by_main = clock_of(b_clk) - b_before;
  CHECK(b_before >= 0 && b_by_main >= 0 && b_by_main < IDLE_NS,
        "the waiter's clock, read by main, stayed put", "before %lld, advanced %lld ns",
        (long long)b_before, (long long)b_by_main);
  /* The same clock through syscall(): a clockid_t arrives there through
   * varargs, zero-extended. */
  struct timespec raw;
  long rs = syscall(SYS_clock_gettime, b_clk, &raw);
  CHECK(rs == 0 && raw.tv_sec * 1000000000LL + raw.tv_nsec < IDLE_NS + b_before,
        "the waiter's clock through syscall(SYS_clock_gettime) from main", "ret %ld errno %s", rs,
        errname(errno));
  struct timespec res;
  int rr = clock_getres(b_clk, &res);
  printf("clock_getres(waiter's clock): %d %ld.%09ld\n", rr, (long)res.tv_sec, res.tv_nsec);

  post_byte(g_release_b[1]);
  pthread_join(b, NULL);
  CHECK(g_b_self >= 0 && g_b_self < IDLE_NS, "the waiter's own clock stayed put", "%lld ns",
        (long long)g_b_self);
  CHECK(g_b_rusage >= 0 && g_b_rusage < IDLE_NS, "the waiter's getrusage(RUSAGE_THREAD)", "%lld ns",
        (long long)g_b_rusage);
  CHECK(g_b_raw >= 0 && g_b_raw < IDLE_NS, "the waiter's syscall(SYS_clock_gettime)", "%lld ns",
        (long long)g_b_raw);

  post_byte(g_release_a[1]);
  pthread_join(a, NULL);
  int64_t m1 = clock_of(CLOCK_THREAD_CPUTIME_ID);
  int64_t mc1 = clock_of(main_clk);
  CHECK(m1 - m0 >= 0 && m1 - m0 < IDLE_NS, "main's clock while it waited", "advanced %lld ns",
        (long long)(m1 - m0));
  CHECK(mc0 >= 0 && mc1 >= mc0 && mc1 - mc0 < IDLE_NS && mc1 >= m1 - IDLE_NS,
        "main's clock through pthread_getcpuclockid", "%lld -> %lld ns (own %lld)", (long long)mc0,
        (long long)mc1, (long long)m1);
  /* The kernel wakes the joiner a moment before the thread's id is gone. */
  int64_t deadline = now_ns(CLOCK_MONOTONIC) + 5000000000LL;
  while (clock_gettime(a_clk, &res) == 0 && now_ns(CLOCK_MONOTONIC) < deadline) sched_yield();
  EXPECT_ERR("the clock of a joined thread", clock_gettime(a_clk, &res), EINVAL);
  struct sigevent none;
  memset(&none, 0, sizeof none);
  none.sigev_notify = SIGEV_NONE;
  timer_t dead_timer;
  EXPECT_ERR("timer_create on the clock of a joined thread",
             timer_create(a_clk, &none, &dead_timer), EINVAL);

  pthread_create(&m, NULL, timed, NULL);
  pthread_join(m, NULL);
  CHECK(g_timed_rc == 0, "timer_create on a thread's own clock (pthread_getcpuclockid)", "%s",
        strerror(g_timed_rc));
  CHECK(g_timed_expired, "that timer expires once the thread has computed its 20 ms",
        "not expired after 5 s");

  pthread_create(&m, NULL, mover, NULL);
  pthread_join(m, NULL);
  CHECK(g_backwards == 0 && g_mover_total >= 0, "a thread's clock never goes back",
        "%d readings went back", g_backwards);
  return g_failures ? 1 : 0;
}
