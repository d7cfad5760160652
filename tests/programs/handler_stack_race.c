// SPDX-License-Identifier: MIT
/* Signals that land while a carrier switches between threads: each handler
 * runs on the stack of the thread it runs as (pthread_self), main included.
 * Boehm GC's suspend handler records the address of a local as the thread's
 * stack pointer and the collector scans from there to the thread's stack
 * base: a handler run as one thread on another's stack made libgc crash in
 * its marker now and then. Six threads (main among them, each blocking one
 * of two signals) pass a token round a ring of pipes, so that the carriers
 * switch all the time, while a seventh signals them all for a second. */
#include "common.h"

#include <stdatomic.h>

enum { kRing = 6, kMain = kRing - 1 };
static pthread_t g_tids[kRing];
static char *g_lo[kRing], *g_hi[kRing];
static int g_pipes[kRing][2];
static atomic_int g_ready, g_stop;
static atomic_long g_handled, g_off_stack;

static void on_signal(int sig) {
  (void)sig;
  char here;
  pthread_t me = pthread_self();
  for (int i = 0; i < kRing; i++) {
    if (!pthread_equal(me, g_tids[i])) continue;
    if (&here < g_lo[i] || &here >= g_hi[i]) atomic_fetch_add(&g_off_stack, 1);
    atomic_fetch_add(&g_handled, 1);
    return;
  }
}

static void pass_token(int i) {
  char c = 0;
  int next = (i + 1) % kRing;
  while (!atomic_load(&g_stop)) {
    if (read(g_pipes[i][0], &c, 1) != 1) continue;
    (void)!write(g_pipes[next][1], &c, 1);
  }
  (void)!write(g_pipes[next][1], &c, 1);
}

static void* ring_member(void* arg) {
  int i = (int)(long)arg;
  thread_stack(pthread_self(), &g_lo[i], &g_hi[i]);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, (i & 1) ? SIGUSR1 : SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  atomic_fetch_add(&g_ready, 1);
  pass_token(i);
  return NULL;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void* sender(void* arg) {
  (void)arg;
  long sent = 0;
  double end = now() + 1.0;
  while (now() < end) {
    for (int i = 0; i < kRing; i++, sent++) pthread_kill(g_tids[i], (i & 1) ? SIGUSR2 : SIGUSR1);
    usleep(20);
  }
  atomic_store(&g_stop, 1);
  char c = 0;
  for (int i = 0; i < kRing; i++) (void)!write(g_pipes[i][1], &c, 1);
  return (void*)sent;
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  for (int i = 0; i < kRing; i++)
    if (pipe(g_pipes[i]) != 0) return 2;
  g_tids[kMain] = pthread_self();
  thread_stack(pthread_self(), &g_lo[kMain], &g_hi[kMain]);
  for (long i = 0; i < kMain; i++) pthread_create(&g_tids[i], NULL, ring_member, (void*)i);
  while (atomic_load(&g_ready) < kMain) usleep(1000);
  pthread_t s;
  pthread_create(&s, NULL, sender, NULL);
  (void)!write(g_pipes[0][1], "x", 1);
  pass_token(kMain);
  void* sent;
  pthread_join(s, &sent);
  for (int i = 0; i < kMain; i++) pthread_join(g_tids[i], NULL);
  CHECK(atomic_load(&g_handled) > 0, "handlers ran", "none of %ld", (long)sent);
  CHECK(atomic_load(&g_off_stack) == 0, "every handler ran on its own thread's stack",
        "%ld of %ld did not", atomic_load(&g_off_stack), atomic_load(&g_handled));
  return g_failures ? 1 : 0;
}
