// SPDX-License-Identifier: MIT
/* Signals and thread identity: a handler for a signal sent with pthread_kill
 * runs in the target thread (pthread_self() names it), signal masks are per
 * thread (pthread_sigmask in one thread does not change another's), a
 * signal sent to a thread that blocks it stays pending for that thread, and
 * sigwait in one thread returns when another sends it the signal. */
#include "common.h"

#include <pthread.h>

static pthread_t g_handler_self;
static volatile sig_atomic_t g_hits;
static void on_sig(int sig) {
  (void)sig;
  g_handler_self = pthread_self();
  g_hits++;
}

static struct gate g_go, g_done;

/* Blocks in read() on a gate until released. */
static void* sleeper(void* p) {
  (void)p;
  gate_wait(&g_go);
  return NULL;
}

static void* blocks_usr2(void* p) {
  (void)p;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR2);
  int rc = pthread_sigmask(SIG_BLOCK, &s, NULL);
  printf("thread A blocks SIGUSR2: %s\n", errname(rc));
  gate_open(&g_done, 1); /* A's mask is set */
  gate_wait(&g_go);      /* B looks at its own mask meanwhile; main signals A */
  sigset_t pend;
  sigpending(&pend);
  printf("thread A: SIGUSR2 pending for it: %s, handler ran: %d\n",
         sigismember(&pend, SIGUSR2) ? "yes" : "no", (int)g_hits);
  pthread_sigmask(SIG_UNBLOCK, &s, NULL); /* the handler runs now, in A */
  printf("thread A unblocked it: handler ran %d time(s), in A: %s\n", (int)g_hits,
         pthread_equal(g_handler_self, pthread_self()) ? "yes" : "no");
  return NULL;
}

static void* looks_at_mask(void* p) {
  (void)p;
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, NULL, &cur);
  printf("thread B: SIGUSR2 blocked in B: %s\n", sigismember(&cur, SIGUSR2) ? "yes" : "no");
  return NULL;
}

static void* waits_for_signal(void* p) {
  (void)p;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  gate_open(&g_done, 1);
  int sig = 0;
  int rc = sigwait(&s, &sig);
  printf("sigwait in a thread: rc=%s sig=%s\n", errname(rc), sig == SIGTERM ? "SIGTERM" : "other");
  return NULL;
}

int main(void) {
  test_start();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sig;
  sa.sa_flags = SA_RESTART; /* the gates' reads go on */
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);

  /* 1. the handler runs in the thread pthread_kill named */
  gate_init(&g_go);
  gate_init(&g_done);
  pthread_t t[3];
  for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, sleeper, NULL);
  tasks_sample();
  usleep(50000);
  for (int i = 0; i < 3; i++) {
    g_hits = 0;
    pthread_kill(t[i], SIGUSR1);
    for (int k = 0; k < 1000 && !g_hits; k++) usleep(1000);
    printf("pthread_kill to thread %d: handler ran %d time(s), pthread_self() there is the target: %s\n",
           i, (int)g_hits, pthread_equal(g_handler_self, t[i]) ? "yes" : "no");
  }
  gate_open(&g_go, 3);
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);

  /* 2. per-thread masks and a pending signal */
  g_hits = 0;
  pthread_t a, b;
  pthread_create(&a, NULL, blocks_usr2, NULL);
  gate_wait(&g_done);
  pthread_create(&b, NULL, looks_at_mask, NULL);
  pthread_join(b, NULL);
  sigset_t mine;
  pthread_sigmask(SIG_BLOCK, NULL, &mine);
  printf("main: SIGUSR2 blocked in main: %s\n", sigismember(&mine, SIGUSR2) ? "yes" : "no");
  pthread_kill(a, SIGUSR2);
  usleep(20000);
  gate_open(&g_go, 1);
  pthread_join(a, NULL);

  /* 3. sigwait in a thread */
  pthread_t w;
  pthread_create(&w, NULL, waits_for_signal, NULL);
  gate_wait(&g_done);
  usleep(20000);
  pthread_kill(w, SIGTERM);
  pthread_join(w, NULL);
  return test_end();
}
