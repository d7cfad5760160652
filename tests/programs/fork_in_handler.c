// SPDX-License-Identifier: MIT
/* A process forked inside a signal handler (a server's SIGCHLD handler that
 * starts a new worker, as PostgreSQL's postmaster does) is not itself in a
 * handler: it unblocks what the handler's mask blocked, installs handlers
 * and waits for signals like any process. Here a thread has run first (so
 * that the shim has started), SIGUSR1's handler (sa_mask {SIGTERM}) forks,
 * and the child unblocks every signal, reports its mask, waits for SIGTERM
 * in sigsuspend and exits 0 when its handler ran. The parent sends SIGTERM
 * once the child is ready. Under the shim the child's hooks used to pass
 * straight through, as in a handler: its mask was not its own and SIGTERM
 * stayed blocked and pending for ever. */
#include "common.h"

#include <sys/wait.h>

static volatile sig_atomic_t g_term, g_alarm;
static pid_t g_child;
static int g_ready[2];

static void on_term(int sig) {
  (void)sig;
  g_term = 1;
}
static void on_alarm(int sig) {
  (void)sig;
  g_alarm = 1;
}

static void child_main(void) {
  sigset_t none, cur;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  sigprocmask(SIG_BLOCK, NULL, &cur);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  char blocked = sigismember(&cur, SIGTERM) ? 'B' : 'u';
  if (write(g_ready[1], &blocked, 1) != 1) _exit(4);
  alarm(20); /* a bound, not a wait: SIGTERM comes at once */
  while (!g_term && !g_alarm) sigsuspend(&none);
  _exit(g_term ? 0 : 3);
}

static void on_usr1(int sig) {
  (void)sig;
  pid_t p = fork();
  if (p == 0) child_main();
  g_child = p;
}

static void* nothing(void* arg) { return arg; }

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pthread_t t;
  pthread_create(&t, NULL, nothing, NULL);
  pthread_join(t, NULL);
  if (pipe(g_ready) != 0) return 2;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGTERM);
  sigaction(SIGUSR1, &sa, NULL);
  raise(SIGUSR1);
  CHECK(g_child > 0, "the handler forked", "fork returned %d", (int)g_child);
  char blocked = '?';
  ssize_t n = read(g_ready[0], &blocked, 1);
  CHECK(n == 1 && blocked == 'u', "the child's mask no longer blocks SIGTERM", "read %zd, %c", n,
        blocked);
  kill(g_child, SIGTERM);
  int status = 0;
  waitpid(g_child, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child took SIGTERM",
        "status %#x (exit 3: SIGTERM never handled)", status);
  return g_failures ? 1 : 0;
}
