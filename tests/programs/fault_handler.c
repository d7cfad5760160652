// SPDX-License-Identifier: MIT
/* A fault runs its handler as the thread that faulted: runtimes depend on it
 * (a JVM's implicit null checks and safepoint polls are SIGSEGVs handled on
 * the faulting thread). Threads on every carrier fault on purpose; the
 * handler checks pthread_self() and a thread-local, and siglongjmps back
 * into the faulting thread's own jump buffer. After the jumps the thread is
 * itself again, not still in a handler: its gettid() is the one it had
 * (the shim's hooks passed straight through after a jump out of its
 * trampoline, and gettid gave the carrier's id). */
#include "common.h"

#include <pthread.h>
#include <setjmp.h>

#define THREADS 16
#define FAULTS 50

static __thread sigjmp_buf t_jump;
static __thread int t_id = -1;
static __thread pthread_t t_self;
static int g_wrong_thread;
static int g_tid_changed;

static void on_segv(int sig, siginfo_t* info, void* uc) {
  (void)sig, (void)info, (void)uc;
  if (t_id < 0 || !pthread_equal(pthread_self(), t_self)) __atomic_add_fetch(&g_wrong_thread, 1, 0);
  siglongjmp(t_jump, 1);
}

static void* faulter(void* arg) {
  t_id = (int)(intptr_t)arg;
  t_self = pthread_self();
  pid_t tid = gettid();
  int caught = 0;
  for (int i = 0; i < FAULTS; i++) {
    if (sigsetjmp(t_jump, 1) == 0) {
      *(volatile int*)BADPTR = i;
    } else {
      caught++;
    }
    if (i % 10 == 0) usleep(100); /* park: may resume on another carrier */
  }
  if (gettid() != tid) __atomic_add_fetch(&g_tid_changed, 1, 0);
  return (void*)(intptr_t)caught;
}

int main(void) {
  test_start();
  struct sigaction sa = {0};
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, faulter, (void*)(intptr_t)i);
  tasks_sample();
  long total = 0;
  for (int i = 0; i < THREADS; i++) {
    void* r;
    pthread_join(t[i], &r);
    total += (intptr_t)r;
  }
  printf("faults caught by their own thread's handler: %ld of %d\n", total, THREADS * FAULTS);
  CHECK(g_wrong_thread == 0, "every handler ran as the faulting thread", "%d ran as another",
        g_wrong_thread);
  CHECK(g_tid_changed == 0, "each thread has its own id after jumping out of its handlers",
        "%d threads had another", g_tid_changed);
  return test_end();
}
