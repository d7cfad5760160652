// SPDX-License-Identifier: MIT
/* A server's master loop, as nginx's: it blocks its control signals and
 * waits for them in sigsuspend (or ppoll, pselect, epoll_pwait) with an
 * empty mask; each wait runs the handlers of what came and returns EINTR.
 *
 * The process has started the runtime (a rwlock, as OpenSSL's start-up in
 * nginx's master takes, then a thread made and joined), so main is a green
 * thread, alone on its carrier: the shim passes these calls to libc. It
 * used to leave the thread's mask as it was before the call, so every
 * signal the call let through found the thread blocking it, was put back as
 * pending and ended the wait without its handler: the master spun and never
 * reloaded or stopped.
 *
 * Then the other way round: a signal the thread lets through but the call's
 * mask blocks (a timer's, firing during the wait) comes as the call
 * returns, once the kernel has put the thread's mask back. The shim took it
 * for blocked then, put it back as pending and blocked it: a loop of such
 * waits (stress-ng's epoll server) never ran its handler. */
#include "common.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>

static const int kSigs[] = {SIGHUP, SIGQUIT, SIGTERM, SIGUSR2};
enum { kNSigs = 4, kMaxRounds = 50 };
static volatile sig_atomic_t g_got[NSIG];

static void on_signal(int sig) { g_got[sig]++; }

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL: a wait never ran the handlers (30 s)\n";
  (void)!write(1, msg, sizeof msg - 1);
  _exit(1);
}

static void* nothing(void* arg) { return arg; }

static int wait_ms(const char* call, int ep, const sigset_t* mask, int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  struct epoll_event ev;
  if (!strcmp(call, "ppoll")) return ppoll(NULL, 0, &ts, mask);
  if (!strcmp(call, "pselect")) return pselect(0, NULL, NULL, NULL, &ts, mask);
  if (!strcmp(call, "epoll_pwait")) return epoll_pwait(ep, &ev, 1, ms, mask);
  return sigsuspend(mask);
}

static int wait_once(const char* call, int ep, const sigset_t* empty) {
  return wait_ms(call, ep, empty, 5000);
}

static volatile sig_atomic_t g_timer_sig;
static void on_timer_sig(int sig) {
  (void)sig;
  g_timer_sig++;
}

/* The call's mask blocks SIGUSR1, the thread does not: a timer sends it 10
 * ms into a wait of 200 ms (were the process held up until then, it comes
 * before the wait, and the check holds as well). */
static void run_call_blocks(const char* call, int ep) {
  g_timer_sig = 0;
  sigset_t mask;
  sigprocmask(SIG_BLOCK, NULL, &mask);
  sigaddset(&mask, SIGUSR1);
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGUSR1;
  timer_t timer;
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
    printf("FAIL: timer_create: %s\n", strerror(errno));
    g_failures++;
    return;
  }
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_nsec = 10 * 1000 * 1000;
  timer_settime(timer, 0, &its, NULL);
  int rounds = 0;
  while (!g_timer_sig && rounds < 25) {
    wait_ms(call, ep, &mask, 200);
    rounds++;
  }
  timer_delete(timer);
  sigset_t now;
  sigprocmask(SIG_BLOCK, NULL, &now);
  char label[96];
  snprintf(label, sizeof label, "%s: a signal only the call's mask blocks runs its handler", call);
  CHECK(g_timer_sig == 1, label, "it ran %d times in %d waits", (int)g_timer_sig, rounds);
  snprintf(label, sizeof label, "%s: the thread does not block it afterwards", call);
  CHECK(!sigismember(&now, SIGUSR1), label, "SIGUSR1 is blocked");
}

static void run(const char* call, int ep) {
  memset((void*)g_got, 0, sizeof g_got);
  pid_t parent = getpid();
  pid_t child = fork();
  if (child == 0) {
    for (int i = 0; i < kNSigs; i++) kill(parent, kSigs[i]);
    _exit(0); /* and SIGCHLD */
  }
  sigset_t empty;
  sigemptyset(&empty);
  int rounds = 0, handled = 0, eintr = 1;
  while (handled < kNSigs + 1 && rounds < kMaxRounds) {
    errno = 0;
    int r = wait_once(call, ep, &empty);
    if (r != -1 || errno != EINTR) eintr = 0;
    rounds++;
    handled = g_got[SIGCHLD];
    for (int i = 0; i < kNSigs; i++) handled += g_got[kSigs[i]];
  }
  waitpid(child, NULL, 0);
  char label[64];
  snprintf(label, sizeof label, "%s: each handler ran once", call);
  CHECK(g_got[SIGHUP] == 1 && g_got[SIGQUIT] == 1 && g_got[SIGTERM] == 1 && g_got[SIGUSR2] == 1 &&
            g_got[SIGCHLD] == 1,
        label, "HUP %d QUIT %d TERM %d USR2 %d CHLD %d after %d waits", g_got[SIGHUP],
        g_got[SIGQUIT], g_got[SIGTERM], g_got[SIGUSR2], g_got[SIGCHLD], rounds);
  snprintf(label, sizeof label, "%s: each wait ended with EINTR", call);
  CHECK(eintr, label, "a wait returned otherwise");
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
  pthread_rwlock_wrlock(&rw);
  pthread_rwlock_unlock(&rw);
  pthread_t t;
  pthread_create(&t, NULL, nothing, NULL);
  pthread_join(t, NULL);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigset_t set;
  sigemptyset(&set);
  for (int i = 0; i < kNSigs; i++) {
    sigaction(kSigs[i], &sa, NULL);
    sigaddset(&set, kSigs[i]);
  }
  sigaction(SIGCHLD, &sa, NULL);
  sigaddset(&set, SIGCHLD);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  sigprocmask(SIG_BLOCK, &set, NULL);
  alarm(30);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  const char* calls[] = {"sigsuspend", "ppoll", "pselect", "epoll_pwait"};
  for (int i = 0; i < 4; i++) run(calls[i], ep);
  sa.sa_handler = on_timer_sig;
  sigaction(SIGUSR1, &sa, NULL);
  for (int i = 1; i < 4; i++) run_call_blocks(calls[i], ep);
  close(ep);
  alarm(0);
  return g_failures ? 1 : 0;
}
