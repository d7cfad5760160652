// SPDX-License-Identifier: MIT
/* pthread_cancel and main, as glibc does it:
 *   - a thread blocked in pthread_join(main) is a cancellation point: it is
 *     cancelled (its canceller's join gets PTHREAD_CANCELED);
 *   - main blocked in read() is cancelled by another thread: its cleanup
 *     handler runs, the canceller's pthread_join(main) gets
 *     PTHREAD_CANCELED, and the process exits 0 once the last thread returns.
 * A thread parked in a read keeps main company on its carrier. */
#include "common.h"

#include <stdatomic.h>

static pthread_t g_main;
static atomic_int g_ready;
static int g_pipe[2];
static struct parked g_company;

static void* joins_main(void* unused) {
  (void)unused;
  atomic_store(&g_ready, 1);
  pthread_join(g_main, NULL);
  printf("joins_main: FAIL (returned)\n");
  return NULL;
}

static void* cancels_main(void* unused) {
  (void)unused;
  while (!atomic_load(&g_ready)) sched_yield();
  for (int i = 0; i < 200; i++) sched_yield();
  int rc = pthread_cancel(g_main);
  void* v = NULL;
  int jr = pthread_join(g_main, &v);
  printf("cancel main: rc=%d, join rc=%d canceled=%d\n", rc, jr, v == PTHREAD_CANCELED);
  parked_stop(&g_company); /* the last thread: the process exits 0 after it */
  return NULL;
}

static void main_cleanup(void* unused) {
  (void)unused;
  printf("main's cleanup handler ran\n");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  g_main = pthread_self();
  if (pipe(g_pipe) != 0) return 2;
  /* A cleanup buffer pushed before the first thread and popped after it:
   * the two stay one chain (main's unwinding below must not meet it). */
  pthread_cleanup_push(main_cleanup, NULL);
  parked_start(&g_company);
  pthread_cleanup_pop(0);

  pthread_t j;
  pthread_create(&j, NULL, joins_main, NULL);
  while (!atomic_load(&g_ready)) sched_yield();
  for (int i = 0; i < 200; i++) sched_yield();
  void* v = NULL;
  int rc = pthread_cancel(j);
  int jr = pthread_join(j, &v);
  printf("cancel a thread joining main: rc=%d, join rc=%d canceled=%d\n", rc, jr,
         v == PTHREAD_CANCELED);

  atomic_store(&g_ready, 0);
  pthread_t c;
  pthread_create(&c, NULL, cancels_main, NULL);
  pthread_detach(c);
  pthread_cleanup_push(main_cleanup, NULL);
  atomic_store(&g_ready, 1);
  char ch;
  ssize_t r = read(g_pipe[0], &ch, 1);
  printf("main: FAIL (read returned %zd)\n", r);
  pthread_cleanup_pop(0);
  return 1;
}
