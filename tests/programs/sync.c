// SPDX-License-Identifier: MIT
/* Synchronisation: mutexes (normal, recursive, errorcheck; trylock,
 * timedlock, clocklock), condition variables (signal, broadcast, timedwait on
 * REALTIME and MONOTONIC), rwlocks, barriers, spinlocks, semaphores,
 * pthread_once, and the static initialisers. */
#include "common.h"

#include <limits.h>
#include <pthread.h>
#include <semaphore.h>

#define MS 1000000LL

static struct timespec abs_in(clockid_t clk, int64_t ns) {
  int64_t t = now_ns(clk) + ns;
  struct timespec ts = {(time_t)(t / 1000000000), (long)(t % 1000000000)};
  return ts;
}
static int64_t ts_ns(const struct timespec* ts) {
  return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* A thread that takes a lock, signals that it holds it, and releases it
 * when told to. */
struct holder {
  void (*lock)(void*);
  void (*unlock)(void*);
  void* obj;
  struct gate held, release;
};

static void* hold_main(void* p) {
  struct holder* h = (struct holder*)p;
  h->lock(h->obj);
  gate_open(&h->held, 1);
  gate_wait(&h->release);
  h->unlock(h->obj);
  return NULL;
}

static void start_holder(struct holder* h, pthread_t* t) {
  gate_init(&h->held);
  gate_init(&h->release);
  pthread_create(t, NULL, hold_main, h);
  gate_wait(&h->held);
}

static void stop_holder(struct holder* h, pthread_t t) {
  gate_open(&h->release, 1);
  pthread_join(t, NULL);
  gate_close(&h->held);
  gate_close(&h->release);
}

static void mlock(void* m) { pthread_mutex_lock((pthread_mutex_t*)m); }
static void munlock(void* m) { pthread_mutex_unlock((pthread_mutex_t*)m); }
static void slock(void* m) { pthread_spin_lock((pthread_spinlock_t*)m); }
static void sunlock(void* m) { pthread_spin_unlock((pthread_spinlock_t*)m); }

/* ---- mutexes ---- */

static pthread_mutex_t g_static = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_static_rec = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_mutex_t g_static_err = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static long g_counter;

struct counting {
  pthread_mutex_t* m;
  int iters;
  int recursive;
};

static void* count_main(void* p) {
  struct counting* c = (struct counting*)p;
  for (int i = 0; i < c->iters; i++) {
    pthread_mutex_lock(c->m);
    if (c->recursive) pthread_mutex_lock(c->m);
    long v = g_counter;
    if (i % 97 == 0) sched_yield(); /* let others try while we hold it */
    g_counter = v + 1;
    if (c->recursive) pthread_mutex_unlock(c->m);
    pthread_mutex_unlock(c->m);
  }
  return NULL;
}

static void contend(const char* label, pthread_mutex_t* m, int recursive) {
  pthread_t t[8];
  struct counting c = {m, 2000, recursive};
  g_counter = 0;
  for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, count_main, &c);
  tasks_sample();
  for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
  printf("%s: 8 threads x 2000 increments = %ld\n", label, g_counter);
}

static int unlock_in_thread(pthread_mutex_t* m);

static void* unlock_main(void* p) { return (void*)(intptr_t)pthread_mutex_unlock((pthread_mutex_t*)p); }
static int unlock_in_thread(pthread_mutex_t* m) {
  pthread_t t;
  void* r;
  pthread_create(&t, NULL, unlock_main, m);
  pthread_join(t, &r);
  return (int)(intptr_t)r;
}

static void* trylock_main(void* p) { return (void*)(intptr_t)pthread_mutex_trylock((pthread_mutex_t*)p); }
static int trylock_in_thread(pthread_mutex_t* m) {
  pthread_t t;
  void* r;
  pthread_create(&t, NULL, trylock_main, m);
  pthread_join(t, &r);
  int rc = (int)(intptr_t)r;
  if (rc == 0) unlock_in_thread(m); /* (only if it got it; not expected) */
  return rc;
}

static void check_mutexes(void) {
  contend("static PTHREAD_MUTEX_INITIALIZER", &g_static, 0);
  contend("static PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP, locked twice", &g_static_rec, 1);
  contend("static PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP", &g_static_err, 0);
  pthread_mutex_t dyn;
  pthread_mutex_init(&dyn, NULL);
  contend("pthread_mutex_init(NULL attr)", &dyn, 0);

  /* normal */
  EXPECT_RC("normal: lock", pthread_mutex_lock(&dyn), 0);
  EXPECT_RC("normal: trylock while held by self: EBUSY", pthread_mutex_trylock(&dyn), EBUSY);
  EXPECT_RC("normal: trylock from another thread: EBUSY", trylock_in_thread(&dyn), EBUSY);
  EXPECT_RC("normal: destroy while locked: EBUSY", pthread_mutex_destroy(&dyn), EBUSY);
  EXPECT_RC("normal: unlock", pthread_mutex_unlock(&dyn), 0);
  EXPECT_RC("normal: trylock when free", pthread_mutex_trylock(&dyn), 0);
  EXPECT_RC("normal: unlock", pthread_mutex_unlock(&dyn), 0);
  EXPECT_RC("normal: destroy", pthread_mutex_destroy(&dyn), 0);

  /* recursive */
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  EXPECT_RC("mutexattr settype RECURSIVE", pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE), 0);
  pthread_mutex_t rec;
  pthread_mutex_init(&rec, &a);
  EXPECT_RC("recursive: lock", pthread_mutex_lock(&rec), 0);
  EXPECT_RC("recursive: lock again", pthread_mutex_lock(&rec), 0);
  EXPECT_RC("recursive: trylock while owned", pthread_mutex_trylock(&rec), 0);
  EXPECT_RC("recursive: trylock from another thread: EBUSY", trylock_in_thread(&rec), EBUSY);
  EXPECT_RC("recursive: unlock from another thread: EPERM", unlock_in_thread(&rec), EPERM);
  EXPECT_RC("recursive: unlock 1", pthread_mutex_unlock(&rec), 0);
  EXPECT_RC("recursive: unlock 2", pthread_mutex_unlock(&rec), 0);
  EXPECT_RC("recursive: unlock 3", pthread_mutex_unlock(&rec), 0);
  EXPECT_RC("recursive: unlock when free: EPERM", pthread_mutex_unlock(&rec), EPERM);
  pthread_mutex_destroy(&rec);

  /* errorcheck */
  EXPECT_RC("mutexattr settype ERRORCHECK", pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK), 0);
  pthread_mutex_t ec;
  pthread_mutex_init(&ec, &a);
  EXPECT_RC("errorcheck: lock", pthread_mutex_lock(&ec), 0);
  EXPECT_RC("errorcheck: relock: EDEADLK", pthread_mutex_lock(&ec), EDEADLK);
  EXPECT_RC("errorcheck: trylock while owned: EBUSY", pthread_mutex_trylock(&ec), EBUSY);
  EXPECT_RC("errorcheck: unlock from another thread: EPERM", unlock_in_thread(&ec), EPERM);
  EXPECT_RC("errorcheck: unlock", pthread_mutex_unlock(&ec), 0);
  EXPECT_RC("errorcheck: unlock when free: EPERM", pthread_mutex_unlock(&ec), EPERM);
  struct timespec soon = abs_in(CLOCK_REALTIME, 10 * MS);
  EXPECT_RC("errorcheck: lock", pthread_mutex_lock(&ec), 0);
  EXPECT_RC("errorcheck: timedlock by owner: EDEADLK", pthread_mutex_timedlock(&ec, &soon), EDEADLK);
  pthread_mutex_unlock(&ec);
  pthread_mutex_destroy(&ec);
  EXPECT_RC("mutexattr settype 12345: EINVAL", pthread_mutexattr_settype(&a, 12345), EINVAL);
  pthread_mutexattr_destroy(&a);

  /* timedlock and clocklock while another thread holds it */
  pthread_mutex_t tm = PTHREAD_MUTEX_INITIALIZER;
  struct holder h = {mlock, munlock, &tm};
  pthread_t ht;
  start_holder(&h, &ht);
  struct timespec dl = abs_in(CLOCK_REALTIME, 50 * MS);
  EXPECT_RC("timedlock REALTIME +50ms while held: ETIMEDOUT", pthread_mutex_timedlock(&tm, &dl), ETIMEDOUT);
  CHECK(now_ns(CLOCK_REALTIME) >= ts_ns(&dl), "timedlock did not time out early", "early");
  dl = abs_in(CLOCK_MONOTONIC, 30 * MS);
  EXPECT_RC("clocklock MONOTONIC +30ms while held: ETIMEDOUT", pthread_mutex_clocklock(&tm, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
  CHECK(now_ns(CLOCK_MONOTONIC) >= ts_ns(&dl), "clocklock did not time out early", "early");
  struct timespec past = {1, 0};
  EXPECT_RC("timedlock with a past deadline while held: ETIMEDOUT", pthread_mutex_timedlock(&tm, &past), ETIMEDOUT);
  struct timespec bad = {0, 1000000000};
  EXPECT_RC("timedlock tv_nsec=1e9 while held: EINVAL", pthread_mutex_timedlock(&tm, &bad), EINVAL);
  EXPECT_RC("clocklock with clock 12345: EINVAL", pthread_mutex_clocklock(&tm, (clockid_t)12345, &dl), EINVAL);
  stop_holder(&h, ht);
  dl = abs_in(CLOCK_REALTIME, 5000 * MS);
  EXPECT_RC("timedlock when free", pthread_mutex_timedlock(&tm, &dl), 0);
  pthread_mutex_unlock(&tm);
  /* a waiter in timedlock gets the mutex when it is released in time */
  start_holder(&h, &ht);
  gate_open(&h.release, 1); /* it unlocks as soon as it runs again */
  dl = abs_in(CLOCK_REALTIME, 10000 * MS);
  EXPECT_RC("timedlock gets the mutex released meanwhile", pthread_mutex_timedlock(&tm, &dl), 0);
  pthread_mutex_unlock(&tm);
  pthread_join(ht, NULL);
  gate_close(&h.held);
  gate_close(&h.release);
}

/* ---- condition variables ---- */

static pthread_mutex_t g_cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_ready, g_woken, g_waiting;

static void* cond_waiter(void* p) {
  (void)p;
  pthread_mutex_lock(&g_cm);
  g_waiting++;
  while (!g_ready) pthread_cond_wait(&g_cv, &g_cm);
  g_woken++;
  pthread_mutex_unlock(&g_cm);
  return NULL;
}

static void wait_for_waiters(int n) {
  for (int i = 0; i < 100000; i++) {
    pthread_mutex_lock(&g_cm);
    int w = g_waiting;
    pthread_mutex_unlock(&g_cm);
    if (w >= n) return;
    usleep(1000);
  }
}

/* Producer/consumer with signal: one item at a time. */
static int g_slot = -1;
static pthread_cond_t g_full = PTHREAD_COND_INITIALIZER, g_empty = PTHREAD_COND_INITIALIZER;

static void* consumer(void* p) {
  long sum = 0;
  for (int i = 0; i < 500; i++) {
    pthread_mutex_lock(&g_cm);
    while (g_slot < 0) pthread_cond_wait(&g_full, &g_cm);
    sum += g_slot;
    g_slot = -1;
    pthread_cond_signal(&g_empty);
    pthread_mutex_unlock(&g_cm);
  }
  *(long*)p = sum;
  return NULL;
}

static void check_conds(void) {
  /* broadcast wakes every waiter */
  pthread_t t[6];
  g_ready = g_woken = g_waiting = 0;
  for (int i = 0; i < 6; i++) pthread_create(&t[i], NULL, cond_waiter, NULL);
  wait_for_waiters(6);
  tasks_sample();
  pthread_mutex_lock(&g_cm);
  g_ready = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_cm);
  for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
  printf("cond broadcast: %d of 6 waiters woke\n", g_woken);

  /* signal, one at a time */
  long sum = 0;
  pthread_t c;
  pthread_create(&c, NULL, consumer, &sum);
  for (int i = 0; i < 500; i++) {
    pthread_mutex_lock(&g_cm);
    while (g_slot >= 0) pthread_cond_wait(&g_empty, &g_cm);
    g_slot = i;
    pthread_cond_signal(&g_full);
    pthread_mutex_unlock(&g_cm);
  }
  pthread_join(c, NULL);
  printf("cond signal producer/consumer: sum of 0..499 = %ld\n", sum);

  /* timedwait: REALTIME (default) */
  pthread_cond_t cv;
  pthread_cond_init(&cv, NULL);
  pthread_mutex_lock(&g_cm);
  struct timespec dl = abs_in(CLOCK_REALTIME, 50 * MS);
  EXPECT_RC("cond timedwait REALTIME +50ms: ETIMEDOUT", pthread_cond_timedwait(&cv, &g_cm, &dl), ETIMEDOUT);
  CHECK(now_ns(CLOCK_REALTIME) >= ts_ns(&dl), "cond timedwait did not time out early", "early");
  EXPECT_RC("mutex is held again after the timeout (trylock by owner: EBUSY)", pthread_mutex_trylock(&g_cm), EBUSY);
  struct timespec past = {1, 0};
  EXPECT_RC("cond timedwait with a past deadline: ETIMEDOUT", pthread_cond_timedwait(&cv, &g_cm, &past), ETIMEDOUT);
  struct timespec bad = {0, 1000000000};
  EXPECT_RC("cond timedwait tv_nsec=1e9: EINVAL", pthread_cond_timedwait(&cv, &g_cm, &bad), EINVAL);
  dl = abs_in(CLOCK_MONOTONIC, 30 * MS);
  EXPECT_RC("cond clockwait MONOTONIC +30ms: ETIMEDOUT", pthread_cond_clockwait(&cv, &g_cm, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
  CHECK(now_ns(CLOCK_MONOTONIC) >= ts_ns(&dl), "cond clockwait did not time out early", "early");
  EXPECT_RC("cond clockwait with clock 12345: EINVAL", pthread_cond_clockwait(&cv, &g_cm, (clockid_t)12345, &dl), EINVAL);
  pthread_mutex_unlock(&g_cm);
  pthread_cond_destroy(&cv);

  /* condattr CLOCK_MONOTONIC */
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  EXPECT_RC("condattr setclock MONOTONIC", pthread_condattr_setclock(&ca, CLOCK_MONOTONIC), 0);
  EXPECT_RC("condattr setclock THREAD_CPUTIME: EINVAL", pthread_condattr_setclock(&ca, CLOCK_THREAD_CPUTIME_ID), EINVAL);
  clockid_t clk = -1;
  pthread_condattr_getclock(&ca, &clk);
  printf("condattr getclock: %s\n", clk == CLOCK_MONOTONIC ? "MONOTONIC" : "other");
  pthread_cond_init(&cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_lock(&g_cm);
  dl = abs_in(CLOCK_MONOTONIC, 40 * MS);
  EXPECT_RC("MONOTONIC cond timedwait +40ms: ETIMEDOUT", pthread_cond_timedwait(&cv, &g_cm, &dl), ETIMEDOUT);
  CHECK(now_ns(CLOCK_MONOTONIC) >= ts_ns(&dl), "MONOTONIC cond timedwait did not time out early", "early");
  pthread_mutex_unlock(&g_cm);
  pthread_cond_destroy(&cv);

  /* a timed wait that is signalled in time */
  g_ready = g_woken = g_waiting = 0;
  pthread_t w;
  pthread_create(&w, NULL, cond_waiter, NULL);
  wait_for_waiters(1);
  pthread_mutex_lock(&g_cm);
  g_ready = 1;
  pthread_cond_signal(&g_cv);
  pthread_mutex_unlock(&g_cm);
  pthread_join(w, NULL);
  printf("cond signal woke %d waiter\n", g_woken);

  /* cond_wait with a recursive mutex locked once */
  pthread_mutex_t rm = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
  pthread_cond_init(&cv, NULL);
  pthread_mutex_lock(&rm);
  dl = abs_in(CLOCK_REALTIME, 10 * MS);
  EXPECT_RC("cond timedwait with a recursive mutex: ETIMEDOUT", pthread_cond_timedwait(&cv, &rm, &dl), ETIMEDOUT);
  EXPECT_RC("recursive mutex still owned after the wait (unlock)", pthread_mutex_unlock(&rm), 0);
  pthread_cond_destroy(&cv);
}

/* ---- rwlocks ---- */

static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
static struct gate g_all_in, g_leave;

static void* reader(void* p) {
  (void)p;
  pthread_rwlock_rdlock(&g_rw);
  gate_open(&g_all_in, 1); /* "I hold it" */
  gate_wait(&g_leave);     /* ... until every reader holds it at once */
  pthread_rwlock_unlock(&g_rw);
  return NULL;
}

/* try*lock in another thread, releasing what it got */
static void* try_rd(void* p) {
  int rc = pthread_rwlock_tryrdlock((pthread_rwlock_t*)p);
  if (rc == 0) pthread_rwlock_unlock((pthread_rwlock_t*)p);
  return (void*)(intptr_t)rc;
}
static void* try_wr(void* p) {
  int rc = pthread_rwlock_trywrlock((pthread_rwlock_t*)p);
  if (rc == 0) pthread_rwlock_unlock((pthread_rwlock_t*)p);
  return (void*)(intptr_t)rc;
}
static int in_thread(void* (*fn)(void*), void* arg) {
  pthread_t t;
  void* r;
  pthread_create(&t, NULL, fn, arg);
  pthread_join(t, &r);
  return (int)(intptr_t)r;
}

static long g_shared_value;
static void* rw_writer(void* p) {
  for (int i = 0; i < 500; i++) {
    pthread_rwlock_wrlock(&g_rw);
    long v = g_shared_value;
    if (i % 50 == 0) sched_yield();
    g_shared_value = v + 1;
    pthread_rwlock_unlock(&g_rw);
  }
  return p;
}
static void* rw_reader(void* p) {
  int bad = 0;
  for (int i = 0; i < 500; i++) {
    pthread_rwlock_rdlock(&g_rw);
    long a = g_shared_value;
    if (i % 50 == 0) sched_yield();
    if (g_shared_value != a) bad++; /* no writer while we read */
    pthread_rwlock_unlock(&g_rw);
  }
  return (void*)(intptr_t)bad;
}

static void check_rwlocks(void) {
  gate_init(&g_all_in);
  gate_init(&g_leave);
  pthread_t r[5];
  for (int i = 0; i < 5; i++) pthread_create(&r[i], NULL, reader, NULL);
  for (int i = 0; i < 5; i++) gate_wait(&g_all_in);
  printf("rwlock: 5 readers hold the read lock at once\n");
  EXPECT_RC("rwlock: tryrdlock from another thread while read-locked", in_thread(try_rd, &g_rw), 0);
  EXPECT_RC("rwlock: trywrlock while read-locked: EBUSY", pthread_rwlock_trywrlock(&g_rw), EBUSY);
  struct timespec dl = abs_in(CLOCK_REALTIME, 30 * MS);
  EXPECT_RC("rwlock: timedwrlock +30ms while read-locked: ETIMEDOUT", pthread_rwlock_timedwrlock(&g_rw, &dl), ETIMEDOUT);
  CHECK(now_ns(CLOCK_REALTIME) >= ts_ns(&dl), "rwlock timedwrlock did not time out early", "early");
  gate_open(&g_leave, 5);
  for (int i = 0; i < 5; i++) pthread_join(r[i], NULL);

  EXPECT_RC("rwlock: wrlock", pthread_rwlock_wrlock(&g_rw), 0);
  EXPECT_RC("rwlock: tryrdlock from another thread while write-locked: EBUSY", in_thread(try_rd, &g_rw), EBUSY);
  EXPECT_RC("rwlock: trywrlock from another thread while write-locked: EBUSY", in_thread(try_wr, &g_rw), EBUSY);
  EXPECT_RC("rwlock: wrlock again by the writer: EDEADLK", pthread_rwlock_wrlock(&g_rw), EDEADLK);
  EXPECT_RC("rwlock: rdlock by the writer: EDEADLK", pthread_rwlock_rdlock(&g_rw), EDEADLK);
  dl = abs_in(CLOCK_MONOTONIC, 20 * MS);
  EXPECT_RC("rwlock: clockrdlock by the writer: EDEADLK", pthread_rwlock_clockrdlock(&g_rw, CLOCK_MONOTONIC, &dl), EDEADLK);
  EXPECT_RC("rwlock: unlock", pthread_rwlock_unlock(&g_rw), 0);

  g_shared_value = 0;
  pthread_t w[3], rd[3];
  for (int i = 0; i < 3; i++) {
    pthread_create(&w[i], NULL, rw_writer, NULL);
    pthread_create(&rd[i], NULL, rw_reader, NULL);
  }
  int bad = 0;
  for (int i = 0; i < 3; i++) {
    void* v;
    pthread_join(w[i], NULL);
    pthread_join(rd[i], &v);
    bad += (int)(intptr_t)v;
  }
  printf("rwlock: 3 writers x 500 = %ld, readers saw %d changes under the read lock\n",
         g_shared_value, bad);

  pthread_rwlockattr_t ra;
  pthread_rwlockattr_init(&ra);
  EXPECT_RC("rwlockattr setkind WRITER_NONRECURSIVE", pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), 0);
  pthread_rwlock_t wp;
  pthread_rwlock_init(&wp, &ra);
  pthread_rwlockattr_destroy(&ra);
  EXPECT_RC("writer-preferring rwlock: rdlock", pthread_rwlock_rdlock(&wp), 0);
  EXPECT_RC("writer-preferring rwlock: rdlock again", pthread_rwlock_rdlock(&wp), 0);
  pthread_rwlock_unlock(&wp);
  pthread_rwlock_unlock(&wp);
  pthread_rwlock_destroy(&wp);
  gate_close(&g_all_in);
  gate_close(&g_leave);
}

/* ---- barriers ---- */

#define BAR_THREADS 5
#define BAR_ROUNDS 20
static pthread_barrier_t g_bar;
static int g_serial[BAR_ROUNDS];
static int g_arrived[BAR_ROUNDS];

static void* bar_main(void* p) {
  (void)p;
  for (int r = 0; r < BAR_ROUNDS; r++) {
    __atomic_add_fetch(&g_arrived[r], 1, __ATOMIC_SEQ_CST);
    int rc = pthread_barrier_wait(&g_bar);
    if (rc == PTHREAD_BARRIER_SERIAL_THREAD) __atomic_add_fetch(&g_serial[r], 1, __ATOMIC_SEQ_CST);
    else if (rc != 0) printf("barrier_wait: %s\n", errname(rc));
    /* everyone of this round has arrived */
    if (__atomic_load_n(&g_arrived[r], __ATOMIC_SEQ_CST) != BAR_THREADS) printf("barrier leaked in round %d\n", r);
    if (r % 3 == 0) usleep(1000);
  }
  return NULL;
}

static void check_barriers(void) {
  EXPECT_RC("barrier_init count 0: EINVAL", pthread_barrier_init(&g_bar, NULL, 0), EINVAL);
  EXPECT_RC("barrier_init count 5", pthread_barrier_init(&g_bar, NULL, BAR_THREADS), 0);
  pthread_t t[BAR_THREADS];
  for (int i = 0; i < BAR_THREADS; i++) pthread_create(&t[i], NULL, bar_main, NULL);
  for (int i = 0; i < BAR_THREADS; i++) pthread_join(t[i], NULL);
  int once = 1;
  for (int r = 0; r < BAR_ROUNDS; r++)
    if (g_serial[r] != 1) once = 0;
  CHECK(once, "barrier: PTHREAD_BARRIER_SERIAL_THREAD exactly once in each of 20 rounds", "no");
  EXPECT_RC("barrier_destroy", pthread_barrier_destroy(&g_bar), 0);
  pthread_barrier_t one;
  pthread_barrier_init(&one, NULL, 1);
  EXPECT_RC("barrier of 1: wait returns SERIAL_THREAD", pthread_barrier_wait(&one) == PTHREAD_BARRIER_SERIAL_THREAD ? 0 : 1, 0);
  pthread_barrier_destroy(&one);
}

/* ---- spinlocks ---- */

static pthread_spinlock_t g_spin;
static long g_spin_count;
static void* spin_main(void* p) {
  (void)p;
  for (int i = 0; i < 5000; i++) {
    pthread_spin_lock(&g_spin);
    g_spin_count++;
    pthread_spin_unlock(&g_spin);
    if (i % 500 == 0) sched_yield();
  }
  return NULL;
}

static void* spin_try(void* p) { return (void*)(intptr_t)pthread_spin_trylock((pthread_spinlock_t*)p); }

static void check_spinlocks(void) {
  EXPECT_RC("spin_init", pthread_spin_init(&g_spin, PTHREAD_PROCESS_PRIVATE), 0);
  EXPECT_RC("spin_lock", pthread_spin_lock(&g_spin), 0);
  EXPECT_RC("spin_trylock while held: EBUSY", pthread_spin_trylock(&g_spin), EBUSY);
  EXPECT_RC("spin_trylock from another thread while held: EBUSY", in_thread(spin_try, (void*)&g_spin), EBUSY);
  EXPECT_RC("spin_unlock", pthread_spin_unlock(&g_spin), 0);
  EXPECT_RC("spin_trylock when free", pthread_spin_trylock(&g_spin), 0);
  pthread_spin_unlock(&g_spin);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, spin_main, NULL);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  printf("spinlock: 4 threads x 5000 = %ld\n", g_spin_count);
  /* a holder that sleeps while another thread spins for the lock */
  struct holder h = {slock, sunlock, (void*)&g_spin};
  pthread_t ht;
  start_holder(&h, &ht);
  gate_open(&h.release, 1);
  EXPECT_RC("spin_lock waits for a holder that is not running", pthread_spin_lock(&g_spin), 0);
  pthread_spin_unlock(&g_spin);
  pthread_join(ht, NULL);
  gate_close(&h.held);
  gate_close(&h.release);
  EXPECT_RC("spin_destroy", pthread_spin_destroy(&g_spin), 0);
}

/* ---- semaphores ---- */

static sem_t g_items, g_spaces;
static int g_ring[4];

static void* sem_consumer(void* p) {
  long sum = 0;
  for (int i = 0; i < 400; i++) {
    while (sem_wait(&g_items) != 0) {
    }
    sum += g_ring[i % 4];
    sem_post(&g_spaces);
  }
  *(long*)p = sum;
  return NULL;
}

static void* sem_poster(void* p) {
  usleep(20000);
  sem_post((sem_t*)p);
  return NULL;
}

static void check_semaphores(void) {
  sem_t s;
  EXPECT_RC("sem_init 0", sem_init(&s, 0, 0), 0);
  EXPECT_ERR("sem_trywait at 0: EAGAIN", sem_trywait(&s), EAGAIN);
  struct timespec dl = abs_in(CLOCK_REALTIME, 40 * MS);
  EXPECT_ERR("sem_timedwait +40ms at 0: ETIMEDOUT", sem_timedwait(&s, &dl), ETIMEDOUT);
  CHECK(now_ns(CLOCK_REALTIME) >= ts_ns(&dl), "sem_timedwait did not time out early", "early");
  dl = abs_in(CLOCK_MONOTONIC, 30 * MS);
  EXPECT_ERR("sem_clockwait MONOTONIC +30ms at 0: ETIMEDOUT", sem_clockwait(&s, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
  CHECK(now_ns(CLOCK_MONOTONIC) >= ts_ns(&dl), "sem_clockwait did not time out early", "early");
  struct timespec bad = {0, 1000000000};
  EXPECT_ERR("sem_timedwait tv_nsec=1e9 at 0: EINVAL", sem_timedwait(&s, &bad), EINVAL);
  EXPECT_RC("sem_post", sem_post(&s), 0);
  EXPECT_RC("sem_post", sem_post(&s), 0);
  int v = -1;
  sem_getvalue(&s, &v);
  printf("sem_getvalue after 2 posts: %d\n", v);
  EXPECT_RC("sem_trywait at 2", sem_trywait(&s), 0);
  EXPECT_ERR("sem_timedwait tv_nsec=1e9 at 1: EINVAL (checked first)", sem_timedwait(&s, &bad), EINVAL);
  EXPECT_RC("sem_wait at 1", sem_wait(&s), 0);
  sem_getvalue(&s, &v);
  printf("sem_getvalue: %d\n", v);
  /* a wait woken by a post from another thread */
  pthread_t t;
  pthread_create(&t, NULL, sem_poster, &s);
  EXPECT_RC("sem_wait woken by another thread's post", sem_wait(&s), 0);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, sem_poster, &s);
  dl = abs_in(CLOCK_REALTIME, 10000 * MS);
  EXPECT_RC("sem_timedwait woken in time by a post", sem_timedwait(&s, &dl), 0);
  pthread_join(t, NULL);
  EXPECT_RC("sem_destroy", sem_destroy(&s), 0);
  EXPECT_ERR("sem_init above SEM_VALUE_MAX: EINVAL", sem_init(&s, 0, (unsigned)SEM_VALUE_MAX + 1u), EINVAL);

  /* bounded buffer */
  sem_init(&g_items, 0, 0);
  sem_init(&g_spaces, 0, 4);
  long sum = 0;
  pthread_create(&t, NULL, sem_consumer, &sum);
  for (int i = 0; i < 400; i++) {
    while (sem_wait(&g_spaces) != 0) {
    }
    g_ring[i % 4] = i;
    sem_post(&g_items);
  }
  pthread_join(t, NULL);
  printf("semaphore bounded buffer: sum of 0..399 = %ld\n", sum);
  sem_destroy(&g_items);
  sem_destroy(&g_spaces);
}

/* ---- pthread_once ---- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_once_runs, g_once_done;

static void once_init(void) {
  g_once_runs++;
  usleep(30000); /* the other callers must wait for this to finish */
  g_once_done = 1;
}

static void* once_main(void* p) {
  (void)p;
  pthread_once(&g_once, once_init);
  return (void*)(intptr_t)g_once_done;
}

static void check_once(void) {
  pthread_t t[8];
  for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, once_main, NULL);
  int saw_done = 0;
  for (int i = 0; i < 8; i++) {
    void* v;
    pthread_join(t[i], &v);
    saw_done += (int)(intptr_t)v;
  }
  printf("pthread_once: init ran %d time(s); %d of 8 callers returned after it finished\n",
         g_once_runs, saw_done);
  EXPECT_RC("pthread_once again", pthread_once(&g_once, once_init), 0);
  printf("pthread_once: init ran %d time(s)\n", g_once_runs);
}

int main(void) {
  test_start();
  check_mutexes();
  check_conds();
  check_rwlocks();
  check_barriers();
  check_spinlocks();
  check_semaphores();
  check_once();
  return test_end();
}
