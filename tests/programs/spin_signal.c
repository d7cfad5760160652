// SPDX-License-Identifier: MIT
/* A handler that runs for main while another thread computes ends main's
 * wait at once, as natively: SIGALRM (a handler without SA_RESTART) is due
 * 50 ms into each of main's waits (read, nanosleep, sigtimedwait for another
 * signal, pause, sem_wait, poll; each would last 30 s or for ever), while a
 * thread spins on a flag and never blocks (the first wait, a read of a pipe
 * nobody writes, waits in the ring of the carrier the spinner holds). Each
 * wait must fail with EINTR
 * (pause: return -1 EINTR) long before its timeout, after the handler ran
 * once, in main. Under the shim the handler runs on the carrier the
 * spinner holds; its interrupt must reach main's wait through the carrier
 * that serves the stuck one, not when the computation ends (it ends only
 * when main tells it to). */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/time.h>

static atomic_int g_stop;
static volatile sig_atomic_t g_hits, g_in_main;
static pthread_t g_main;

static void on_alrm(int sig) {
  (void)sig;
  g_hits++;
  if (pthread_equal(pthread_self(), g_main)) g_in_main++;
}

static void* spin(void* unused) {
  (void)unused;
  unsigned long x = 0;
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) x = x * 31 + 7;
  return (void*)x;
}

enum kind { K_READ, K_NANOSLEEP, K_SIGTIMEDWAIT, K_PAUSE, K_SEM_WAIT, K_POLL, K_COUNT };
static const char* names[] = {"read", "nanosleep", "sigtimedwait", "pause", "sem_wait", "poll"};

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  g_main = pthread_self();
  struct sigaction sa = {.sa_handler = on_alrm};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, NULL); /* sigtimedwait waits for it */
  sem_t sem;
  sem_init(&sem, 0, 0);
  int p[2];
  if (pipe(p) != 0) return 2;
  pthread_t t;
  pthread_create(&t, NULL, spin, NULL);
  for (enum kind k = 0; k < K_COUNT; k++) {
    g_hits = g_in_main = 0;
    struct itimerval it = {{0, 0}, {0, 50000}};
    struct timespec ts = {30, 0};
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    setitimer(ITIMER_REAL, &it, NULL);
    int r = 0;
    char c;
    switch (k) {
      case K_READ:
        r = (int)read(p[0], &c, 1);
        break;
      case K_NANOSLEEP:
        r = nanosleep(&ts, NULL);
        break;
      case K_SIGTIMEDWAIT:
        r = sigtimedwait(&usr1, NULL, &ts);
        break;
      case K_PAUSE:
        r = pause();
        break;
      case K_SEM_WAIT:
        r = sem_wait(&sem);
        break;
      case K_POLL:
        r = poll(&pfd, 1, 30000);
        break;
      default:
        break;
    }
    int e = errno;
    int64_t took = now_ns(CLOCK_MONOTONIC) - t0;
    int ok = r == -1 && e == EINTR && g_hits == 1 && g_in_main == 1 && took < 10000000000LL;
    printf(
        "%s with a thread spinning: %s, handler ran %d time(s) in main, before the timeout: %s\n",
        names[k], r == -1 ? errname(e) : "returned", (int)g_in_main,
        took < 10000000000LL ? "yes" : "no");
    if (!ok) g_failures++;
  }
  atomic_store(&g_stop, 1);
  pthread_join(t, NULL);
  return g_failures ? 1 : 0;
}
