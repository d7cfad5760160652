// SPDX-License-Identifier: MIT
/* CPU-bound threads next to a thread that answers TCP requests: natively the
 * kernel time-slices them, so a reply waits at most a few milliseconds.
 * Under the shim a green thread is never preempted; a carrier busy with a
 * computation must not hold up the echo thread (its wake-ups and its ring
 * I/O move to another carrier, or a spare one). The computations run until
 * the client is done (at least a second), so every round trip completes
 * while all of them compute; were the echo thread stuck behind one, the run
 * would not end. How long the replies take is measured by the benchmarks,
 * not here. */
#include "common.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define CPU_THREADS 4
#define ROUNDS 100

static int g_listener;
static int g_port;
static atomic_int g_busy;      /* computations running */
static atomic_int g_ended;     /* computations that ended */
static atomic_int g_stop;      /* client done: computations may end */
static volatile double g_sink;

/* Computes without a system call until the client is done (at least 1 s). */
static void* compute(void* arg) {
  (void)arg;
  atomic_fetch_add(&g_busy, 1);
  int64_t start = now_ns(CLOCK_MONOTONIC);
  double x = 1.0;
  long i = 0;
  while (!atomic_load(&g_stop) || now_ns(CLOCK_MONOTONIC) - start < 1000000000LL) {
    x = x * 1.0000001 + 1e-9;
    if (++i % 4096 == 0 && x > 1e300) x = 1.0;
  }
  g_sink = x;
  atomic_fetch_add(&g_ended, 1);
  return NULL;
}

static void* echo(void* arg) {
  (void)arg;
  accept_and_echo(g_listener);
  return NULL;
}

int main(void) {
  test_start();
  if ((g_listener = loopback_listener(&g_port)) < 0) return 2;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  pthread_t e, t[CPU_THREADS];
  pthread_create(&e, NULL, echo, NULL);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(s, (struct sockaddr*)&a, sizeof a) != 0) return 2;
  for (int i = 0; i < CPU_THREADS; i++) pthread_create(&t[i], NULL, compute, NULL);
  while (atomic_load(&g_busy) < CPU_THREADS) usleep(1000);
  tasks_sample();
  int ok = 1, overlapped = 1;
  for (int i = 0; i < ROUNDS; i++) {
    char out[32], in[32];
    int n = snprintf(out, sizeof out, "request %d", i);
    if (write_full(s, out, (size_t)n) != 0 || read_full(s, in, (size_t)n) != n ||
        memcmp(in, out, (size_t)n) != 0)
      ok = 0;
    if (atomic_load(&g_ended) != 0) overlapped = 0;
    usleep(5000);
  }
  atomic_store(&g_stop, 1);
  close(s);
  pthread_join(e, NULL);
  for (int i = 0; i < CPU_THREADS; i++) pthread_join(t[i], NULL);
  CHECK(ok, "100 echo round trips next to 4 computations", "a reply was wrong");
  CHECK(overlapped, "every round trip while all 4 computed", "a computation ended early");
  return test_end();
}
