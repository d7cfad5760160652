// SPDX-License-Identifier: MIT
/* Threads that spin, never blocking: on a flag another thread sets, and
 * more spinners than there are CPUs. Natively every thread makes progress;
 * under the shim the carriers running spinners are stuck in them, and the
 * threads that would set the flags (main, asleep; a thread parked in a
 * read) run only if the runtime gives the stuck carriers' other work to
 * another OS thread (docs/design.md, "Hand-off"). */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

#define SPINNERS 6

static atomic_int g_flag;
static atomic_int g_spinning;
static atomic_long g_spins[SPINNERS];

static void* spinner(void* arg) {
  int i = (int)(intptr_t)arg;
  atomic_fetch_add(&g_spinning, 1);
  while (!atomic_load_explicit(&g_flag, memory_order_acquire))
    atomic_fetch_add_explicit(&g_spins[i], 1, memory_order_relaxed);
  return NULL;
}

static int g_pipe[2];

/* Parked in a read until main writes; then sets the flag. */
static void* setter(void* arg) {
  (void)arg;
  char c;
  if (read(g_pipe[0], &c, 1) != 1) g_failures++;
  atomic_store_explicit(&g_flag, 1, memory_order_release);
  return NULL;
}

int main(void) {
  test_start();
  if (pipe(g_pipe) != 0) return 2;

  /* 1. One spinner; main sleeps, then sets the flag. */
  pthread_t t[SPINNERS], s;
  pthread_create(&t[0], NULL, spinner, (void*)0);
  while (atomic_load(&g_spinning) < 1) sched_yield();
  usleep(20000);
  tasks_sample();
  atomic_store(&g_flag, 1);
  pthread_join(t[0], NULL);
  printf("one spinner, main sleeps then sets the flag: ok\n");

  /* 2. More spinners than CPUs; the flag is set by a thread parked in a read,
     which main wakes after a sleep. */
  atomic_store(&g_flag, 0);
  atomic_store(&g_spinning, 0);
  pthread_create(&s, NULL, setter, NULL);
  for (int i = 0; i < SPINNERS; i++) pthread_create(&t[i], NULL, spinner, (void*)(intptr_t)i);
  /* every spinner has started: none waits behind another forever */
  while (atomic_load(&g_spinning) < SPINNERS) usleep(1000);
  usleep(20000);
  tasks_sample();
  char c = 'x';
  if (write(g_pipe[1], &c, 1) != 1) g_failures++;
  pthread_join(s, NULL);
  for (int i = 0; i < SPINNERS; i++) pthread_join(t[i], NULL);
  int all_spun = 1;
  for (int i = 0; i < SPINNERS; i++)
    if (atomic_load(&g_spins[i]) == 0) all_spun = 0;
  CHECK(all_spun, "six spinners all ran, the parked setter ended them", "a spinner never ran");
  return test_end();
}
