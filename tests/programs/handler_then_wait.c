// SPDX-License-Identifier: MIT
/* A signal handler that runs while a thread is running, before it enters a
 * call that waits, does not end that later wait: natively the handler ran
 * and returned before the call began, so the call waits its full time. A
 * handler for a signal that was pending when sigsuspend unblocked it ends
 * sigsuspend at once. Each case keeps a second thread parked so that the
 * waits park under the shim (a lone thread makes the real call). */
#include "common.h"

#include <poll.h>
#include <pthread.h>

static volatile sig_atomic_t g_hits;
static int g_idle[2]; /* keeps the idle thread parked */

static void on_usr1(int sig) {
  (void)sig;
  g_hits++;
}

static void* idle(void* arg) {
  (void)arg;
  char c;
  if (read(g_idle[0], &c, 1) != 1) g_failures++;
  return NULL;
}

static void report(const char* what, long r, int e, int hits) {
  printf("%s: returned %ld %s, handler ran %d time(s)\n", what, r, r ? errname(e) : "", hits);
}

/* In a thread other than main: the same, with a thread-directed signal. */
static void* worker(void* arg) {
  (void)arg;
  /* It inherited main's mask, which blocks SIGUSR1 (still pending in main). */
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
  int p[2];
  if (pipe(p) != 0) return NULL;
  g_hits = 0;
  pthread_kill(pthread_self(), SIGUSR1);
  struct pollfd f = {p[0], POLLIN, 0};
  errno = 0;
  int r = poll(&f, 1, 20);
  report("worker: pthread_kill(self), then poll 20 ms", r, errno, g_hits);
  g_hits = 0;
  raise(SIGUSR1);
  struct timespec ts = {0, 20 * 1000 * 1000};
  errno = 0;
  r = nanosleep(&ts, NULL);
  report("worker: raise, then nanosleep 20 ms", r, errno, g_hits);
  close(p[0]);
  close(p[1]);
  return NULL;
}

int main(void) {
  test_start();
  struct sigaction sa = {0};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  if (pipe(g_idle) != 0) return 2;
  pthread_t t;
  pthread_create(&t, NULL, idle, NULL);

  g_hits = 0;
  raise(SIGUSR1);
  errno = 0;
  int r = usleep(20 * 1000);
  report("raise, then usleep 20 ms", r, errno, g_hits);

  /* Process-directed: the idle thread blocks nothing, but the kernel (and
     the shim) prefer main, which is running. */
  g_hits = 0;
  kill(getpid(), SIGUSR1);
  while (!g_hits) {
  }
  struct timespec ts = {0, 20 * 1000 * 1000};
  errno = 0;
  r = nanosleep(&ts, NULL);
  report("kill(getpid()), then nanosleep 20 ms", r, errno, g_hits);

  g_hits = 0;
  raise(SIGUSR1);
  int p[2];
  if (pipe(p) != 0) return 2;
  struct pollfd f = {p[0], POLLIN, 0};
  errno = 0;
  r = poll(&f, 1, 20);
  report("raise, then poll 20 ms", r, errno, g_hits);
  close(p[0]);
  close(p[1]);

  /* sigsuspend: a signal pending while blocked is taken when it unblocks. */
  sigset_t usr1, old, none;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigemptyset(&none);
  sigprocmask(SIG_BLOCK, &usr1, &old);
  g_hits = 0;
  raise(SIGUSR1);
  errno = 0;
  r = sigsuspend(&none);
  int e = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  report("raise while blocked, then sigsuspend", r, e, g_hits);

  /* A handler before a sigsuspend does not end it: the next one does. */
  g_hits = 0;
  raise(SIGUSR1);
  sigprocmask(SIG_BLOCK, &usr1, &old);
  pthread_t w;
  pthread_create(&w, NULL, worker, NULL);
  pthread_join(w, NULL);
  raise(SIGUSR1);
  errno = 0;
  r = sigsuspend(&none);
  e = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  report("raise, block, raise, then sigsuspend", r, e, g_hits);

  if (write(g_idle[1], "x", 1) != 1) g_failures++;
  pthread_join(t, NULL);
  return test_end();
}
