// SPDX-License-Identifier: MIT
/* The ucontext a signal handler gets for a thread blocked in a call: its
 * stack pointer lies in that thread's stack and its instruction pointer is
 * an address, as natively, where the thread stopped in its system call.
 * Runtimes that stop the world by signals read them: Mono's suspend handler
 * retries a thread it finds at instruction 0 (as if in a critical place)
 * forever, and a collector scans the stack from the stack pointer. Under the
 * shim the handler runs in a frame on the parked thread's stack; its
 * ucontext had all general registers 0, and Mono hung in every collection. */
#include "common.h"

#include <semaphore.h>
#include <ucontext.h>

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_cond_done;
static sem_t g_ack;
static volatile uintptr_t g_sp, g_ip;
static char *g_lo, *g_hi;
static int g_pipe[2];

static void on_signal(int sig, siginfo_t* si, void* ctx) {
  (void)sig;
  (void)si;
  ucontext_t* uc = ctx;
  g_sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
  g_ip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
  sem_post(&g_ack);
}

static volatile int g_mode, g_waiting;
static void* waiter(void* arg) {
  (void)arg;
  thread_stack(pthread_self(), &g_lo, &g_hi);
  g_waiting = 1;
  char b;
  switch (g_mode) {
    case 0: /* main holds the mutex */
      pthread_mutex_lock(&g_mutex);
      pthread_mutex_unlock(&g_mutex);
      break;
    case 1:
      pthread_mutex_lock(&g_mutex);
      while (!g_cond_done) pthread_cond_wait(&g_cond, &g_mutex);
      pthread_mutex_unlock(&g_mutex);
      break;
    case 2:
      while (read(g_pipe[0], &b, 1) < 0 && errno == EINTR) {
      }
      break;
  }
  return NULL;
}

/* The thread has parked in its call: its state, in /proc, is 'S' natively;
 * under the shim it is a green thread, so wait a little longer than it
 * takes to park. (A handler that comes before the park still has to see
 * a context on the thread's stack.) */
static void let_it_block(void) {
  while (!g_waiting) usleep(1000);
  usleep(50000);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  sem_init(&g_ack, 0, 0);
  if (pipe(g_pipe) != 0) return 2;
  const char* names[] = {"mutex lock", "condition wait", "pipe read"};
  for (g_mode = 0; g_mode < 3; g_mode++) {
    pthread_t t;
    g_waiting = 0;
    if (g_mode == 0) pthread_mutex_lock(&g_mutex);
    pthread_create(&t, NULL, waiter, NULL);
    let_it_block();
    g_sp = g_ip = 0;
    pthread_kill(t, SIGUSR1);
    while (sem_wait(&g_ack) != 0) {
    }
    char label[80];
    snprintf(label, sizeof label, "%s: the handler's stack pointer is in the thread's stack",
             names[g_mode]);
    CHECK(g_sp > (uintptr_t)g_lo && g_sp < (uintptr_t)g_hi, label, "rsp %#lx, stack [%p, %p)",
          (unsigned long)g_sp, g_lo, g_hi);
    snprintf(label, sizeof label, "%s: its instruction pointer is an address", names[g_mode]);
    CHECK(g_ip != 0, label, "rip 0");
    if (g_mode == 0) pthread_mutex_unlock(&g_mutex);
    if (g_mode == 1) {
      pthread_mutex_lock(&g_mutex);
      g_cond_done = 1;
      pthread_cond_signal(&g_cond);
      pthread_mutex_unlock(&g_mutex);
    }
    if (g_mode == 2) (void)!write(g_pipe[1], "x", 1);
    pthread_join(t, NULL);
  }
  return g_failures ? 1 : 0;
}
