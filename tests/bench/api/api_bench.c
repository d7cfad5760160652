// SPDX-License-Identifier: MIT
/* greenhouse.h benchmark, the twin of chan_go.go and chan_fiber.cc (same
 * work, same output): api_bench.py runs the three and reports ratios.
 *   roundtrip: two green threads pass an int back and forth over two
 *              unbuffered channels; ns per round trip.
 *   pool:      100,000 tiny tasks through a pool of 128; tasks per second
 *              (each task is a green thread: spawn, run, end).
 * Prints "roundtrip_ns N" and "pool_tasks_per_s N". Linked with
 * libgreenhouse; GREENHOUSE_CARRIERS sets the cores it uses. */
#include <greenhouse.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUNDS 200000
#define TASKS 100000
#define POOL 128

static gh_chan_t *ping, *pong;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void* echo(void* arg) {
  (void)arg;
  int v;
  while (gh_chan_recv(ping, &v, GH_FOREVER) == 0) gh_chan_send(pong, &v, GH_FOREVER);
  return NULL;
}

static atomic_long g_done;
static void* task(void* arg) {
  (void)arg;
  atomic_fetch_add_explicit(&g_done, 1, memory_order_relaxed);
  return NULL;
}

int main(void) {
  ping = gh_chan_new(sizeof(int), 0);
  pong = gh_chan_new(sizeof(int), 0);
  gh_thread_t t;
  gh_spawn(&t, echo, NULL, NULL);
  int v = 0;
  for (int i = 0; i < 1000; i++) { /* warm up */
    gh_chan_send(ping, &i, GH_FOREVER);
    gh_chan_recv(pong, &v, GH_FOREVER);
  }
  int64_t t0 = now_ns();
  for (int i = 0; i < ROUNDS; i++) {
    gh_chan_send(ping, &i, GH_FOREVER);
    gh_chan_recv(pong, &v, GH_FOREVER);
  }
  int64_t t1 = now_ns();
  gh_chan_close(ping);
  gh_join(t, NULL);
  if (v != ROUNDS - 1) return 1;
  printf("roundtrip_ns %.1f\n", (double)(t1 - t0) / ROUNDS);

  gh_pool_t* p = gh_pool_new(POOL);
  t0 = now_ns();
  for (int i = 0; i < TASKS; i++) gh_pool_spawn(p, task, NULL);
  gh_pool_join(p, GH_FOREVER);
  t1 = now_ns();
  gh_pool_free(p);
  if (atomic_load(&g_done) != TASKS) return 1;
  printf("pool_tasks_per_s %.0f\n", TASKS / ((double)(t1 - t0) / 1e9));
  return 0;
}
