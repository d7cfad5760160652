// SPDX-License-Identifier: MIT
/* A process-directed signal sent while every thread blocks it stays pending
 * and runs its handler once, when a thread unblocks it: with a plain
 * handler, a one-shot one (SA_RESETHAND) and one that does not block its
 * own signal (SA_NODEFER). Under the shim a carrier may still wait with
 * the mask of a thread that took the signal when it went to sleep (here the
 * worker, which took it, then blocked it), and receives it when nobody
 * takes it: the signal must stay pending, not run its handler as no thread,
 * nor meet a reset disposition, nor come back into its own handler. */
#include "common.h"

#include <signal.h>

static volatile sig_atomic_t g_ran;
static int g_to_main[2], g_to_worker[2];

static void on_usr1(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)si;
  (void)uc;
  g_ran++;
}

static void* worker(void* arg) {
  (void)arg;
  usleep(50000); /* lets the carriers go to sleep while it takes SIGUSR1 */
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  if (write(g_to_main[1], "x", 1) != 1) g_failures++;
  char c;
  if (read(g_to_worker[0], &c, 1) != 1) g_failures++; /* until main is done */
  return NULL;
}

static void run(const char* label, int flags) {
  struct sigaction sa = {0};
  sa.sa_sigaction = on_usr1;
  sa.sa_flags = SA_SIGINFO | flags;
  sigaction(SIGUSR1, &sa, NULL);
  g_ran = 0;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  pthread_t t;
  pthread_create(&t, NULL, worker, NULL);
  char c;
  if (read(g_to_main[0], &c, 1) != 1) g_failures++;
  kill(getpid(), SIGUSR1); /* every thread blocks it now */
  printf("%s: ran %d while blocked\n", label, (int)g_ran);
  pthread_sigmask(SIG_UNBLOCK, &s, NULL);
  while (g_ran == 0) sched_yield();
  printf("%s: ran %d after unblock\n", label, (int)g_ran);
  struct sigaction now;
  sigaction(SIGUSR1, NULL, &now);
  printf("%s: then %s, SA_RESETHAND %s\n", label,
         now.sa_handler == SIG_DFL ? "SIG_DFL" : "the handler",
         now.sa_flags & SA_RESETHAND ? "kept" : "not set");
  if (write(g_to_worker[1], "x", 1) != 1) g_failures++;
  pthread_join(t, NULL);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (pipe(g_to_main) != 0 || pipe(g_to_worker) != 0) return 2;
  run("plain", 0);
  run("SA_RESETHAND", SA_RESETHAND);
  run("SA_NODEFER", SA_NODEFER);
  return g_failures ? 1 : 0;
}
