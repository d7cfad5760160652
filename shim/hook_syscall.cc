// SPDX-License-Identifier: MIT
// syscall(): libc's generic system call entry. Most numbers pass straight
// through; SYS_futex waits and wakes on private futexes become the green
// futex (core/parking_lot.h), because libstdc++ waits this way
// (std::future, std::atomic::wait, std::latch, std::counting_semaphore,
// the guards of function-local statics): a real FUTEX_WAIT would block the
// carrier, and the green thread that would wake it never ran.
#include <linux/futex.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <atomic>
#include <cerrno>
#include <climits>

#include "core/clock.h"
#include "core/sys.h"
#include "core/parking_lot.h"
#include "shim/thread_registry.h"
#include "shim/state.h"
#include "shim/user_mem.h"

using namespace gh::shim;

namespace {

// Returns the result in syscall()'s convention (-1 and errno on failure),
// or sets *handled = false when the real system call must be made.
long green_futex(uint32_t* addr, int op, uint32_t val, const timespec* tmo, uint32_t val3,
                 bool* handled) {
  *handled = false;
  // libstdc++ uses shared (not _PRIVATE) futex operations on ordinary
  // memory. A shared futex may also be woken from another process, which
  // the green futex would not see: shared waits are therefore cut into
  // slices and end (as the spurious wake-up futex callers must expect) when
  // a slice passes. Wakes go to green and native waiters both.
  const bool shared = !(op & FUTEX_PRIVATE_FLAG);
  constexpr int64_t kSharedSliceNs = 10'000'000;
  int cmd = op & FUTEX_CMD_MASK;
  bool bitset_all = val3 == FUTEX_BITSET_MATCH_ANY;
  if (cmd == FUTEX_WAKE || (cmd == FUTEX_WAKE_BITSET && bitset_all)) {
    // Green waiters first; whatever is left may be a native waiter.
    int n = static_cast<int>(val > INT_MAX ? INT_MAX : val);
    int woke = gh::futex_wake(addr, n);
    long more = 0;
    if (woke < n) more = real::syscall(SYS_futex, addr, op, n - woke, nullptr, nullptr, val3);
    *handled = true;
    return woke + (more > 0 ? more : 0);
  }
  bool wait = cmd == FUTEX_WAIT || (cmd == FUTEX_WAIT_BITSET && bitset_all);
  if (!wait || alone_on_carrier()) return 0;
  uint32_t now;
  if (copy_from_user(&now, addr, sizeof now) != 0) {
    *handled = true;
    errno = EFAULT;
    return -1;
  }
  int64_t deadline = gh::kNoDeadline;
  if (tmo) {
    timespec ts;
    if (copy_from_user(&ts, tmo, sizeof ts) != 0 || !gh::valid_interval(ts)) {
      return 0;  // let the kernel give its EFAULT / EINVAL
    }
    if (cmd == FUTEX_WAIT) {
      deadline = gh::deadline_after(gh::timespec_ns(ts));  // relative, monotonic
    } else {
      clockid_t clk = (op & FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME : CLOCK_MONOTONIC;
      int64_t rel = gh::timespec_ns(ts) - gh::clock_ns(clk);
      deadline = gh::deadline_after(rel > 0 ? rel : 0);
    }
  }
  *handled = true;
  int64_t wait_until = deadline;
  if (shared) {
    int64_t slice = gh::deadline_after(kSharedSliceNs);
    if (wait_until < 0 || slice < wait_until) wait_until = slice;
  }
  // A handler ends the wait with EINTR as it ends the kernel's; one with
  // SA_RESTART only when the wait has a timeout (the kernel restarts the
  // others).
  int r = gh::futex_wait_interruptible(addr, val, wait_until, !tmo, "futex");
  if (r == -ETIMEDOUT && wait_until != deadline) return 0;  // slice over: spurious wake-up
  // kFutexHandedOff only comes to a green mutex's own waiters; as any wake-up.
  if (r == 0 || r == gh::kFutexHandedOff) return 0;
  errno = r == -ETIMEDOUT ? ETIMEDOUT : -r;
  return -1;
}

}  // namespace

GH_EXPORT long syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
  long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
  va_end(ap);
  if (number == SYS_futex && g_init_done && green_ok()) {
    bool handled;
    long r = green_futex(reinterpret_cast<uint32_t*>(a1), static_cast<int>(a2),
                         static_cast<uint32_t>(a3), reinterpret_cast<const timespec*>(a4),
                         static_cast<uint32_t>(a6), &handled);
    if (handled) return r;
  }
  if (g_init_done && green_ok()) {
    // Thread ids (hook_tid.cc).
    if (number == SYS_gettid) return current_tid();
    // The calling green thread's clear-tid address (thread_registry.cc
    // clears it at exit); it returns the caller's thread id.
    if (number == SYS_set_tid_address) {
      ShimThread* st = shim_self();
      if (st && !st->root && !st->g->is_root()) {
        st->clear_tid = reinterpret_cast<uint32_t*>(a1);
        return current_tid();
      }
    }
    // Scheduling calls that take a thread id (first argument): a green
    // id names the OS thread it runs on, as the libc functions do
    // (hook_tid.cc). glibc has no wrapper for sched_{get,set}attr, so
    // GLib's thread pools make them this way with their gettid().
    if (number == SYS_sched_getattr || number == SYS_sched_setattr ||
        number == SYS_sched_getaffinity || number == SYS_sched_setaffinity ||
        number == SYS_sched_getscheduler || number == SYS_sched_setscheduler ||
        number == SYS_sched_getparam || number == SYS_sched_setparam ||
        number == SYS_sched_rr_get_interval) {
      if (is_green_tid(a1)) {
        long os = os_tid_of(a1);
        if (os < 0) return -1;  // ESRCH: a green thread that has ended
        a1 = os;
      }
    }
    if ((number == SYS_getpriority || number == SYS_setpriority) && a1 == PRIO_PROCESS &&
        is_green_tid(a2)) {
      long os = os_tid_of(a2);
      if (os < 0) return -1;
      a2 = os;
    }
    // A green thread's CPU-time clocks (hook_cpuclock.cc).
    // (A clockid_t passed through the varargs arrives zero-extended: its
    // sign is bit 31.)
    auto clk = static_cast<clockid_t>(a1);
    if (number == SYS_clock_gettime && (clk < 0 || clk == CLOCK_THREAD_CPUTIME_ID))
      return clock_gettime(clk, reinterpret_cast<timespec*>(a2));
    if (number == SYS_clock_getres && clk < 0)
      return clock_getres(clk, reinterpret_cast<timespec*>(a2));
    if ((number == SYS_tgkill && is_green_tid(a2)) || (number == SYS_tkill && is_green_tid(a1))) {
      long r = number == SYS_tgkill ? green_tgkill(a1, a2, static_cast<int>(a3))
                                    : green_tgkill(getpid(), a1, static_cast<int>(a2));
      return ret_errno(r);
    }
    if (number == SYS_rt_tgsigqueueinfo && is_green_tid(a2)) {
      siginfo_t si;
      if (copy_from_user(&si, reinterpret_cast<const void*>(a4), sizeof si) != 0)
        return ret_errno(-EFAULT);
      si.si_signo = static_cast<int>(a3);
      return ret_errno(green_tgkill(a1, a2, static_cast<int>(a3), &si));
    }
  }
  return real::syscall(number, a1, a2, a3, a4, a5, a6);
}
