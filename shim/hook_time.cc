// SPDX-License-Identifier: MIT
// Time: the sleeps park the green thread on a carrier timer; sched_yield lets
// the other green threads of the carrier run. Sleeps never end early.
#include <sys/syscall.h>

#include <cerrno>

#include "core/green.h"
#include "shim/cancel.h"
#include "shim/state.h"
#include "shim/user_mem.h"

using namespace gh::shim;

namespace {

// Sleeps until the absolute time `target_ns` of clock `clk` has been reached
// (re-arming when a REALTIME clock was stepped back meanwhile). Returns 0, or
// -EINTR when a signal handler ran (sleeps are never restarted).
int sleep_until_clock(clockid_t clk, int64_t target_ns) {
  for (;;) {
    int64_t now = gh::clock_ns(clk);
    if (now >= target_ns) return 0;
    if (gh::sleep_until_interruptible(gh::deadline_after(target_ns - now)) == -EINTR) return -EINTR;
  }
}

// The common body: returns 0 or an errno value (clock_nanosleep style).
int green_nanosleep(clockid_t clk, int flags, const timespec* req, timespec* rem) {
  timespec ts;
  if (copy_from_user(&ts, req, sizeof ts) != 0) return EFAULT;
  if (!gh::valid_timespec(ts)) return EINVAL;
  // The kernel refuses a negative time, relative or absolute.
  if (ts.tv_sec < 0) return EINVAL;
  if (flags & TIMER_ABSTIME) return sleep_until_clock(clk, gh::timespec_ns(ts)) ? EINTR : 0;
  int64_t start = gh::clock_ns(clk);
  int64_t rel = gh::timespec_ns(ts);
  int64_t target = rel > INT64_MAX - start ? INT64_MAX : start + rel;
  if (sleep_until_clock(clk, target) == 0) return 0;
  if (rem) {
    // Interrupted: the time left, as the native call reports it.
    int64_t left = target - gh::clock_ns(clk);
    timespec r = gh::ns_timespec(left > 0 ? left : 0);
    if (copy_to_user(rem, &r, sizeof r) != 0) return EFAULT;
  }
  return EINTR;
}

bool green_clock(clockid_t clk) {
  return clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC || clk == CLOCK_BOOTTIME ||
         clk == CLOCK_TAI;
}

}  // namespace

GH_EXPORT int nanosleep(const timespec* req, timespec* rem) {
  CancelPoint cp;
  if (!may_park()) return cp.done(real::nanosleep(req, rem));
  int e = green_nanosleep(CLOCK_MONOTONIC, 0, req, rem);
  if (e) {
    errno = e;
    return cp.done(-1);
  }
  return cp.done(0);
}

GH_EXPORT int __nanosleep(const timespec* req, timespec* rem) { return nanosleep(req, rem); }

GH_EXPORT int clock_nanosleep(clockid_t clk, int flags, const timespec* req, timespec* rem) {
  CancelPoint cp;
  if (!may_park() || !green_clock(clk))
    return cp.done_rc(real::clock_nanosleep(clk, flags, req, rem));
  return cp.done_rc(green_nanosleep(clk, flags, req, rem));
}

GH_EXPORT unsigned sleep(unsigned secs) {
  CancelPoint cp;
  if (!may_park()) return cp.done_any(real::sleep(secs));
  timespec ts{static_cast<time_t>(secs), 0};
  timespec rem{0, 0};
  if (green_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem) == EINTR)
    return cp.done_any(static_cast<unsigned>(rem.tv_sec));  // glibc's: whole seconds, rounded down
  return 0;
}

GH_EXPORT int usleep(useconds_t us) {
  CancelPoint cp;
  if (!may_park()) return cp.done(real::usleep(us));
  timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>(us % 1000000) * 1000};
  if (green_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr) == EINTR) {
    errno = EINTR;
    return cp.done(-1);
  }
  return cp.done(0);
}

GH_EXPORT int sched_yield(void) {
  // A thread whose asynchronous cancellation found it in the runtime (a
  // loop around sched_yield) acts here.
  if (gh::GreenThread* g = cancellable_here(); g && g->cancel_async.load(std::memory_order_relaxed))
    act_on_cancel(g);
  if (!may_park()) return real::sched_yield();
  gh::Carrier* c = gh::Carrier::current();
  uint64_t before = c ? c->ticks() : 0;
  gh::yield();
  // Nothing else ran: the real call, which gives the CPU to other OS
  // threads (another carrier's, holding what this thread spins for) and
  // takes as long as natively. A spin bounded by a count of sched_yield
  // calls (haproxy's log lock, 200) gave up about 200 times sooner.
  if (c && gh::Carrier::current() == c && c->ticks() == before) real::sched_yield();
  return 0;
}
