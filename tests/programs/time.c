// SPDX-License-Identifier: MIT
/* Time: sleep, usleep, nanosleep, clock_nanosleep (relative and
 * TIMER_ABSTIME, several clocks) never return before the requested time;
 * invalid arguments give the native errors; sched_yield; many threads
 * sleeping at once all finish, concurrently; the remainder an interrupted
 * sleep() returns. */
#include "common.h"

#include <pthread.h>
#include <sched.h>

#define MS 1000000LL

/* Sleeps of each kind, checked against the clock they are measured on. */
static void check_sleeps(const char* who) {
  char label[128];
  int64_t t0, dt;

  t0 = now_ns(CLOCK_MONOTONIC);
  unsigned left = sleep(1);
  dt = now_ns(CLOCK_MONOTONIC) - t0;
  snprintf(label, sizeof label, "%s: sleep(1) returns 0 after >= 1s", who);
  CHECK(left == 0 && dt >= 1000 * MS, label, "left=%u after %lld ns", left, (long long)dt);

  t0 = now_ns(CLOCK_MONOTONIC);
  int r = usleep(30000);
  dt = now_ns(CLOCK_MONOTONIC) - t0;
  snprintf(label, sizeof label, "%s: usleep(30000) returns 0 after >= 30ms", who);
  CHECK(r == 0 && dt >= 30 * MS, label, "ret=%d after %lld ns", r, (long long)dt);

  struct timespec req = {0, 40 * MS}, rem = {7, 7};
  t0 = now_ns(CLOCK_MONOTONIC);
  r = nanosleep(&req, &rem);
  dt = now_ns(CLOCK_MONOTONIC) - t0;
  snprintf(label, sizeof label, "%s: nanosleep 40ms returns 0 after >= 40ms", who);
  CHECK(r == 0 && dt >= 40 * MS, label, "ret=%d after %lld ns", r, (long long)dt);

  static const struct {
    clockid_t clk;
    const char* name;
  } clocks[] = {{CLOCK_MONOTONIC, "MONOTONIC"},
                {CLOCK_REALTIME, "REALTIME"},
                {CLOCK_BOOTTIME, "BOOTTIME"}};
  for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
    clockid_t clk = clocks[i].clk;
    req.tv_sec = 0;
    req.tv_nsec = 25 * MS;
    t0 = now_ns(clk);
    r = clock_nanosleep(clk, 0, &req, NULL);
    dt = now_ns(clk) - t0;
    snprintf(label, sizeof label, "%s: clock_nanosleep %s relative 25ms", who, clocks[i].name);
    CHECK(r == 0 && dt >= 25 * MS, label, "ret=%s after %lld ns", errname(r), (long long)dt);

    int64_t target = now_ns(clk) + 35 * MS;
    struct timespec abs = {(time_t)(target / 1000000000), (long)(target % 1000000000)};
    r = clock_nanosleep(clk, TIMER_ABSTIME, &abs, NULL);
    int64_t after = now_ns(clk);
    snprintf(label, sizeof label, "%s: clock_nanosleep %s TIMER_ABSTIME +35ms", who,
             clocks[i].name);
    CHECK(r == 0 && after >= target, label, "ret=%s, %lld ns early", errname(r),
          (long long)(target - after));

    /* an absolute time in the past returns at once */
    abs.tv_sec = 1;
    abs.tv_nsec = 0;
    snprintf(label, sizeof label, "%s: clock_nanosleep %s TIMER_ABSTIME in the past", who,
             clocks[i].name);
    EXPECT_RC(label, clock_nanosleep(clk, TIMER_ABSTIME, &abs, NULL), 0);
  }

  /* zero-length sleeps */
  snprintf(label, sizeof label, "%s: usleep(0)", who);
  EXPECT_RC(label, usleep(0), 0);
  struct timespec zero = {0, 0};
  snprintf(label, sizeof label, "%s: nanosleep 0", who);
  EXPECT_RC(label, nanosleep(&zero, NULL), 0);
  snprintf(label, sizeof label, "%s: sleep(0)", who);
  EXPECT_RC(label, (int)sleep(0), 0);
  snprintf(label, sizeof label, "%s: sched_yield", who);
  EXPECT_RC(label, sched_yield(), 0);
}

/* Invalid arguments. */
static void check_errors(const char* who) {
  char label[128];
  struct timespec bad = {0, 2000000000L};
  snprintf(label, sizeof label, "%s: nanosleep tv_nsec=2e9: EINVAL", who);
  EXPECT_ERR(label, nanosleep(&bad, NULL), EINVAL);
  bad.tv_nsec = -1;
  snprintf(label, sizeof label, "%s: nanosleep tv_nsec=-1: EINVAL", who);
  EXPECT_ERR(label, nanosleep(&bad, NULL), EINVAL);
  struct timespec neg = {-1, 0};
  snprintf(label, sizeof label, "%s: nanosleep tv_sec=-1: EINVAL", who);
  EXPECT_ERR(label, nanosleep(&neg, NULL), EINVAL);
  bad.tv_nsec = 1000000000L;
  snprintf(label, sizeof label, "%s: clock_nanosleep tv_nsec=1e9: EINVAL (returned)", who);
  EXPECT_RC(label, clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL), EINVAL);
  snprintf(label, sizeof label, "%s: clock_nanosleep TIMER_ABSTIME tv_nsec=1e9: EINVAL", who);
  EXPECT_RC(label, clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &bad, NULL), EINVAL);
  snprintf(label, sizeof label, "%s: clock_nanosleep TIMER_ABSTIME tv_sec=-1: EINVAL", who);
  EXPECT_RC(label, clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &neg, NULL), EINVAL);
  snprintf(label, sizeof label, "%s: clock_nanosleep REALTIME TIMER_ABSTIME tv_sec=-1: EINVAL", who);
  EXPECT_RC(label, clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &neg, NULL), EINVAL);
  struct timespec ok = {0, 1000};
  snprintf(label, sizeof label, "%s: clock_nanosleep MONOTONIC_RAW: EOPNOTSUPP", who);
  EXPECT_RC(label, clock_nanosleep(CLOCK_MONOTONIC_RAW, 0, &ok, NULL), EOPNOTSUPP);
  snprintf(label, sizeof label, "%s: clock_nanosleep CLOCK_THREAD_CPUTIME_ID: EINVAL", who);
  EXPECT_RC(label, clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ok, NULL), EINVAL);
  snprintf(label, sizeof label, "%s: clock_nanosleep clock 12345: EINVAL", who);
  EXPECT_RC(label, clock_nanosleep((clockid_t)12345, 0, &ok, NULL), EINVAL);
  snprintf(label, sizeof label, "%s: nanosleep((void*)1): EFAULT", who);
  EXPECT_ERR(label, nanosleep((const struct timespec*)BADPTR, NULL), EFAULT);
  snprintf(label, sizeof label, "%s: clock_nanosleep((void*)1): EFAULT", who);
  EXPECT_RC(label, clock_nanosleep(CLOCK_MONOTONIC, 0, (const struct timespec*)BADPTR, NULL), EFAULT);
}

/* ---- many sleepers at once ---- */

#define SLEEPERS 50

struct sleeper {
  int idx;
  int ok;
  struct gate* start;
};

static void* sleeper_main(void* p) {
  struct sleeper* s = (struct sleeper*)p;
  gate_wait(s->start);
  int64_t want = (int64_t)(100 + (s->idx % 5) * 10) * MS; /* 100..140 ms */
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  switch (s->idx % 4) {
    case 0: usleep((useconds_t)(want / 1000)); break;
    case 1: {
      struct timespec ts = {0, (long)want};
      nanosleep(&ts, NULL);
      break;
    }
    case 2: {
      struct timespec ts = {0, (long)want};
      clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
      break;
    }
    case 3: {
      int64_t target = t0 + want;
      struct timespec ts = {(time_t)(target / 1000000000), (long)(target % 1000000000)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
      }
      break;
    }
  }
  s->ok = now_ns(CLOCK_MONOTONIC) - t0 >= want;
  return NULL;
}

static void check_many_sleepers(void) {
  struct gate start;
  gate_init(&start);
  pthread_t t[SLEEPERS];
  struct sleeper s[SLEEPERS];
  for (int i = 0; i < SLEEPERS; i++) {
    s[i] = (struct sleeper){i, 0, &start};
    pthread_create(&t[i], NULL, sleeper_main, &s[i]);
  }
  tasks_sample();
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  gate_open(&start, SLEEPERS);
  for (int i = 0; i < SLEEPERS; i++) pthread_join(t[i], NULL);
  int64_t dt = now_ns(CLOCK_MONOTONIC) - t0;
  int ok = 0;
  for (int i = 0; i < SLEEPERS; i++) ok += s[i].ok;
  CHECK(ok == SLEEPERS, "50 threads sleeping 100-140ms at once: none woke early", "%d ok", ok);
  /* one after the other they would take >= 6s */
  CHECK(dt < 3000 * MS, "50 threads sleeping 100-140ms at once: they slept concurrently",
        "took %lld ms", (long long)(dt / MS));
  gate_close(&start);
}

/* ---- sched_yield lets the other threads run ---- */

static volatile int g_turn;

static void* yielder(void* p) {
  int me = (int)(intptr_t)p;
  int spins = 0;
  for (int round = 0; round < 100; round++) {
    /* wait for my turn, yielding; never spin forever */
    while (g_turn % 2 != me) {
      sched_yield();
      if (++spins > 50000000) return (void*)1;
    }
    g_turn++;
  }
  return NULL;
}

static void check_yield(void) {
  pthread_t a, b;
  g_turn = 0;
  pthread_create(&a, NULL, yielder, (void*)0);
  pthread_create(&b, NULL, yielder, (void*)1);
  void *ra, *rb;
  pthread_join(a, &ra);
  pthread_join(b, &rb);
  CHECK(ra == NULL && rb == NULL && g_turn == 200,
        "two threads alternating 100 times with sched_yield", "turn=%d", g_turn);
}

/* sleep() ended early by a signal handler returns the unslept seconds as
 * glibc computes them (the differential compares the value): sleep(4)
 * interrupted after 1.1 s leaves 2.9 s, rounded down 2, rounded up 3; the
 * signal can only come late, and up to 0.9 s late changes neither. */
static void on_usr1(int sig) { (void)sig; }
static void* interrupt_main(void* p) {
  struct timespec ts = {1, 100 * MS};
  nanosleep(&ts, NULL);
  pthread_kill(*(pthread_t*)p, SIGUSR1);
  return NULL;
}
static void check_sleep_remainder(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1; /* no SA_RESTART: sleeps are never restarted anyway */
  sigaction(SIGUSR1, &sa, NULL);
  pthread_t self = pthread_self(), t;
  pthread_create(&t, NULL, interrupt_main, &self);
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  unsigned left = sleep(4);
  int64_t dt = now_ns(CLOCK_MONOTONIC) - t0;
  pthread_join(t, NULL);
  printf("sleep(4) interrupted after 1.1 s returned %u\n", left);
  CHECK(dt < 3900 * MS, "the interrupted sleep ended early", "slept %lld ms", (long long)(dt / MS));
  signal(SIGUSR1, SIG_DFL);
}

static void* in_thread(void* unused) {
  (void)unused;
  check_sleeps("thread");
  check_errors("thread");
  return NULL;
}

int main(void) {
  test_start();
  check_sleeps("main");
  check_errors("main");
  /* the same from a thread while main is joined: the green paths */
  pthread_t t;
  pthread_create(&t, NULL, in_thread, NULL);
  pthread_join(t, NULL);
  check_many_sleepers();
  check_yield();
  check_sleep_remainder();
  return test_end();
}
