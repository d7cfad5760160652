// SPDX-License-Identifier: MIT
// C11 threads (<threads.h>): thrd_create/thrd_join with result values,
// _Thread_local and tss_create/tss_set/tss_get per thread across parks (a
// read of a pipe written by the previous thread of a ring), tss destructors at thread exit
// (before thrd_join returns, also for thrd_exit), call_once run exactly once
// by racing threads. Then the same tss key used from pthread_create'd
// threads: its destructor runs at their exit too.
#include "common.h"

#include <pthread.h>
#include <threads.h>

#define N 16

static _Thread_local int t_local = 41;
static tss_t g_tss;
static once_flag g_once = ONCE_FLAG_INIT;
static int g_once_runs;
static int g_pipes[N][2];  // thread i reads g_pipes[i], writes g_pipes[(i+1)%N]
static int g_ready[2];
static struct gate g_go;

// Each thread's tss value: its slot here. The destructor marks it.
struct slot {
  int index;
  int dtor_runs;
  int dtor_saw_tls;  // t_local seen by the destructor (still the thread's)
};
static struct slot g_slots[2 * N];

static void tss_dtor(void* v) {
  struct slot* s = (struct slot*)v;
  s->dtor_runs++;
  s->dtor_saw_tls = t_local;
}

static void once_fn(void) {
  g_once_runs++;
  usleep(1000);  // the others wait in call_once meanwhile
}

static int ok[2 * N];

static int body(int i, int via_pthread) {
  struct slot* s = &g_slots[i];
  s->index = i;
  if (t_local != 41 || tss_get(g_tss) != NULL) ok[i] = -1;
  t_local = 41 + i;
  if (tss_set(g_tss, s) != thrd_success) ok[i] = -2;
  char c = 'r';
  if (write(g_ready[1], &c, 1) != 1) g_failures++;
  gate_wait(&g_go);
  call_once(&g_once, once_fn);
  int k = via_pthread ? i - N : i;
  for (int round = 0; round < 10; round++) {
    unsigned char out = (unsigned char)(k + round), in;
    if (write(g_pipes[(k + 1) % N][1], &out, 1) != 1) ok[i] = -3;
    if (read(g_pipes[k][0], &in, 1) != 1 || in != (unsigned char)((k + N - 1) % N + round)) ok[i] = -4;
    if (t_local != 41 + i + round || tss_get(g_tss) != s) ok[i] = -5;
    t_local++;
    usleep(100);
  }
  if (ok[i] == 0) ok[i] = 1;
  return 100 + i;
}

static int c11_main(void* arg) {
  int i = (int)(intptr_t)arg;
  int r = body(i, 0);
  if (i % 2) thrd_exit(r);
  return r;
}

static void* pthread_main(void* arg) { return (void*)(intptr_t)body((int)(intptr_t)arg, 1); }

static void setup(void) {
  for (int i = 0; i < N; i++)
    if (pipe(g_pipes[i]) != 0) exit(2);
  gate_init(&g_go);
}

static void wait_ready(int n) {
  for (int i = 0; i < n; i++) {
    char c;
    if (read(g_ready[0], &c, 1) != 1) g_failures++;
  }
}

int main(void) {
  test_start();
  if (pipe(g_ready) != 0) return 2;
  EXPECT_RC("tss_create", tss_create(&g_tss, tss_dtor), thrd_success);

  // 1. C11 threads.
  setup();
  thrd_t t[N];
  for (int i = 0; i < N; i++)
    if (thrd_create(&t[i], c11_main, (void*)(intptr_t)i) != thrd_success) return 2;
  wait_ready(N);
  tasks_sample();
  gate_open(&g_go, N);
  int joined = 0, good = 0, dtors = 0;
  for (int i = 0; i < N; i++) {
    int res = -1;
    if (thrd_join(t[i], &res) == thrd_success && res == 100 + i) joined++;
    good += ok[i] == 1;
    dtors += g_slots[i].dtor_runs == 1 && g_slots[i].dtor_saw_tls == 41 + i + 10;
  }
  CHECK(joined == N, "thrd_join values (return and thrd_exit)", "%d of %d", joined, N);
  CHECK(good == N, "_Thread_local and tss_get per thread across parks", "%d of %d", good, N);
  CHECK(dtors == N, "tss destructor once per thread, before thrd_join returns", "%d of %d", dtors, N);
  CHECK(g_once_runs == 1, "call_once ran once", "%d", g_once_runs);
  CHECK(t_local == 41 && tss_get(g_tss) == NULL, "main's _Thread_local and tss untouched", "%d",
        t_local);

  // 2. The tss key from pthread_create'd threads.
  gate_close(&g_go);
  setup();
  pthread_t pt[N];
  for (int i = 0; i < N; i++)
    if (pthread_create(&pt[i], NULL, pthread_main, (void*)(intptr_t)(N + i)) != 0) return 2;
  wait_ready(N);
  tasks_sample();
  gate_open(&g_go, N);
  joined = good = dtors = 0;
  for (int i = N; i < 2 * N; i++) {
    void* res = NULL;
    if (pthread_join(pt[i - N], &res) == 0 && res == (void*)(intptr_t)(100 + i)) joined++;
    good += ok[i] == 1;
    dtors += g_slots[i].dtor_runs == 1 && g_slots[i].dtor_saw_tls == 41 + i + 10;
  }
  CHECK(joined == N, "pthreads: join values", "%d of %d", joined, N);
  CHECK(good == N, "pthreads: _Thread_local and tss_get per thread across parks", "%d of %d", good, N);
  CHECK(dtors == N, "pthreads: tss destructor once per thread, before pthread_join returns",
        "%d of %d", dtors, N);
  tss_delete(g_tss);
  return test_end();
}
