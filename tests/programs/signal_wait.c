// SPDX-License-Identifier: MIT
/* A process-directed signal (alarm's SIGALRM) must interrupt main's wait in
 * poll, select, epoll_wait, sleep and nanosleep even when the last thread
 * that ran before the wait blocks all signals.
 *
 * A worker blocks every signal with pthread_sigmask and parks in a blocking
 * read of a pipe. For each wait, main sets alarm(1), writes a byte to the
 * worker's pipe and enters the wait (20 s timeout, on a pipe that never
 * becomes readable) at once: the worker wakes, reads the byte, acknowledges
 * it on another pipe and parks in read() again, so it is the last thread to
 * run before the wait, and it stays blocked during the wait (no thread is
 * alone on its carrier). The handler (no SA_RESTART) must run once, in
 * main, and the wait must fail with EINTR (sleep: return the seconds left,
 * nanosleep: the time left) long before its timeout. */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/select.h>

#define WAIT_S 20 /* each wait's own timeout */

static volatile sig_atomic_t g_hits;
static volatile sig_atomic_t g_in_main; /* the handler ran in main */
static pthread_t g_main;

static void on_alrm(int sig) {
  (void)sig;
  g_hits++;
  if (pthread_equal(pthread_self(), g_main)) g_in_main++;
}

static int g_wake[2]; /* main -> worker */
static int g_ack[2];  /* worker -> main */

static void* worker(void* unused) {
  (void)unused;
  sigset_t all, now;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  int blocked = pthread_sigmask(SIG_BLOCK, NULL, &now) == 0 && sigismember(&now, SIGALRM);
  if (write(g_ack[1], blocked ? "b" : "u", 1) != 1) g_failures++;
  for (;;) {
    char c;
    ssize_t r = read(g_wake[0], &c, 1); /* parks here, signals blocked */
    if (r != 1 || c == 'q') break;
    if (write(g_ack[1], &c, 1) != 1) g_failures++;
  }
  return NULL;
}

enum kind { K_POLL, K_SELECT, K_EPOLL, K_SLEEP, K_NANOSLEEP };
static const char* kind_name[] = {"poll", "select", "epoll_wait", "sleep", "nanosleep"};

static void one(enum kind k, int idle_fd, int ep) {
  g_hits = 0;
  g_in_main = 0;
  long ret = 0;
  int err = 0;
  char wake = (char)('0' + k);
  struct timespec rem = {0, 0};

  alarm(1);
  /* wake the worker and wait at once: the worker runs (and parks in read
   * again) after main has started its wait */
  if (write(g_wake[1], &wake, 1) != 1) g_failures++;
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  errno = 0;
  switch (k) {
    case K_POLL: {
      struct pollfd f = {idle_fd, POLLIN, 0};
      ret = poll(&f, 1, WAIT_S * 1000);
      break;
    }
    case K_SELECT: {
      fd_set rd;
      FD_ZERO(&rd);
      FD_SET(idle_fd, &rd);
      struct timeval tv = {WAIT_S, 0};
      ret = select(idle_fd + 1, &rd, NULL, NULL, &tv);
      err = errno;
      /* Linux writes the time left back on EINTR too (a caller that
       * retries with the same timeval waits only for the rest). */
      printf("  select time left: %s\n",
             tv.tv_sec > 0 && tv.tv_sec < WAIT_S ? "0 < left < 20 s" : "WRONG");
      errno = err;
      break;
    }
    case K_EPOLL: {
      struct epoll_event ev;
      ret = epoll_wait(ep, &ev, 1, WAIT_S * 1000);
      break;
    }
    case K_SLEEP: ret = sleep(WAIT_S); break;
    case K_NANOSLEEP: {
      struct timespec req = {WAIT_S, 0};
      ret = nanosleep(&req, &rem);
      break;
    }
  }
  err = errno;
  int64_t elapsed_ms = (now_ns(CLOCK_MONOTONIC) - t0) / 1000000;
  alarm(0);

  char ack;
  if (read(g_ack[0], &ack, 1) != 1 || ack != wake) g_failures++;

  if (k == K_SLEEP)
    printf("%s: returned %s\n", kind_name[k],
           ret > 0 && ret < WAIT_S ? "the seconds left (0 < left < 20)" : "WRONG");
  else
    printf("%s: ret=%ld errno=%s\n", kind_name[k], ret, ret == -1 ? errname(err) : "0");
  if (k == K_NANOSLEEP)
    printf("  nanosleep time left: %s\n",
           rem.tv_sec > 0 && rem.tv_sec < WAIT_S ? "0 < left < 20 s" : "WRONG");
  CHECK(elapsed_ms < 10000, "  interrupted before its timeout", "waited %lld ms",
        (long long)elapsed_ms);
  CHECK(g_hits == 1 && g_in_main == 1, "  the handler ran once, in main",
        "ran %d time(s), %d in main", (int)g_hits, (int)g_in_main);
}

int main(void) {
  test_start();
  g_main = pthread_self();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alrm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART */
  sigaction(SIGALRM, &sa, NULL);

  int idle[2];
  if (pipe(g_wake) != 0 || pipe(g_ack) != 0 || pipe(idle) != 0) return 2;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data = {.fd = idle[0]}};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, idle[0], &ev) != 0) return 2;

  pthread_t th;
  if (pthread_create(&th, NULL, worker, NULL) != 0) return 2;
  char c;
  if (read(g_ack[0], &c, 1) != 1) return 2;
  CHECK(c == 'b', "worker blocks all signals", "SIGALRM not blocked in the worker");
  tasks_sample(); /* main and the worker (in read) */

  for (int k = K_POLL; k <= K_NANOSLEEP; k++) one((enum kind)k, idle[0], ep);

  if (write(g_wake[1], "q", 1) != 1) g_failures++;
  EXPECT_RC("worker joined", pthread_join(th, NULL), 0);
  close(ep);
  return test_end();
}
