// SPDX-License-Identifier: MIT
/* A collector that stops the world again and again, as an allocating Boehm
 * GC thread does: it computes a little, sends main the "suspend" signal,
 * waits for the handler's acknowledgement, sends the "restart" signal and
 * computes again at once. Between two rounds main must get back to its own
 * code: natively the restart signal's handler runs at once, and main goes
 * on from its handler while the collector computes.
 *
 * Main meanwhile takes steps of its own, each a call that blocks until the
 * collector's work lets it go on (a semaphore it posts per round, then a
 * mutex, a pipe to itself, a thread created and joined, as libgc's
 * pthread_create does). It has to finish them all.
 *
 * On one carrier (or packed on one), the handler's frame used to end behind
 * the collector in the queue: the collector's next suspend signal came while
 * main was still in its handler (which blocks it), ran when the handler
 * returned, and main never left its handlers again. */
#include "common.h"

#include <semaphore.h>

enum { kSteps = 200 };

static pthread_t g_main;
static sem_t g_ack, g_round;
static volatile sig_atomic_t g_restarted;
static volatile int g_done;
static volatile unsigned long g_suspends;
static volatile double g_sink;

static void on_suspend(int sig) {
  (void)sig;
  int saved = errno;
  sigset_t m;
  g_restarted = 0;
  g_suspends++;
  sem_post(&g_ack);
  pthread_sigmask(SIG_SETMASK, NULL, &m);
  sigdelset(&m, SIGUSR2);
  while (!g_restarted) sigsuspend(&m);
  errno = saved;
}

static void on_restart(int sig) {
  (void)sig;
  g_restarted = 1;
}

static void compute(int n) {
  double x = 0;
  for (int i = 0; i < n; i++) x += i * 0.5;
  g_sink = x;
}

static void* collector(void* arg) {
  (void)arg;
  while (!g_done) {
    compute(20000);
    sem_post(&g_round);
    pthread_kill(g_main, SIGUSR1);
    while (sem_wait(&g_ack) != 0) {
    }
    pthread_kill(g_main, SIGUSR2);
  }
  return NULL;
}

static void* nothing(void* arg) { return arg; }

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL: main made no progress in 60 s\n";
  (void)!write(1, msg, sizeof msg - 1);
  _exit(1);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_flags = SA_RESTART;
  sigfillset(&sa.sa_mask);
  sa.sa_handler = on_suspend;
  sigaction(SIGUSR1, &sa, NULL);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_restart;
  sigaction(SIGUSR2, &sa, NULL);
  sa.sa_handler = on_alarm;
  sa.sa_flags = 0;
  sigaction(SIGALRM, &sa, NULL);
  sem_init(&g_ack, 0, 0);
  sem_init(&g_round, 0, 0);
  g_main = pthread_self();
  alarm(60);

  pthread_t c;
  pthread_create(&c, NULL, collector, NULL);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  int p[2];
  if (pipe(p) != 0) return 2;
  long steps = 0, joined = 0, bytes = 0;
  for (int i = 0; i < kSteps; i++) {
    while (sem_wait(&g_round) != 0) {
    }
    pthread_mutex_lock(&mu);
    steps++;
    pthread_mutex_unlock(&mu);
    char b = (char)i;
    if (write(p[1], &b, 1) == 1 && read(p[0], &b, 1) == 1 && b == (char)i) bytes++;
    pthread_t t;
    void* r = NULL;
    if (pthread_create(&t, NULL, nothing, (void*)(long)i) == 0 && pthread_join(t, &r) == 0 &&
        r == (void*)(long)i)
      joined++;
  }
  g_done = 1;
  pthread_join(c, NULL);
  alarm(0);
  CHECK(steps == kSteps, "main finished its steps", "%ld of %d", steps, kSteps);
  CHECK(bytes == kSteps, "pipe round trips", "%ld of %d", bytes, kSteps);
  CHECK(joined == kSteps, "threads created and joined", "%ld of %d", joined, kSteps);
  CHECK(g_suspends >= kSteps, "main was stopped at least once per step", "%lu", g_suspends);
  return g_failures ? 1 : 0;
}
