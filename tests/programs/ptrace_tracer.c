// SPDX-License-Identifier: MIT
/* A thread that traces a child (a debugger's): the kernel takes ptrace
 * requests only from the tracer's OS thread, the one that forked a
 * PTRACE_TRACEME child or attached. Between its requests the thread waits
 * (waitpid, sleeps) while other threads keep the carriers busy: its later
 * requests must still come from that OS thread. From main and from another
 * thread, for a child that asked to be traced and one attached with
 * PTRACE_SEIZE. */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>

static atomic_int g_stop;

static void* busy(void* unused) {
  (void)unused;
  while (!atomic_load(&g_stop)) usleep(300);
  return NULL;
}

/* Fails counts requests that failed; the first failure is shown. */
static int g_failed;
static void request(const char* what, long r) {
  if (r == -1 && g_failed++ == 0) printf("%s: FAIL (errno=%s)\n", what, errname(errno));
}

static void traceme_rounds(const char* who) {
  g_failed = 0;
  for (int i = 0; i < 10; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      ptrace(PTRACE_TRACEME, 0, NULL, NULL);
      raise(SIGSTOP);
      _exit(7);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) g_failed++;
    for (int k = 0; k < 5; k++) usleep(1000); /* the carriers stay busy meanwhile */
    struct user_regs_struct regs;
    request("PTRACE_GETREGS", ptrace(PTRACE_GETREGS, pid, NULL, &regs));
    long cont = ptrace(PTRACE_CONT, pid, NULL, NULL);
    request("PTRACE_CONT", cont);
    if (cont == -1) kill(pid, SIGKILL); /* still stopped: it would never exit */
    if (waitpid(pid, &st, 0) != pid || !(cont == -1 || (WIFEXITED(st) && WEXITSTATUS(st) == 7)))
      g_failed++;
  }
  printf("%s, child asked to be traced: requests failed: %d\n", who, g_failed);
}

static void seize_rounds(const char* who) {
  g_failed = 0;
  for (int i = 0; i < 5; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      for (;;) pause();
    }
    int st;
    request("PTRACE_SEIZE", ptrace(PTRACE_SEIZE, pid, NULL, NULL));
    usleep(2000);
    request("PTRACE_INTERRUPT", ptrace(PTRACE_INTERRUPT, pid, NULL, NULL));
    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) g_failed++;
    usleep(2000);
    struct user_regs_struct regs;
    request("PTRACE_GETREGS", ptrace(PTRACE_GETREGS, pid, NULL, &regs));
    request("PTRACE_DETACH", ptrace(PTRACE_DETACH, pid, NULL, NULL));
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
  }
  printf("%s, child attached with PTRACE_SEIZE: requests failed: %d\n", who, g_failed);
}

static void* tracer(void* unused) {
  (void)unused;
  traceme_rounds("another thread");
  seize_rounds("another thread");
  return NULL;
}

int main(void) {
  test_start();
  pthread_t b[3], t;
  for (int i = 0; i < 3; i++)
    if (pthread_create(&b[i], NULL, busy, NULL) != 0) return 2;
  traceme_rounds("main");
  seize_rounds("main");
  if (pthread_create(&t, NULL, tracer, NULL) != 0) return 2;
  pthread_join(t, NULL);
  atomic_store(&g_stop, 1);
  for (int i = 0; i < 3; i++) pthread_join(b[i], NULL);
  return test_end();
}
