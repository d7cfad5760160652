// Signals: the program's handlers run through a trampoline that lets the
// carrier know a handler ran, so that a green thread parked in an
// interruptible call gets EINTR as a native blocked call would (signal(7):
// sleeps and waits for readiness always, socket calls unless SA_RESTART and
// no SO_*TIMEO). Inside a handler every hook passes through.
#include <signal.h>

#include <atomic>
#include <cerrno>

#include "core/carrier.h"
#include "shim/green_pthread.h"
#include "shim/state.h"
#include "shim/user_mem.h"

using namespace gh::shim;

namespace {

struct UserHandler {
  std::atomic<void*> fn{nullptr};
  std::atomic<int> flags{0};
};
UserHandler g_handlers[NSIG];

void trampoline(int sig, siginfo_t* info, void* uc) {
  const UserHandler& h = g_handlers[sig];
  void* fn = h.fn.load(std::memory_order_acquire);
  int flags = h.flags.load(std::memory_order_relaxed);
  t_bypass++;
  if (flags & SA_SIGINFO)
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(fn)(sig, info, uc);
  else
    reinterpret_cast<void (*)(int)>(fn)(sig);
  t_bypass--;
  if (gh::Carrier* c = gh::Carrier::current()) c->signal_arrived(flags & SA_RESTART);
}

bool is_function(const struct sigaction& sa) {
  return (sa.sa_flags & SA_SIGINFO) ||
         (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
}

void* handler_of(const struct sigaction& sa) {
  return (sa.sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(sa.sa_sigaction)
                                    : reinterpret_cast<void*>(sa.sa_handler);
}

}  // namespace

GH_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* oact) {
  ensure_real();
  if (!threads_green() || sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
    return real::sigaction(sig, act, oact);
  struct sigaction want;
  if (act && copy_from_user(&want, act, sizeof want) != 0) {
    errno = EFAULT;
    return -1;
  }
  UserHandler& h = g_handlers[sig];
  void* prev_fn = h.fn.load(std::memory_order_acquire);
  int prev_flags = h.flags.load(std::memory_order_relaxed);
  struct sigaction install;
  const struct sigaction* to_kernel = nullptr;
  if (act) {
    install = want;
    if (is_function(want)) {
      h.flags.store(want.sa_flags, std::memory_order_relaxed);
      h.fn.store(handler_of(want), std::memory_order_release);
      install.sa_sigaction = &trampoline;
      install.sa_flags |= SA_SIGINFO;
    }
    to_kernel = &install;
  }
  struct sigaction old;
  int r = real::sigaction(sig, to_kernel, &old);
  if (r != 0) {
    if (act && is_function(want)) {  // put the table back as it was
      h.flags.store(prev_flags, std::memory_order_relaxed);
      h.fn.store(prev_fn, std::memory_order_release);
    }
    return r;
  }
  if (oact) {
    if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == &trampoline) {
      // Report the program's own handler, not the trampoline.
      old.sa_flags = prev_flags;
      if (prev_flags & SA_SIGINFO)
        old.sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(prev_fn);
      else
        old.sa_handler = reinterpret_cast<void (*)(int)>(prev_fn);
    }
    if (copy_to_user(oact, &old, sizeof old) != 0) {
      errno = EFAULT;
      return -1;
    }
  }
  return 0;
}

GH_EXPORT sighandler_t signal(int sig, sighandler_t handler) {
  ensure_real();
  if (!threads_green()) return real::signal(sig, handler);
  // glibc's signal() has BSD semantics: SA_RESTART, the signal not blocked
  // beyond itself.
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, sig);
  sa.sa_flags = SA_RESTART;
  struct sigaction old {};
  if (sigaction(sig, &sa, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}
