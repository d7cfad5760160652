// SPDX-License-Identifier: MIT
/* A signal handler that runs while a thread waits on a POSIX semaphore or a
 * raw futex ends the wait as the kernel would (signal(7)):
 *
 *   sem_wait, FUTEX_WAIT without a timeout   EINTR, unless SA_RESTART
 *   sem_timedwait, sem_clockwait,
 *   FUTEX_WAIT with a timeout                EINTR, SA_RESTART or not
 *
 * CPython relies on the first: its locks wait in sem_wait and its handlers
 * have no SA_RESTART, so Ctrl-C during Thread.join() raises
 * KeyboardInterrupt only if the wait returns EINTR.
 *
 * For each case a waiter thread waits (30 s timeout where the call has one)
 * while the signaller sends it SIGUSR1 with pthread_kill, each once the
 * handler of the one before has run (a signal sent while one is pending
 * would merge with it), until the wait returns, up to 50 signals; after the
 * 50th handler run it posts (wakes) instead. An interruptible wait must come
 * back with EINTR after at least one handler; a restarted one must come back
 * with success, only after the post, having run all 50 handlers. Another thread stays
 * parked in a read meanwhile, so that no waiter is alone on its carrier. */
#include "common.h"

#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#define SIGNALS 50

enum kind { SEM_WAIT, SEM_TIMEDWAIT, SEM_CLOCKWAIT, FUTEX_NOTIMEOUT, FUTEX_TIMEOUT };
static const char* kind_name[] = {"sem_wait", "sem_timedwait", "sem_clockwait", "futex wait",
                                  "futex wait with a timeout"};

static atomic_int g_handled;
static void on_usr1(int sig) {
  (void)sig;
  atomic_fetch_add(&g_handled, 1);
}

static sem_t g_sem;
static atomic_uint g_word;
static atomic_int g_done; /* the waiter's call returned */
static int g_ret, g_err;
static enum kind g_kind;

static void* waiter(void* unused) {
  (void)unused;
  struct timespec abs;
  switch (g_kind) {
    case SEM_WAIT:
      g_ret = sem_wait(&g_sem);
      break;
    case SEM_TIMEDWAIT:
      clock_gettime(CLOCK_REALTIME, &abs);
      abs.tv_sec += 30;
      g_ret = sem_timedwait(&g_sem, &abs);
      break;
    case SEM_CLOCKWAIT:
      clock_gettime(CLOCK_MONOTONIC, &abs);
      abs.tv_sec += 30;
      g_ret = sem_clockwait(&g_sem, CLOCK_MONOTONIC, &abs);
      break;
    case FUTEX_NOTIMEOUT:
    case FUTEX_TIMEOUT: {
      struct timespec rel = {30, 0};
      /* Waits while the word is 0; the signaller sets it to 1 to post. */
      do {
        g_ret = (int)syscall(SYS_futex, &g_word, FUTEX_WAIT_PRIVATE, 0,
                             g_kind == FUTEX_TIMEOUT ? &rel : NULL, NULL, 0);
      } while (g_ret == -1 && errno == EAGAIN && atomic_load(&g_word) == 0);
      break;
    }
  }
  g_err = g_ret == -1 ? errno : 0;
  atomic_store(&g_done, 1);
  return NULL;
}

static void one(enum kind k, int restart) {
  struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sem_init(&g_sem, 0, 0);
  atomic_store(&g_word, 0);
  atomic_store(&g_handled, 0);
  atomic_store(&g_done, 0);
  g_kind = k;
  pthread_t t;
  pthread_create(&t, NULL, waiter, NULL);
  int sent = 0, posted = 0;
  struct timespec pause = {0, 500000};
  while (!atomic_load(&g_done)) {
    int handled = atomic_load(&g_handled);
    if (sent < SIGNALS && handled == sent) {
      pthread_kill(t, SIGUSR1);
      sent++;
    } else if (!posted && handled == SIGNALS) {
      /* Every handler has run and the wait goes on: end it. */
      if (k == FUTEX_NOTIMEOUT || k == FUTEX_TIMEOUT) {
        atomic_store(&g_word, 1);
        syscall(SYS_futex, &g_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
      } else {
        sem_post(&g_sem);
      }
      posted = 1;
    }
    nanosleep(&pause, NULL);
  }
  pthread_join(t, NULL);
  int handled = atomic_load(&g_handled);
  int interruptible = !restart || k == SEM_TIMEDWAIT || k == SEM_CLOCKWAIT || k == FUTEX_TIMEOUT;
  int ok = interruptible ? g_ret == -1 && g_err == EINTR && handled >= 1 && !posted
                         : g_ret == 0 && posted && handled == SIGNALS;
  printf("%s, handler %s SA_RESTART: %s%s\n", kind_name[k], restart ? "with" : "without",
         g_ret == 0       ? "returned 0 after the post"
         : g_err == EINTR ? "EINTR"
                          : errname(g_err),
         ok ? "" : " (WRONG)");
  if (!ok) g_failures++;
  sem_destroy(&g_sem);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  struct parked idle;
  parked_start(&idle);
  for (int restart = 0; restart < 2; restart++)
    for (enum kind k = SEM_WAIT; k <= FUTEX_TIMEOUT; k++) one(k, restart);
  parked_stop(&idle);
  return g_failures ? 1 : 0;
}
