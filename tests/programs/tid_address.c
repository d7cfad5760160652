// SPDX-License-Identifier: MIT
/* set_tid_address(2) from a thread: it returns the caller's thread id (what
 * gettid() says), and when the thread ends the word is set to 0 and a
 * FUTEX_WAIT on it is woken, as the kernel does (stress-ng's pthread
 * stressor checks the first; a hand-made join uses the second). */
#include "common.h"

#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static uint32_t g_word = 1;
static atomic_long g_returned, g_tid;
static atomic_int g_set;

static void* sets_address(void* unused) {
  (void)unused;
  g_tid = syscall(SYS_gettid);
  g_returned = syscall(SYS_set_tid_address, &g_word);
  atomic_store(&g_set, 1);
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pthread_t t;
  pthread_create(&t, NULL, sets_address, NULL);
  pthread_detach(t);
  while (!atomic_load(&g_set)) sched_yield();
  CHECK(g_returned == g_tid, "set_tid_address returns the caller's id", "returned %ld, gettid %ld",
        (long)g_returned, (long)g_tid);
  /* Wait for the thread's end as the kernel reports it: the word goes to 0. */
  int waits = 0;
  while (__atomic_load_n(&g_word, __ATOMIC_ACQUIRE) != 0 && waits < 1000) {
    struct timespec ts = {1, 0};
    syscall(SYS_futex, &g_word, FUTEX_WAIT, 1, &ts, NULL, 0);
    waits++;
  }
  CHECK(__atomic_load_n(&g_word, __ATOMIC_ACQUIRE) == 0, "the word is 0 after the thread ended",
        "word=%u", g_word);
  return g_failures ? 1 : 0;
}
