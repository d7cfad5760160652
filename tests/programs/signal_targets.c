// SPDX-License-Identifier: MIT
/* Which thread a signal's handler runs in, and whether it runs.
 *
 * 1. A process-directed signal (kill) that main and three other threads
 *    block goes to the one thread that does not block it, parked in a read
 *    on another carrier or not: its handler runs there each time, main's
 *    never (the shim looked only at main, the carrier's running thread and
 *    its own waits, and otherwise ran the handler as main).
 * 2. A handler replaced by SIG_IGN (sigaction, sigignore) no longer runs for
 *    a thread parked in a read that is then sent the signal with
 *    pthread_kill (the shim ran the old one from its table).
 * 4. SA_SIGINFO with SIG_IGN is ignoring, not a handler (the shim installed
 *    its trampoline with a null handler, and SIGWINCH crashed the process).
 * 3. A one-shot (SA_RESETHAND) handler installed again and again for 1 s
 *    while a child process sends the signal in pairs and three threads
 *    sleep: deliveries that race with the reset find a handler to call (the
 *    shim called a null one when its table was cleared by the reset).
 */
#include "common.h"

#include <stdatomic.h>
#include <sys/wait.h>

static __thread int t_who = -1; /* 0 main, 1..3 holders, 4 the taker */
static atomic_int g_ran[5];

static void count_where(int sig) {
  (void)sig;
  if (t_who >= 0 && t_who < 5) atomic_fetch_add(&g_ran[t_who], 1);
}

static int g_stop[2];
static atomic_int g_ready;

static void block_usr1(int how) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  pthread_sigmask(how, &s, NULL);
}

static void* holder(void* p) {
  t_who = (int)(intptr_t)p;
  atomic_fetch_add(&g_ready, 1);
  char c;
  ssize_t r = read(g_stop[0], &c, 1); /* parked until the end */
  (void)r;
  return NULL;
}

static void* taker(void* p) {
  t_who = (int)(intptr_t)p;
  block_usr1(SIG_UNBLOCK);
  atomic_fetch_add(&g_ready, 1);
  char c;
  ssize_t r = read(g_stop[0], &c, 1); /* SA_RESTART: handlers run, it reads on */
  (void)r;
  return NULL;
}

static void process_directed(void) {
  struct sigaction sa = {0};
  sa.sa_handler = count_where;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  t_who = 0;
  block_usr1(SIG_BLOCK); /* inherited by the threads */
  if (pipe(g_stop) != 0) exit(2);
  pthread_t t[4];
  for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, holder, (void*)(intptr_t)(i + 1));
  pthread_create(&t[3], NULL, taker, (void*)(intptr_t)4);
  while (atomic_load(&g_ready) < 4) usleep(1000);
  for (int i = 1; i <= 10; i++) {
    kill(getpid(), SIGUSR1);
    for (int w = 0; w < 5000 && atomic_load(&g_ran[4]) + atomic_load(&g_ran[0]) < i; w++)
      usleep(1000);
  }
  if (write(g_stop[1], "xxxx", 4) != 4) g_failures++;
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  printf("kill x10: the taker ran %d, main %d, the holders %d %d %d\n", atomic_load(&g_ran[4]),
         atomic_load(&g_ran[0]), atomic_load(&g_ran[1]), atomic_load(&g_ran[2]),
         atomic_load(&g_ran[3]));
  block_usr1(SIG_UNBLOCK);
  signal(SIGUSR1, SIG_DFL);
  close(g_stop[0]);
  close(g_stop[1]);
}

/* ---- 2 ---- */

/* sigignore is what is tested here, deprecated or not. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static atomic_int g_old_ran, g_parked;
static int g_wake[2];

static void old_handler(int sig) {
  (void)sig;
  atomic_fetch_add(&g_old_ran, 1);
}

static void* parked_reader(void* unused) {
  (void)unused;
  atomic_store(&g_parked, 1);
  char c;
  ssize_t r = read(g_wake[0], &c, 1);
  (void)r;
  return NULL;
}

static void replaced(int use_sigignore) {
  struct sigaction sa = {0};
  sa.sa_handler = old_handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, NULL);
  atomic_store(&g_old_ran, 0);
  atomic_store(&g_parked, 0);
  if (pipe(g_wake) != 0) exit(2);
  pthread_t t;
  pthread_create(&t, NULL, parked_reader, NULL);
  while (!atomic_load(&g_parked)) usleep(1000);
  usleep(2000); /* most likely in its read by now; if not, the kernel ignores it too */
  if (use_sigignore) {
    sigignore(SIGUSR2);
  } else {
    sa.sa_handler = SIG_IGN;
    sigaction(SIGUSR2, &sa, NULL);
  }
  pthread_kill(t, SIGUSR2);
  if (write(g_wake[1], "x", 1) != 1) g_failures++;
  pthread_join(t, NULL);
  printf("%s, then pthread_kill: the old handler ran %d\n",
         use_sigignore ? "sigignore" : "sigaction SIG_IGN", atomic_load(&g_old_ran));
  signal(SIGUSR2, SIG_DFL);
  close(g_wake[0]);
  close(g_wake[1]);
}

/* ---- 3 ---- */

static atomic_int g_oneshot_hits, g_sleepers_stop;

static void oneshot(int sig) {
  (void)sig;
  atomic_fetch_add(&g_oneshot_hits, 1);
}

static void* sleeper(void* unused) {
  (void)unused;
  while (!atomic_load(&g_sleepers_stop)) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static void reinstalled_one_shot(void) {
  pthread_t t[3];
  for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, sleeper, NULL);
  struct sigaction sa = {0};
  sa.sa_handler = oneshot;
  sa.sa_flags = SA_RESETHAND | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGURG, &sa, NULL);
  pid_t parent = getpid();
  pid_t child = fork();
  if (child == 0) {
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += 1;
    for (;;) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
        break;
      kill(parent, SIGURG);
      kill(parent, SIGURG);
      usleep(50);
    }
    _exit(0);
  }
  int status = 0;
  while (waitpid(child, &status, WNOHANG) == 0) {
    sigaction(SIGURG, &sa, NULL);
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
  }
  atomic_store(&g_sleepers_stop, 1);
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  signal(SIGURG, SIG_DFL);
  printf("a one-shot handler installed again while signals arrive: handled some %d, child %d\n",
         atomic_load(&g_oneshot_hits) > 0, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(void) {
  test_start();
  process_directed();
  replaced(0);
  replaced(1);
  reinstalled_one_shot();
  struct sigaction ign = {0};
  ign.sa_handler = SIG_IGN;
  ign.sa_flags = SA_SIGINFO;
  sigaction(SIGWINCH, &ign, NULL);
  raise(SIGWINCH);
  struct sigaction cur;
  sigaction(SIGWINCH, NULL, &cur);
  printf("SA_SIGINFO with SIG_IGN: survived a SIGWINCH, disposition %s\n",
         cur.sa_handler == SIG_IGN ? "SIG_IGN" : "other");
  return test_end();
}
