// SPDX-License-Identifier: MIT
/* Real-time signals sent to a thread that blocks them queue, one instance
 * per send, each with its own siginfo, and come out lowest signal number
 * first, in the order sent within a number; a standard signal pending
 * already is not queued again (signal(7)). The shim kept a signal for a
 * green thread as one bit, so the second and later instances of a
 * real-time signal were lost.
 *
 * One worker blocks SIGUSR1 and two real-time signals and waits in a read
 * while main sends to it with pthread_sigqueue (values) and pthread_kill.
 * The worker then takes them three ways: sigtimedwait one at a time, its
 * handler when it unblocks them, and a signalfd read that returns several.
 * Last, it forks with a signal pending for it: the child starts with none,
 * and the parent's stays. */
#include "common.h"

#include <sys/signalfd.h>
#include <sys/wait.h>

static int g_go[2], g_done[2];
static pthread_t g_worker;
static int g_rt1, g_rt2;
static volatile sig_atomic_t g_n;
static struct { int sig, code, value; } g_got[32];

static volatile sig_atomic_t g_n_main;

static void on_signal(int sig, siginfo_t* si, void* uc) {
  (void)uc;
  if (pthread_equal(pthread_self(), g_worker) == 0) {
    g_n_main++;
    return;
  }
  int n = g_n;
  if (n < 32) {
    g_got[n].sig = sig;
    g_got[n].code = si->si_code;
    g_got[n].value = si->si_code == SI_QUEUE ? si->si_value.sival_int : -1;
  }
  g_n = n + 1;
}

static const char* name(int sig) {
  static char buf[16];
  if (sig == SIGUSR1) return "SIGUSR1";
  if (sig == SIGUSR2) return "SIGUSR2";
  snprintf(buf, sizeof buf, "SIGRTMIN+%d", sig - SIGRTMIN);
  return buf;
}

static const char* code_name(int code) {
  return code == SI_QUEUE ? "SI_QUEUE" : code == SI_TKILL ? "SI_TKILL" : "other";
}

static void wait_for_go(void) {
  char c;
  while (read(g_go[0], &c, 1) < 0 && errno == EINTR) {
  }
}

static void send_value(int sig, int value) {
  union sigval v = {.sival_int = value};
  int rc = pthread_sigqueue(g_worker, sig, v);
  if (rc != 0) printf("pthread_sigqueue(%s, %d): %s\n", name(sig), value, errname(rc));
}

/* Sends, while the worker waits: SIGRTMIN+2 twice, SIGUSR1 twice (the
 * second is not queued), SIGRTMIN+1 three times and once by pthread_kill. */
static void send_round(int base) {
  send_value(g_rt2, base + 1);
  send_value(SIGUSR1, base + 2);
  send_value(g_rt1, base + 3);
  send_value(SIGUSR1, base + 4);
  send_value(g_rt1, base + 5);
  send_value(g_rt2, base + 6);
  pthread_kill(g_worker, g_rt1);
  send_value(g_rt1, base + 7);
}

static void print_pending(const char* label) {
  sigset_t p;
  sigpending(&p);
  printf("%s pending: SIGUSR1=%d SIGUSR2=%d rt1=%d rt2=%d\n", label, sigismember(&p, SIGUSR1),
         sigismember(&p, SIGUSR2), sigismember(&p, g_rt1), sigismember(&p, g_rt2));
}

static void* worker(void* arg) {
  (void)arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, g_rt1);
  sigaddset(&set, g_rt2);

  /* 1: one at a time with sigtimedwait. */
  wait_for_go();
  tasks_sample();
  print_pending("sigtimedwait: before");
  struct timespec zero = {0, 0};
  for (;;) {
    siginfo_t si;
    int sig = sigtimedwait(&set, &si, &zero);
    if (sig < 0) {
      printf("sigtimedwait: then %s\n", errname(errno));
      break;
    }
    printf("sigtimedwait: %s %s %d\n", name(sig), code_name(si.si_code),
           si.si_code == SI_QUEUE ? si.si_value.sival_int : -1);
  }

  /* 2: the handler, as the mask lets them through. */
  (void)!write(g_done[1], "1", 1);
  wait_for_go();
  g_n = 0;
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  int n = g_n;
  for (int i = 0; i < n && i < 32; i++)
    printf("handler: %s %s %d\n", name(g_got[i].sig), code_name(g_got[i].code), g_got[i].value);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  /* 3: a signalfd read takes several at once. */
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  (void)!write(g_done[1], "2", 1);
  wait_for_go();
  struct signalfd_siginfo ssi[16];
  ssize_t got = read(sfd, ssi, sizeof ssi);
  printf("signalfd: read %zd entries\n", got < 0 ? got : got / (ssize_t)sizeof ssi[0]);
  for (ssize_t i = 0; got > 0 && i < got / (ssize_t)sizeof ssi[0]; i++)
    printf("signalfd: %s %s %d\n", name((int)ssi[i].ssi_signo), code_name(ssi[i].ssi_code),
           ssi[i].ssi_code == SI_QUEUE ? ssi[i].ssi_int : -1);
  close(sfd);
  print_pending("signalfd: after");

  /* 4: a fork child starts with nothing pending. */
  (void)!write(g_done[1], "3", 1);
  wait_for_go();
  print_pending("fork: parent before");
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t p;
    sigpending(&p);
    _exit(sigismember(&p, SIGUSR1) * 1 + sigismember(&p, g_rt1) * 2 + sigismember(&p, g_rt2) * 4);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  printf("fork: child pending bits %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  print_pending("fork: parent after");
  int left = 0;
  siginfo_t si;
  while (sigtimedwait(&set, &si, &zero) > 0) left++;
  printf("fork: parent took %d\n", left);
  return NULL;
}

int main(void) {
  g_rt1 = SIGRTMIN + 1;
  g_rt2 = SIGRTMIN + 2;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(g_rt1, &sa, NULL);
  sigaction(g_rt2, &sa, NULL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, g_rt1);
  sigaddset(&set, g_rt2);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* the worker inherits it */
  if (pipe(g_go) != 0 || pipe(g_done) != 0) return 2;
  pthread_create(&g_worker, NULL, worker, NULL);
  /* main takes them itself meanwhile, if they came to it: they do not. */
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  char c;
  send_round(0);
  (void)!write(g_go[1], "g", 1);
  (void)!read(g_done[0], &c, 1);
  send_round(10);
  (void)!write(g_go[1], "g", 1);
  (void)!read(g_done[0], &c, 1);
  send_round(20);
  (void)!write(g_go[1], "g", 1);
  (void)!read(g_done[0], &c, 1);
  send_value(SIGUSR1, 31);
  send_value(g_rt1, 32);
  send_value(g_rt1, 33);
  (void)!write(g_go[1], "g", 1);
  pthread_join(g_worker, NULL);
  CHECK(g_n_main == 0, "main took none", "%d", (int)g_n_main);

  /* 5: sigwaitinfo of a timer's signal gives the timer's id, overrun and
   * value (the shim's wait read them from a signalfd record, where they
   * are in fields of their own). */
  int rt3 = SIGRTMIN + 3;
  sigset_t tset;
  sigemptyset(&tset);
  sigaddset(&tset, rt3);
  pthread_sigmask(SIG_BLOCK, &tset, NULL);
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = rt3;
  ev.sigev_value.sival_int = 77;
  timer_t timer;
  if (timer_create(CLOCK_MONOTONIC, &ev, &timer) == 0) {
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_nsec = 1000;
    timer_settime(timer, 0, &its, NULL);
    siginfo_t si;
    int sig = sigwaitinfo(&tset, &si);
    CHECK(sig == rt3 && si.si_code == SI_TIMER && si.si_value.sival_int == 77 &&
              si.si_timerid == (int)(intptr_t)timer && si.si_overrun == 0,
          "timer siginfo", "sig %d code %d value %d timerid %d (want %d) overrun %d", sig,
          si.si_code, si.si_value.sival_int, si.si_timerid, (int)(intptr_t)timer, si.si_overrun);
    timer_delete(timer);
  }
  tasks_sample();
  return g_failures ? 1 : 0;
}
