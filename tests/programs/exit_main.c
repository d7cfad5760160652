// SPDX-License-Identifier: MIT
/* pthread_exit() from main while other threads still run: the process
 * lives on until the last thread ends, their output appears, and the exit
 * status is 0. The threads finish in a fixed order (each waits for the
 * previous one through a pipe) so that the output is deterministic. A
 * process-directed signal sent after main's exit, which only main and the
 * last thread take, runs its handler in the last thread, not as main (the
 * shim ran it as main). */
#include "common.h"

#include <pthread.h>

#define N 4

static int g_chain[N + 1][2];
static pthread_t g_main;
static pthread_key_t g_key;

/* Thread i's key destructor (value i + 1; main's is 100) lets the next
 * thread go: every line is printed in a fixed order. */
static void dtor(void* v) {
  intptr_t n = (intptr_t)v;
  if (n == 100) {
    printf("main's key destructor ran at its pthread_exit\n");
    n = 0;
  } else {
    printf("key destructor of thread %ld\n", (long)(n - 1));
  }
  if (write(g_chain[n][1], "x", 1) != 1) printf("destructor: write failed\n");
}

static void* worker(void* p) {
  intptr_t i = (intptr_t)p;
  /* Only main (gone by then) and the last thread take SIGUSR1. */
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, NULL);
  pthread_setspecific(g_key, (void*)(i + 1));
  char c;
  if (read(g_chain[i][0], &c, 1) != 1) printf("thread %ld: read failed\n", (long)i);
  usleep(20000); /* main is long gone by now */
  printf("thread %ld: still running after main's pthread_exit\n", (long)i);
  return NULL;
}

static volatile pthread_t g_ran_in;
static volatile int g_ran;

static void note_thread(int sig) {
  (void)sig;
  g_ran_in = pthread_self();
  g_ran = 1;
}

static void* last(void* p) {
  (void)p;
  char c;
  if (read(g_chain[N][0], &c, 1) != 1) printf("last: read failed\n");
  void* v = NULL;
  int rc = pthread_join(g_main, &v);
  printf("last thread: joined main: %s, its pthread_exit value %ld\n", errname(rc),
         (long)(intptr_t)v);
  signal(SIGUSR1, note_thread);
  kill(getpid(), SIGUSR1);
  for (int w = 0; w < 5000 && !g_ran; w++) usleep(1000);
  printf("last thread: kill() after main's exit ran the handler in %s\n",
         !g_ran                                    ? "no thread"
         : pthread_equal(g_ran_in, pthread_self()) ? "the last thread"
         : pthread_equal(g_ran_in, g_main)         ? "main"
                                                   : "another thread");
  printf("last thread: all %d workers done, exiting with pthread_exit\n", N);
  pthread_exit(NULL);
}

static void at_exit(void) { printf("atexit handler ran (exit status 0 follows)\n"); }

int main(void) {
  test_start();
  atexit(at_exit);
  g_main = pthread_self();
  pthread_key_create(&g_key, dtor);
  for (int i = 0; i <= N; i++)
    if (pipe(g_chain[i]) != 0) return 2;
  pthread_t t[N + 1];
  for (intptr_t i = 0; i < N; i++) pthread_create(&t[i], NULL, worker, (void*)i);
  pthread_create(&t[N], NULL, last, NULL);
  tasks_sample();
  printf("main: %d threads started, calling pthread_exit\n", N + 1);
  pthread_setspecific(g_key, (void*)100);
  pthread_exit((void*)3);
}
