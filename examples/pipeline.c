// SPDX-License-Identifier: MIT
/* A pipeline of green threads joined by channels: a generator sends
 * 1..N into `numbers` (unbuffered), four workers square them into `squares`
 * (buffered), and main collects with gh_select over `squares` and a ticker
 * channel, until `squares` is closed. Closing flows from the front: the
 * generator closes `numbers`, the last worker to finish closes `squares`,
 * and main then stops the ticker with an event. */
#include <errno.h>
#include <greenhouse.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define N 10000
#define WORKERS 4

static gh_chan_t *numbers, *squares, *ticks;
static atomic_int g_workers = WORKERS;
static gh_event_t g_stop = GH_EVENT_INIT;

static void* generate(void* arg) {
  (void)arg;
  for (int64_t i = 1; i <= N; i++)
    if (gh_chan_send(numbers, &i, GH_FOREVER) != 0) return (void*)1;
  gh_chan_close(numbers);
  return NULL;
}

static void* square(void* arg) {
  (void)arg;
  int64_t n;
  while (gh_chan_recv(numbers, &n, GH_FOREVER) == 0) {
    int64_t sq = n * n;
    if (gh_chan_send(squares, &sq, GH_FOREVER) != 0) return (void*)1;
  }
  /* numbers is closed and drained: the last worker out closes squares */
  if (atomic_fetch_sub(&g_workers, 1) == 1) gh_chan_close(squares);
  return NULL;
}

/* Sends a tick every millisecond until stopped (a progress ticker). */
static void* ticker(void* arg) {
  (void)arg;
  int64_t k = 0;
  while (gh_event_wait(&g_stop, 1000 * 1000) == ETIMEDOUT) {
    k++;
    gh_chan_send(ticks, &k, 0); /* dropped if main is busy: a ticker may skip */
  }
  gh_chan_close(ticks);
  return NULL;
}

int main(void) {
  numbers = gh_chan_new(sizeof(int64_t), 0);
  squares = gh_chan_new(sizeof(int64_t), 64);
  ticks = gh_chan_new(sizeof(int64_t), 1);
  if (!numbers || !squares || !ticks) return 1;
  gh_thread_t gen, work[WORKERS], tick;
  gh_spawn(&gen, generate, NULL, NULL);
  for (int i = 0; i < WORKERS; i++) gh_spawn(&work[i], square, NULL, NULL);
  gh_spawn(&tick, ticker, NULL, NULL);

  int64_t sum = 0, count = 0, sq, t;
  for (;;) {
    gh_select_case cases[2] = {{squares, GH_RECV, &sq, 0}, {ticks, GH_RECV, &t, 0}};
    int i = gh_select(cases, 2, GH_FOREVER);
    if (i == 0 && cases[0].status == EPIPE) break; /* squares closed: all done */
    if (i == 0) {
      sum += sq;
      count++;
    }
    if (i < 0) return 1;
  }
  gh_event_set(&g_stop);
  void* bad = NULL;
  int failures = 0;
  gh_join(gen, &bad);
  failures += bad != NULL;
  for (int i = 0; i < WORKERS; i++) {
    gh_join(work[i], &bad);
    failures += bad != NULL;
  }
  gh_join(tick, NULL);
  int64_t want = (int64_t)N * (N + 1) * (2 * N + 1) / 6;
  printf("%lld squares, sum %lld: %s\n", (long long)count, (long long)sum,
         count == N && sum == want ? "ok" : "FAILED");
  failures += count != N || sum != want;
  gh_chan_free(numbers);
  gh_chan_free(squares);
  gh_chan_free(ticks);
  return failures ? 1 : 0;
}
