// SPDX-License-Identifier: MIT
// The System V and BSD names for installing handlers and changing the mask
// (signal, sysv_signal, sigset, sighold, sigpause, sigblock, siginterrupt,
// ...). Each does its work through sigaction_impl, sigprocmask_impl and
// sigsuspend_impl (shim/signal_calls.h), as glibc's do through its internal
// __sigaction, __sigprocmask and __sigsuspend: glibc's own would reach the
// kernel without the hooks, so that a held signal would be the carrier's
// (every green thread running there) and last only until the next switch,
// a handler would not go behind the trampoline, and sigpause would block
// the carrier.
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "shim/signal_calls.h"
#include "shim/state.h"
#include "shim/thread_registry.h"

using namespace gh::shim;

namespace {

// The BSD int mask, bit sig-1 for signals 1..32, to and from a sigset_t
// (glibc's sigset_set_old_mask / sigset_get_old_mask).
sigset_t from_bsd_mask(int mask) {
  sigset_t set;
  sigemptyset(&set);
  unsigned long word = static_cast<unsigned int>(mask);
  std::memcpy(&set, &word, sizeof word);
  return set;
}

int to_bsd_mask(const sigset_t& set) {
  unsigned long word;
  std::memcpy(&word, &set, sizeof word);
  return static_cast<int>(static_cast<unsigned int>(word));
}

// One signal added to or taken from the mask; -1 with EINVAL for a signal
// sigaddset refuses (out of range, or one of glibc's internal two).
int change_one(int how, int sig) {
  sigset_t one;
  sigemptyset(&one);
  if (sigaddset(&one, sig) < 0) return -1;
  return sigprocmask_impl(how, &one, nullptr);
}

int bsd_mask_call(int how, int mask) {
  sigset_t set = from_bsd_mask(mask), old;
  if (sigprocmask_impl(how, &set, &old) != 0) return -1;
  return to_bsd_mask(old);
}

// glibc's __sigpause: X/Open (is_sig) waits with sig taken out of the
// current mask, BSD with the given int mask as the whole mask.
int sigpause_impl(int sig_or_mask, int is_sig) {
  sigset_t set;
  if (is_sig) {
    sigprocmask_impl(SIG_BLOCK, nullptr, &set);
    if (sigdelset(&set, sig_or_mask) < 0) return -1;
  } else {
    set = from_bsd_mask(sig_or_mask);
  }
  return sigsuspend_impl(&set);
}

}  // namespace

// The signals siginterrupt made interrupting (glibc's _sigintr): signal()
// installs their handlers without SA_RESTART. Bit sig-1.
std::atomic<uint64_t> g_interrupting{0};

static sighandler_t signal_impl(int sig, sighandler_t handler) {
  ensure_real();
  if (!threads_green()) return real::signal(sig, handler);
  sigset_t probe;
  if (handler == SIG_ERR || sigemptyset(&probe) != 0 || sigaddset(&probe, sig) != 0) {
    errno = EINVAL;  // out of range, or one of glibc's internal signals
    return SIG_ERR;
  }
  // glibc's signal() has BSD semantics: SA_RESTART unless siginterrupt said
  // otherwise, the signal not blocked beyond itself.
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, sig);
  bool interrupting = g_interrupting.load(std::memory_order_relaxed) & (uint64_t{1} << (sig - 1));
  sa.sa_flags = interrupting ? 0 : SA_RESTART;
  struct sigaction old {};
  if (sigaction_impl(sig, &sa, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

GH_EXPORT sighandler_t signal(int sig, sighandler_t handler) { return signal_impl(sig, handler); }

GH_EXPORT sighandler_t ssignal(int sig, sighandler_t handler) { return signal_impl(sig, handler); }

// __sysv_signal is what signal() becomes in a program built with -std=c99
// or c11 and no _DEFAULT_SOURCE.

GH_EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler) {
  return signal_impl(sig, handler);
}

// System V semantics: the disposition resets to SIG_DFL when the handler
// runs, and the signal is not blocked meanwhile.
static sighandler_t sysv_signal_impl(int sig, sighandler_t handler) {
  if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
    errno = EINVAL;
    return SIG_ERR;
  }
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND | SA_NODEFER;
  struct sigaction old {};
  if (sigaction_impl(sig, &sa, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

GH_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t handler) {
  return sysv_signal_impl(sig, handler);
}

GH_EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler) {
  return sysv_signal_impl(sig, handler);
}

// System V sigset: SIG_HOLD blocks the signal; any other disposition is
// installed and the signal unblocked. Returns SIG_HOLD if it was blocked,
// else the previous disposition (the contract of glibc's sigset).
GH_EXPORT sighandler_t sigset(int sig, sighandler_t disp) {
  sigset_t one, old;
  if (sigemptyset(&one) != 0 || sigaddset(&one, sig) != 0) {
    errno = EINVAL;
    return SIG_ERR;
  }
  if (disp == SIG_HOLD) {
    if (sigprocmask_impl(SIG_BLOCK, &one, &old) != 0) return SIG_ERR;
    if (sigismember(&old, sig)) return SIG_HOLD;
    struct sigaction cur {};
    if (sigaction_impl(sig, nullptr, &cur) != 0) return SIG_ERR;
    return cur.sa_handler;
  }
  struct sigaction sa {
  }, prev{};
  sa.sa_handler = disp;
  sigemptyset(&sa.sa_mask);
  if (sigaction_impl(sig, &sa, &prev) != 0) return SIG_ERR;
  if (sigprocmask_impl(SIG_UNBLOCK, &one, &old) != 0) return SIG_ERR;
  return sigismember(&old, sig) ? SIG_HOLD : prev.sa_handler;
}

// SysV hold and release: the signal blocked or unblocked for the caller.
GH_EXPORT int sighold(int sig) { return change_one(SIG_BLOCK, sig); }
GH_EXPORT int sigrelse(int sig) { return change_one(SIG_UNBLOCK, sig); }

GH_EXPORT int sigignore(int sig) {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  return sigaction_impl(sig, &sa, nullptr);
}

// sigpause is the BSD one (a mask), the name the headers give programs
// built for X/Open is __xpg_sigpause (one signal); both are cancellation
// points through sigsuspend_impl.
GH_EXPORT int __sigpause(int sig_or_mask, int is_sig) { return sigpause_impl(sig_or_mask, is_sig); }
// (<signal.h> renames sigpause to __xpg_sigpause for C++, so the BSD one is
// defined under another name with the symbol given by hand.)
GH_EXPORT int bsd_sigpause(int mask) __asm__("sigpause");
GH_EXPORT int bsd_sigpause(int mask) { return sigpause_impl(mask, 0); }
GH_EXPORT int __xpg_sigpause(int sig) { return sigpause_impl(sig, 1); }

// The BSD mask calls return the old mask's signals 1..32 as bits.
GH_EXPORT int sigblock(int mask) { return bsd_mask_call(SIG_BLOCK, mask); }
GH_EXPORT int sigsetmask(int mask) { return bsd_mask_call(SIG_SETMASK, mask); }
GH_EXPORT int siggetmask(void) { return bsd_mask_call(SIG_BLOCK, 0); }

// Whether sig's handler interrupts the calls SA_RESTART would restart.
GH_EXPORT int siginterrupt(int sig, int interrupt) {
  struct sigaction sa;
  if (sigaction_impl(sig, nullptr, &sa) < 0) return -1;
  uint64_t bit = uint64_t{1} << (sig - 1);
  if (interrupt) {
    g_interrupting.fetch_or(bit, std::memory_order_relaxed);
    sa.sa_flags &= ~SA_RESTART;
  } else {
    g_interrupting.fetch_and(~bit, std::memory_order_relaxed);
    sa.sa_flags |= SA_RESTART;
  }
  return sigaction_impl(sig, &sa, nullptr) < 0 ? -1 : 0;
}
