// SPDX-License-Identifier: MIT
/* A signal that reaches a thread while its handler for that signal runs
 * waits until the handler returns, and its handler then gets the siginfo it
 * was sent with, as natively: the timer's SI_TIMER and value, sigqueue's
 * SI_QUEUE and value. (haproxy's watchdog runs one SIGEV_SIGNAL timer per
 * thread, all on SIGALRM, and panics on a SIGALRM whose si_code says
 * pthread_kill: the shim kept a signal for a thread as a bare bit, and gave
 * it, when the thread's handler returned, a pthread_kill's siginfo.)
 *
 * main blocks SIGUSR1, SIGUSR2, SIGALRM and SIGHUP; one worker takes them,
 * parked in a read when the first comes. Its handler, for the first
 * (SIGUSR1 by sigqueue, value 1), blocks the others (sa_mask), sends SIGUSR2
 * by sigqueue (value 2) and arms a SIGALRM timer (value 3), then waits in a
 * read until main has sent SIGHUP (value 4) and let it go: all three come
 * after it returns, each once (distinct signals: a standard signal pending
 * already is not queued again). The worker is the only thread that takes
 * them, so each comes to it. (main pauses 20 ms before it lets the handler
 * go, so that under the shim the SIGHUP reaches the parked handler; the
 * checks hold either way.) */
#include "common.h"

#include <time.h>

enum { kWant = 4 };
static int g_pipe[2], g_ready[2], g_hold[2];
static timer_t g_timer;
static volatile sig_atomic_t g_n;
static struct { int sig, code, value; } g_got[8];

static void on_signal(int sig, siginfo_t* si, void* uc) {
  (void)uc;
  int n = g_n;
  if (n < 8) {
    g_got[n].sig = sig;
    g_got[n].code = si->si_code;
    g_got[n].value = si->si_value.sival_int;
  }
  g_n = n + 1;
  if (sig == SIGUSR1) {
    union sigval v = {.sival_int = 2};
    sigqueue(getpid(), SIGUSR2, v);
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_nsec = 1;
    timer_settime(g_timer, 0, &its, NULL);
    (void)!write(g_ready[1], "r", 1);
    char c;
    while (read(g_hold[0], &c, 1) < 0 && errno == EINTR) {
    }
  }
  if (g_n == kWant) (void)!write(g_pipe[1], "x", 1);
}

static const int kSigs[] = {SIGUSR1, SIGUSR2, SIGALRM, SIGHUP};

static void signal_set(sigset_t* s) {
  sigemptyset(s);
  for (int i = 0; i < 4; i++) sigaddset(s, kSigs[i]);
}

static void* worker(void* arg) {
  (void)arg;
  sigset_t s;
  signal_set(&s);
  pthread_sigmask(SIG_UNBLOCK, &s, NULL);
  tasks_sample();
  char c;
  ssize_t r;
  do r = read(g_pipe[0], &c, 1);
  while (r < 0 && errno == EINTR);
  return NULL;
}

static const char* code_name(int code) {
  switch (code) {
    case SI_QUEUE:
      return "SI_QUEUE";
    case SI_TIMER:
      return "SI_TIMER";
    case SI_TKILL:
      return "SI_TKILL";
    case SI_USER:
      return "SI_USER";
    default:
      return "other";
  }
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (pipe(g_pipe) != 0 || pipe(g_ready) != 0 || pipe(g_hold) != 0) return 2;
  sigset_t s;
  signal_set(&s);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sa.sa_mask = s;
  for (int i = 0; i < 4; i++) sigaction(kSigs[i], &sa, NULL);
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGALRM;
  sev.sigev_value.sival_int = 3;
  if (timer_create(CLOCK_MONOTONIC, &sev, &g_timer) != 0) return 2;
  pthread_t t;
  pthread_create(&t, NULL, worker, NULL);
  tasks_sample();
  union sigval v = {.sival_int = 1};
  sigqueue(getpid(), SIGUSR1, v);
  char c;
  while (read(g_ready[0], &c, 1) < 0 && errno == EINTR) {
  }
  v.sival_int = 4;
  sigqueue(getpid(), SIGHUP, v);
  usleep(20000);
  (void)!write(g_hold[1], "h", 1);
  pthread_join(t, NULL);
  timer_delete(g_timer);
  CHECK(g_n == kWant, "four signals handled", "%d", (int)g_n);
  /* the three sent during the handler come in any order */
  int queue2 = 0, timer3 = 0, queue4 = 0;
  for (int i = 1; i < g_n && i < 8; i++) {
    if (g_got[i].sig == SIGUSR2 && g_got[i].code == SI_QUEUE && g_got[i].value == 2) queue2++;
    if (g_got[i].sig == SIGALRM && g_got[i].code == SI_TIMER && g_got[i].value == 3) timer3++;
    if (g_got[i].sig == SIGHUP && g_got[i].code == SI_QUEUE && g_got[i].value == 4) queue4++;
  }
  printf("first: %s %d\n", code_name(g_got[0].code), g_got[0].value);
  CHECK(queue2 == 1, "the sigqueue sent in the handler came with SI_QUEUE and its value",
        "%s %d, %s %d, %s %d", code_name(g_got[1].code), g_got[1].value, code_name(g_got[2].code),
        g_got[2].value, code_name(g_got[3].code), g_got[3].value);
  CHECK(timer3 == 1, "the timer that fired in the handler came with SI_TIMER and its value",
        "%s %d, %s %d, %s %d", code_name(g_got[1].code), g_got[1].value, code_name(g_got[2].code),
        g_got[2].value, code_name(g_got[3].code), g_got[3].value);
  CHECK(queue4 == 1, "the sigqueue sent by main while the handler waited came with its value",
        "%s %d, %s %d, %s %d", code_name(g_got[1].code), g_got[1].value, code_name(g_got[2].code),
        g_got[2].value, code_name(g_got[3].code), g_got[3].value);
  return g_failures ? 1 : 0;
}
