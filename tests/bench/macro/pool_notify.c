// SPDX-License-Identifier: MIT
/* A thread pool as event-loop servers build one (nginx's `aio threads`,
 * tests/programs/notify_pool.h): the main thread posts tasks to WORKERS
 * threads, and each finished task comes back on a done list and a
 * notification that the main thread waits for.
 *
 *   pool_notify MODE WORKERS TASKS
 *
 * MODE eventfd: the notification is a write of 1 to a blocking eventfd that
 *   the main thread watches with epoll_wait (edge-triggered), as nginx does.
 * MODE pipe: a byte written to a blocking pipe, read by the main thread
 *   after poll (libevent's and older servers' way).
 *
 * Keeps 64 tasks in flight. Prints "pool mode=M tasks_per_sec=N" and exits
 * 0 when every task came back exactly once.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "notify_pool.h"

#define IN_FLIGHT 64

static int g_eventfd_mode;
static int g_notify_w = -1, g_notify_r = -1;

static void notify(void) {
  if (g_eventfd_mode) {
    uint64_t one = 1;
    if (write(g_notify_w, &one, sizeof one) != (ssize_t)sizeof one) abort();
  } else if (write(g_notify_w, "x", 1) != 1) {
    abort();
  }
}

/* Waits for at least one notification and consumes what is there. */
static void wait_notified(int ep) {
  if (g_eventfd_mode) {
    struct epoll_event ev;
    if (epoll_wait(ep, &ev, 1, -1) != 1) abort();
    uint64_t n;
    if (read(g_notify_r, &n, sizeof n) != (ssize_t)sizeof n) abort();
  } else {
    struct pollfd p = {.fd = g_notify_r, .events = POLLIN};
    if (poll(&p, 1, -1) != 1) abort();
    char buf[IN_FLIGHT];
    if (read(g_notify_r, buf, sizeof buf) <= 0) abort();
  }
}

int main(int argc, char** argv) {
  if (argc != 4 || (strcmp(argv[1], "eventfd") != 0 && strcmp(argv[1], "pipe") != 0)) {
    fprintf(stderr, "usage: pool_notify eventfd|pipe WORKERS TASKS\n");
    return 2;
  }
  g_eventfd_mode = strcmp(argv[1], "eventfd") == 0;
  int workers = atoi(argv[2]), total = atoi(argv[3]);
  if (workers < 1 || total < IN_FLIGHT) return 2;
  int ep = -1;
  if (g_eventfd_mode) {
    g_notify_w = g_notify_r = eventfd(0, 0);
    ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, g_notify_r, &ev) != 0) return 1;
  } else {
    int p[2];
    if (pipe(p) != 0) return 1;
    g_notify_r = p[0];
    g_notify_w = p[1];
  }
  np_start(workers, notify);
  struct np_task* tasks = calloc((size_t)total, sizeof *tasks);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int posted = 0, back = 0;
  for (; posted < IN_FLIGHT; posted++) {
    tasks[posted].input = (uint64_t)posted + 1;
    np_post(&tasks[posted]);
  }
  while (back < total) {
    wait_notified(ep);
    for (struct np_task* d = np_take_done(); d; d = d->next) {
      back++;
      if (d->output != np_work(d->input)) return 1;
      if (posted < total) {
        tasks[posted].input = (uint64_t)posted + 1;
        np_post(&tasks[posted++]);
      }
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  np_stop();
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("pool mode=%s tasks_per_sec=%.0f\n", argv[1], total / s);
  return back == total ? 0 : 1;
}
