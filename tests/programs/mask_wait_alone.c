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
 * reloaded or stopped. */
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

static int wait_once(const char* call, int ep, const sigset_t* empty) {
  struct timespec ts = {5, 0};
  struct epoll_event ev;
  if (!strcmp(call, "ppoll")) return ppoll(NULL, 0, &ts, empty);
  if (!strcmp(call, "pselect")) return pselect(0, NULL, NULL, NULL, &ts, empty);
  if (!strcmp(call, "epoll_pwait")) return epoll_pwait(ep, &ev, 1, 5000, empty);
  return sigsuspend(empty);
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
  close(ep);
  alarm(0);
  return g_failures ? 1 : 0;
}
