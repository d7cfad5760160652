// SPDX-License-Identifier: MIT
/* A process that forks before it has made any thread (a pre-forking server
 * does: the workers start their threads after the fork). In the child, and
 * in a grandchild forked the same way, a thread spins on a flag that main
 * sets after a sleep. Natively each is an OS thread. Under the shim the
 * child's threads must get the runtime a new process gets, with its
 * carriers and hand-off; a child left on one carrier without hand-off never
 * runs main again while the spinner spins. */
#include "common.h"

#include <stdatomic.h>
#include <sys/wait.h>

static atomic_int g_flag;
static atomic_int g_spinning;

static void* spinner(void* arg) {
  atomic_store(&g_spinning, 1);
  while (!atomic_load_explicit(&g_flag, memory_order_acquire)) {
  }
  return arg;
}

/* Main sleeps while a thread spins, then ends the spin. Returns 0 if all of
 * it ran. */
static int spin_and_stop(void) {
  pthread_t t;
  if (pthread_create(&t, NULL, spinner, (void*)7) != 0) return 2;
  while (!atomic_load(&g_spinning)) sched_yield();
  usleep(20000);
  atomic_store_explicit(&g_flag, 1, memory_order_release);
  void* got = NULL;
  pthread_join(t, &got);
  return got == (void*)7 ? 0 : 3;
}

static int child_status(pid_t pid) {
  int status = -1;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pid_t pid = fork();
  if (pid == 0) {
    /* Still no thread: fork once more, and spin in the grandchild first. */
    pid_t grandchild = fork();
    if (grandchild == 0) _exit(spin_and_stop());
    int g = child_status(grandchild);
    int c = spin_and_stop();
    _exit(g != 0 ? 10 + g : c);
  }
  int c = child_status(pid);
  CHECK(c == 0, "child and grandchild: main ran while a thread spun", "status %d", c);
  /* And the parent, which forked before its first thread. */
  int p = spin_and_stop();
  CHECK(p == 0, "parent after the fork: main ran while a thread spun", "status %d", p);
  return g_failures ? 1 : 0;
}
