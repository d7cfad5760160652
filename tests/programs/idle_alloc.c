// SPDX-License-Identifier: MIT
/* The program's own calloc takes a lock that another thread may hold, as
 * jemalloc's and tcmalloc's do; the loader uses it for every thread's DTV.
 * Natively nothing calls it while the program does not allocate. Under the
 * shim the carrier of the main thread needs a context of its own to sleep in
 * once main waits with nothing else runnable there, and that context's TLS
 * block gets its DTV from this calloc. Made inside main's wait, with the
 * lock held by a thread parked elsewhere, it parked main a second time from
 * inside the scheduler: the nested park consumed the outer one's wake-up and
 * the process crashed (seen as integration.epoll.alloc_jemalloc, rarely).
 * Here the window is wide open: H holds the lock and waits; main waits with
 * nothing runnable; W ends both waits 20 ms later. No calloc may run
 * meanwhile, natively or under the shim. */
#include "common.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

extern void* __libc_calloc(size_t n, size_t size);

static pthread_mutex_t g_alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int g_trap;          /* calloc takes g_alloc_lock */
static volatile int g_calls_trapped; /* callocs while trapped */

void* calloc(size_t n, size_t size) {
  if (g_trap) {
    pthread_mutex_lock(&g_alloc_lock);
    g_calls_trapped++;
    pthread_mutex_unlock(&g_alloc_lock);
  }
  return __libc_calloc(n, size);
}

static int held[2], release_h[2], done[2];

/* Silent unless it fails (the threads must not print: the order would vary). */
#define MUST(c)                 \
  do {                          \
    if (!(c)) {                 \
      printf("FAIL: %s\n", #c); \
      fflush(stdout);           \
      _exit(1);                 \
    }                           \
  } while (0)

/* Holds the allocator's lock until W says so, then tells main. */
static void* holder(void* arg) {
  (void)arg;
  char c = 'h';
  pthread_mutex_lock(&g_alloc_lock);
  MUST(write(held[1], &c, 1) == 1);
  MUST(read(release_h[0], &c, 1) == 1);
  pthread_mutex_unlock(&g_alloc_lock);
  MUST(write(done[1], &c, 1) == 1);
  return NULL;
}

/* After 20 ms (main waits meanwhile), lets H go. */
static void* waker(void* arg) {
  (void)arg;
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  char c = 'w';
  MUST(write(release_h[1], &c, 1) == 1);
  return NULL;
}

int main(void) {
  test_start();
  MUST(pipe(held) == 0 && pipe(release_h) == 0 && pipe(done) == 0);
  for (int round = 0; round < 5; round++) {
    pthread_t h, w;
    MUST(pthread_create(&h, NULL, holder, NULL) == 0);
    char c;
    MUST(read(held[0], &c, 1) == 1); /* H holds the lock */
    MUST(pthread_create(&w, NULL, waker, NULL) == 0);
    g_trap = 1;
    MUST(read(done[0], &c, 1) == 1); /* main waits; nothing runs for 20 ms */
    g_trap = 0;
    MUST(pthread_join(w, NULL) == 0);
    MUST(pthread_join(h, NULL) == 0);
  }
  /* The OS thread count, sampled only now: the sample's own file I/O may
   * park main, which would have made the context early. */
  pthread_t k;
  MUST(pthread_create(&k, NULL, holder, NULL) == 0);
  char c;
  MUST(read(held[0], &c, 1) == 1);
  tasks_sample();
  MUST(write(release_h[1], &c, 1) == 1);
  MUST(read(done[0], &c, 1) == 1);
  MUST(pthread_join(k, NULL) == 0);
  CHECK(g_calls_trapped == 0, "no calloc while another thread held the allocator's lock",
        "%d callocs", g_calls_trapped);
  return test_end();
}
