// SPDX-License-Identifier: MIT
/* Threads: create/join/detach, self/equal, tryjoin/timedjoin/clockjoin,
 * joining oneself, thread-specific data with destructors, names, stack size
 * from the attributes, pthread_exit values and cleanup handlers. */
#include "common.h"

#include <limits.h>
#include <pthread.h>

/* ---- create, join, exit values, self, equal ---- */

static pthread_t g_seen_self[4];

static void* return_arg(void* p) {
  int i = (int)(intptr_t)p;
  g_seen_self[i] = pthread_self();
  return (void*)(intptr_t)(i * 10 + 1);
}

static void deep_exit(int depth, intptr_t v) {
  if (depth > 0) deep_exit(depth - 1, v + 1);
  pthread_exit((void*)(v + 1000 * depth));
}

static void* exit_deep(void* p) {
  deep_exit(5, (intptr_t)p);
  return NULL; /* not reached */
}

static void check_create_join(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    EXPECT_RC("pthread_create", pthread_create(&t[i], NULL, return_arg, (void*)(intptr_t)i), 0);
  for (int i = 0; i < 4; i++) {
    void* v = NULL;
    int rc = pthread_join(t[i], &v);
    printf("join %d: rc=%s value=%ld\n", i, errname(rc), (long)(intptr_t)v);
    CHECK(pthread_equal(g_seen_self[i], t[i]), "pthread_self() in the thread equals its handle",
          "differs");
    CHECK(!pthread_equal(t[i], pthread_self()), "a thread's handle differs from main's", "equal");
  }
  CHECK(pthread_equal(pthread_self(), pthread_self()), "pthread_equal(self, self)", "not equal");
  pthread_t e;
  pthread_create(&e, NULL, exit_deep, (void*)100);
  void* v = NULL;
  EXPECT_RC("join a thread that called pthread_exit 5 frames deep", pthread_join(e, &v), 0);
  printf("pthread_exit value: %ld\n", (long)(intptr_t)v);
  /* join without a result pointer */
  pthread_create(&e, NULL, return_arg, (void*)0);
  EXPECT_RC("join with NULL result pointer", pthread_join(e, NULL), 0);
}

/* ---- threads creating and joining threads ---- */

static void* leaf(void* p) { return (void*)((intptr_t)p * 2); }

static void* creator(void* p) {
  intptr_t n = (intptr_t)p;
  pthread_t kids[5];
  for (int i = 0; i < 5; i++) pthread_create(&kids[i], NULL, leaf, (void*)(n + i));
  intptr_t sum = 0;
  for (int i = 0; i < 5; i++) {
    void* v;
    pthread_join(kids[i], &v);
    sum += (intptr_t)v;
  }
  return (void*)sum;
}

static pthread_t g_sibling;
static void* join_sibling(void* p) {
  (void)p;
  void* v = NULL;
  int rc = pthread_join(g_sibling, &v);
  return (void*)(intptr_t)(rc == 0 ? (intptr_t)v : -1);
}

static void check_nested(void) {
  pthread_t t[3];
  for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, creator, (void*)(intptr_t)(i * 100));
  for (int i = 0; i < 3; i++) {
    void* v;
    pthread_join(t[i], &v);
    printf("creator %d: sum of its 5 children = %ld\n", i, (long)(intptr_t)v);
  }
  /* a thread joined by a thread other than its creator */
  pthread_t j;
  pthread_create(&g_sibling, NULL, leaf, (void*)21);
  pthread_create(&j, NULL, join_sibling, NULL);
  void* v;
  pthread_join(j, &v);
  printf("joined by a sibling: %ld\n", (long)(intptr_t)v);
}

/* ---- detach ---- */

static int g_detach_pipe[2];

static void* detached_main(void* p) {
  char c = (char)(intptr_t)p;
  if (write(g_detach_pipe[1], &c, 1) != 1) g_failures++;
  return NULL;
}

static struct gate g_hold;

static void* held(void* p) {
  gate_wait(&g_hold);
  return p;
}

/* held, for detached threads: says when it has passed the gate */
static void* held_report(void* p) {
  gate_wait(&g_hold);
  if (write(g_detach_pipe[1], "h", 1) != 1) g_failures++;
  return p;
}

static void check_detach(void) {
  if (pipe(g_detach_pipe) != 0) exit(2);
  pthread_attr_t a;
  pthread_attr_init(&a);
  EXPECT_RC("pthread_attr_setdetachstate DETACHED", pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED), 0);
  int st = -1;
  pthread_attr_getdetachstate(&a, &st);
  CHECK(st == PTHREAD_CREATE_DETACHED, "pthread_attr_getdetachstate", "%d", st);
  int created = 0;
  for (int i = 0; i < 100; i++) {
    pthread_t t;
    if (pthread_create(&t, &a, detached_main, (void*)(intptr_t)'d') == 0) created++;
  }
  pthread_attr_destroy(&a);
  /* and 100 joinable ones detached after creation */
  gate_init(&g_hold);
  for (int i = 0; i < 100; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, detached_main, (void*)(intptr_t)'j') == 0) {
      created++;
      if (pthread_detach(t) != 0) g_failures++;
    }
  }
  char buf[200];
  ssize_t got = read_full(g_detach_pipe[0], buf, 200);
  int d = 0, j = 0;
  for (ssize_t i = 0; i < got; i++) {
    if (buf[i] == 'd') d++;
    if (buf[i] == 'j') j++;
  }
  printf("detached threads: created %d, ran %d created-detached and %d detached-later\n", created,
         d, j);

  /* detach a running thread, then let it finish */
  pthread_t h;
  pthread_create(&h, NULL, held_report, NULL);
  EXPECT_RC("pthread_detach of a running thread", pthread_detach(h), 0);
  gate_open(&g_hold, 1);
  /* detaching twice (the gate g_hold also releases it; the earlier thread
     has taken its byte by then or takes this one: either way both go) */
  pthread_create(&h, NULL, held_report, NULL);
  EXPECT_RC("pthread_detach", pthread_detach(h), 0);
  EXPECT_RC("pthread_detach again while it runs: EINVAL", pthread_detach(h), EINVAL);
  gate_open(&g_hold, 1);
  /* detach a thread that has already finished (its result is dropped) */
  pthread_t f;
  pthread_create(&f, NULL, detached_main, (void*)(intptr_t)'f');
  /* 'f' from it and 'h' from each of the two held threads, in any order */
  char c3[3];
  if (read_full(g_detach_pipe[0], c3, 3) != 3) g_failures++;
  usleep(10000);
  EXPECT_RC("pthread_detach of a finished thread", pthread_detach(f), 0);
  close(g_detach_pipe[0]);
  close(g_detach_pipe[1]);
}

/* ---- tryjoin, timedjoin, clockjoin, join self ---- */

static void* join_self(void* p) {
  (void)p;
  return (void*)(intptr_t)pthread_join(pthread_self(), NULL);
}

static void check_join_variants(void) {
  gate_close(&g_hold);
  gate_init(&g_hold);
  pthread_t t;
  pthread_create(&t, NULL, held, (void*)7);
  tasks_sample();
  void* v = NULL;
  EXPECT_RC("pthread_tryjoin_np on a running thread: EBUSY", pthread_tryjoin_np(t, &v), EBUSY);

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += 50000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  int64_t target = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  EXPECT_RC("pthread_timedjoin_np 50ms on a running thread: ETIMEDOUT", pthread_timedjoin_np(t, &v, &ts), ETIMEDOUT);
  CHECK(now_ns(CLOCK_REALTIME) >= target, "pthread_timedjoin_np did not time out early", "early");

  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_nsec += 30000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  target = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  EXPECT_RC("pthread_clockjoin_np MONOTONIC 30ms: ETIMEDOUT", pthread_clockjoin_np(t, &v, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
  CHECK(now_ns(CLOCK_MONOTONIC) >= target, "pthread_clockjoin_np did not time out early", "early");

  struct timespec past = {1, 0};
  EXPECT_RC("pthread_timedjoin_np with a past deadline: ETIMEDOUT", pthread_timedjoin_np(t, &v, &past), ETIMEDOUT);
  /* (glibc 2.36 spins forever on tv_nsec >= 1e9 here, so that is not tested) */

  gate_open(&g_hold, 1);
  /* now it finishes: the timed join succeeds */
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 30;
  EXPECT_RC("pthread_timedjoin_np on a finishing thread", pthread_timedjoin_np(t, &v, &ts), 0);
  printf("timedjoin value: %ld\n", (long)(intptr_t)v);

  pthread_create(&t, NULL, held, (void*)8);
  gate_open(&g_hold, 1);
  int rc;
  int tries = 0;
  while ((rc = pthread_tryjoin_np(t, &v)) == EBUSY && tries++ < 10000) usleep(1000);
  CHECK(rc == 0 && v == (void*)8, "pthread_tryjoin_np on a finished thread", "rc=%s", errname(rc));

  EXPECT_RC("pthread_join(pthread_self()) in main: EDEADLK", pthread_join(pthread_self(), NULL), EDEADLK);
  pthread_create(&t, NULL, join_self, NULL);
  pthread_join(t, &v);
  printf("pthread_join(pthread_self()) in a thread: %s\n", errname((int)(intptr_t)v));
}

/* ---- thread-specific data ---- */

#define KEY_THREADS 6
static pthread_key_t g_k1, g_k2;
static char g_dlog[KEY_THREADS][128];
static int g_dtor_calls;

static int idx_of(void* v) { return (int)((intptr_t)v % 100); }

static void log_dtor(const char* what, void* v) {
  int i = idx_of(v);
  if (i < 0 || i >= KEY_THREADS) return;
  size_t n = strlen(g_dlog[i]);
  snprintf(g_dlog[i] + n, sizeof g_dlog[i] - n, "%s(%ld)%s ", what, (long)(intptr_t)v,
           pthread_getspecific(g_k1) == NULL ? "" : "!k1-still-set");
}

static void dtor1(void* v) {
  __atomic_add_fetch(&g_dtor_calls, 1, __ATOMIC_SEQ_CST);
  log_dtor("k1", v);
  /* the first time, set a new value: the destructors run again */
  if ((intptr_t)v < 1000) pthread_setspecific(g_k1, (void*)((intptr_t)v + 1000));
}

static void dtor2(void* v) {
  __atomic_add_fetch(&g_dtor_calls, 1, __ATOMIC_SEQ_CST);
  log_dtor("k2", v);
}

static void* key_user(void* p) {
  intptr_t i = (intptr_t)p;
  if (pthread_getspecific(g_k1) != NULL || pthread_getspecific(g_k2) != NULL) g_failures++;
  pthread_setspecific(g_k1, (void*)(100 + i));
  if (i % 3 != 2) pthread_setspecific(g_k2, (void*)(200 + i)); /* some leave k2 NULL */
  usleep(1000);                                                  /* others run meanwhile */
  if (pthread_getspecific(g_k1) != (void*)(100 + i)) g_failures++;
  if (i % 2) pthread_exit(NULL); /* destructors run on pthread_exit too */
  return NULL;
}

static pthread_key_t g_kd, g_kstubborn;
static int g_stubborn_calls;
static void stubborn_dtor(void* v) {
  g_stubborn_calls++;
  pthread_setspecific(g_kstubborn, v);
}
static void* set_stubborn(void* p) {
  pthread_setspecific(g_kstubborn, (void*)1);
  return p;
}
static void* set_and_hold(void* p) {
  pthread_setspecific(g_kd, (void*)(intptr_t)(300 + 0));
  gate_wait(&g_hold);
  return p;
}

static void check_keys(void) {
  EXPECT_RC("pthread_key_create k1", pthread_key_create(&g_k1, dtor1), 0);
  EXPECT_RC("pthread_key_create k2", pthread_key_create(&g_k2, dtor2), 0);
  pthread_setspecific(g_k1, (void*)99); /* main's own value: never destroyed */
  pthread_t t[KEY_THREADS];
  for (intptr_t i = 0; i < KEY_THREADS; i++) pthread_create(&t[i], NULL, key_user, (void*)i);
  for (int i = 0; i < KEY_THREADS; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < KEY_THREADS; i++) printf("thread %d destructors: %s\n", i, g_dlog[i]);
  printf("destructor calls: %d\n", g_dtor_calls);
  CHECK(pthread_getspecific(g_k1) == (void*)99, "main's value unaffected", "%p",
        pthread_getspecific(g_k1));

  /* a key deleted while a thread holds a value: no destructor call */
  pthread_key_t kd;
  pthread_key_create(&kd, dtor2);
  int before = g_dtor_calls;
  gate_close(&g_hold);
  gate_init(&g_hold);
  g_kd = kd;
  pthread_t th;
  pthread_create(&th, NULL, set_and_hold, NULL);
  usleep(10000);
  EXPECT_RC("pthread_key_delete while a thread has a value", pthread_key_delete(kd), 0);
  gate_open(&g_hold, 1);
  pthread_join(th, NULL);
  printf("destructor calls for the deleted key: %d\n", g_dtor_calls - before);

  /* a destructor that always sets a new value: called a bounded number of
     times (PTHREAD_DESTRUCTOR_ITERATIONS rounds) */
  pthread_key_create(&g_kstubborn, stubborn_dtor);
  pthread_create(&th, NULL, set_stubborn, NULL);
  pthread_join(th, NULL);
  printf("a destructor that always re-sets its value ran %d times (PTHREAD_DESTRUCTOR_ITERATIONS %d)\n",
         g_stubborn_calls, PTHREAD_DESTRUCTOR_ITERATIONS);
  pthread_key_delete(g_kstubborn);

  /* delete, reuse */
  EXPECT_RC("pthread_key_delete k2", pthread_key_delete(g_k2), 0);
  EXPECT_RC("pthread_key_delete k2 again: EINVAL", pthread_key_delete(g_k2), EINVAL);
  EXPECT_RC("pthread_setspecific on a deleted key: EINVAL", pthread_setspecific(g_k2, (void*)1), EINVAL);
  pthread_key_t k3;
  EXPECT_RC("pthread_key_create k3", pthread_key_create(&k3, NULL), 0);
  CHECK(pthread_getspecific(k3) == NULL, "a new key starts NULL (even in a reused slot)", "%p",
        pthread_getspecific(k3));
  EXPECT_RC("pthread_setspecific k3", pthread_setspecific(k3, (void*)3), 0);
  CHECK(pthread_getspecific(k3) == (void*)3, "pthread_getspecific k3", "%p", pthread_getspecific(k3));
  pthread_key_delete(k3);
  pthread_key_delete(g_k1);

  /* running out of keys */
  static pthread_key_t many[PTHREAD_KEYS_MAX + 10];
  int n = 0, rc = 0;
  while (n < PTHREAD_KEYS_MAX + 10 && (rc = pthread_key_create(&many[n], NULL)) == 0) n++;
  CHECK(rc == EAGAIN && n > PTHREAD_KEYS_MAX - 16, "pthread_key_create runs out with EAGAIN",
        "n=%d rc=%s", n, errname(rc));
  for (int i = 0; i < n; i++) pthread_key_delete(many[i]);
  pthread_key_t again;
  EXPECT_RC("pthread_key_create after deleting them", pthread_key_create(&again, NULL), 0);
  pthread_key_delete(again);
}

/* ---- names ---- */

static void* name_self(void* p) {
  (void)p;
  char buf[32] = "";
  int rc1 = pthread_setname_np(pthread_self(), "self-named");
  int rc2 = pthread_getname_np(pthread_self(), buf, sizeof buf);
  printf("thread names itself: set %s, get %s \"%s\"\n", errname(rc1), errname(rc2), buf);
  gate_wait(&g_hold);
  return NULL;
}

static void check_names(void) {
  gate_close(&g_hold);
  gate_init(&g_hold);
  pthread_t t, u;
  pthread_create(&t, NULL, held, NULL);
  char buf[32] = "";
  int rc = pthread_getname_np(t, buf, sizeof buf);
  printf("name of a new thread: %s \"%s\"\n", errname(rc), buf);
  EXPECT_RC("pthread_setname_np worker-1", pthread_setname_np(t, "worker-1"), 0);
  memset(buf, 0, sizeof buf);
  rc = pthread_getname_np(t, buf, sizeof buf);
  printf("after setname: %s \"%s\"\n", errname(rc), buf);
  EXPECT_RC("pthread_setname_np with 15 characters", pthread_setname_np(t, "fifteen-chars-x"), 0);
  rc = pthread_getname_np(t, buf, 16);
  printf("15 characters: %s \"%s\"\n", errname(rc), buf);
  EXPECT_RC("pthread_setname_np with 16 characters: ERANGE", pthread_setname_np(t, "sixteen-chars-xx"), ERANGE);
  EXPECT_RC("pthread_getname_np into 8 bytes: ERANGE", pthread_getname_np(t, buf, 8), ERANGE);
  pthread_setname_np(t, "ab");
  EXPECT_RC("pthread_getname_np of a short name into 8 bytes: ERANGE", pthread_getname_np(t, buf, 8), ERANGE);
  pthread_create(&u, NULL, name_self, NULL);
  usleep(20000);
  gate_open(&g_hold, 2);
  pthread_join(t, NULL);
  pthread_join(u, NULL);
}

/* ---- stack size ---- */

static int use_stack(int depth) {
  volatile char block[64 * 1024];
  for (size_t i = 0; i < sizeof block; i += 512) block[i] = (char)(depth + (int)i);
  int below = depth > 0 ? use_stack(depth - 1) : 0;
  return below + block[depth * 512 % sizeof block];
}

static int g_big_stack_result, g_big_stack_ok;

static void* big_stack_user(void* p) {
  (void)p;
  int r = use_stack(16); /* ~1.06 MiB of frames */
  pthread_attr_t a;
  size_t size = 0;
  void* addr = NULL;
  int ok = 0;
  if (pthread_getattr_np(pthread_self(), &a) == 0) {
    pthread_attr_getstack(&a, &addr, &size);
    char here;
    ok = (char*)addr <= &here && &here < (char*)addr + size && size >= (2u << 20) - 65536;
    pthread_attr_destroy(&a);
  }
  /* printed by the creator after the join: the output order is then fixed */
  g_big_stack_result = r;
  g_big_stack_ok = ok;
  return NULL;
}

static void check_stack(void) {
  pthread_attr_t a;
  pthread_attr_init(&a);
  EXPECT_RC("pthread_attr_setstacksize 2 MiB", pthread_attr_setstacksize(&a, 2u << 20), 0);
  size_t s = 0;
  pthread_attr_getstacksize(&a, &s);
  printf("pthread_attr_getstacksize: %zu\n", s);
  EXPECT_RC("pthread_attr_setstacksize below PTHREAD_STACK_MIN: EINVAL", pthread_attr_setstacksize(&a, 1024), EINVAL);
  pthread_t t;
  EXPECT_RC("pthread_create with a 2 MiB stack", pthread_create(&t, &a, big_stack_user, NULL), 0);
  pthread_join(t, NULL);
  printf("thread with a 2 MiB stack used ~1 MiB: result %d; pthread_getattr_np stack %s\n",
         g_big_stack_result, g_big_stack_ok ? "contains it" : "WRONG");
  if (!g_big_stack_ok) g_failures++;
  pthread_attr_destroy(&a);
}

/* ---- cleanup handlers on pthread_exit ---- */

static char g_cleanup_log[128];

static void cleanup(void* p) {
  size_t n = strlen(g_cleanup_log);
  snprintf(g_cleanup_log + n, sizeof g_cleanup_log - n, "%s ", (const char*)p);
}

static void* with_cleanup(void* p) {
  pthread_cleanup_push(cleanup, "outer");
  pthread_cleanup_push(cleanup, "inner");
  pthread_cleanup_push(cleanup, "popped-and-run");
  pthread_cleanup_pop(1);
  if (p) pthread_exit((void*)5);
  pthread_cleanup_pop(0);
  pthread_cleanup_pop(0);
  return (void*)6;
}

static void check_cleanup(void) {
  pthread_t t;
  void* v;
  pthread_create(&t, NULL, with_cleanup, NULL);
  pthread_join(t, &v);
  printf("cleanup, normal return %ld: %s\n", (long)(intptr_t)v, g_cleanup_log);
  g_cleanup_log[0] = 0;
  pthread_create(&t, NULL, with_cleanup, (void*)1);
  pthread_join(t, &v);
  printf("cleanup, pthread_exit %ld: %s\n", (long)(intptr_t)v, g_cleanup_log);
}

/* ---- misc ---- */

static void check_misc(void) {
  gate_close(&g_hold);
  gate_init(&g_hold);
  pthread_t t;
  pthread_create(&t, NULL, held, NULL);
  EXPECT_RC("pthread_kill(thread, 0) on a live thread", pthread_kill(t, 0), 0);
  pthread_attr_t a;
  EXPECT_RC("pthread_getattr_np on another thread", pthread_getattr_np(t, &a), 0);
  int ds = -1;
  pthread_attr_getdetachstate(&a, &ds);
  printf("its detach state: %s\n", ds == PTHREAD_CREATE_JOINABLE ? "joinable" : "detached");
  pthread_attr_destroy(&a);
  gate_open(&g_hold, 1);
  pthread_join(t, NULL);
  EXPECT_RC("pthread_attr_init", pthread_attr_init(&a), 0);
  int scope = -1;
  pthread_attr_getscope(&a, &scope);
  printf("default scope: %s\n", scope == PTHREAD_SCOPE_SYSTEM ? "system" : "process");
  pthread_attr_destroy(&a);
}

int main(void) {
  test_start();
  check_create_join();
  check_nested();
  check_detach();
  check_join_variants();
  check_keys();
  check_names();
  check_stack();
  check_cleanup();
  check_misc();
  return test_end();
}
