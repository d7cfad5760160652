// SPDX-License-Identifier: MIT
// CPU-time clocks of threads: CLOCK_THREAD_CPUTIME_ID, the clock of
// pthread_getcpuclockid() and getrusage(RUSAGE_THREAD) give a green
// thread's own CPU time (core/cpu_time.h), not that of the OS thread it
// runs on, which also ran other green threads and changes when the thread
// moves to another carrier. Other clocks pass straight through. A timer
// on a green thread's clock measures its OS thread's.
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#include <cerrno>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/cpu_time.h"
#include "shim/cancel.h"
#include "shim/state.h"
#include "shim/thread_registry.h"
#include "shim/user_mem.h"

using namespace gh::shim;

namespace {

// The kernel's encoding of a thread's CPU clock (posix-cpu-timers):
// ~tid << 3, a per-thread bit, and the kind (0 PROF, 1 VIRT, 2 SCHED).
constexpr clockid_t kPerThreadBit = 4;
constexpr clockid_t kKindMask = 3;
bool is_thread_clock(clockid_t clk) {
  return clk < 0 && (clk & kPerThreadBit) && (clk & kKindMask) != kKindMask;
}
pid_t clock_tid(clockid_t clk) { return static_cast<pid_t>(~(clk >> 3)); }
// The encoding keeps 28 bits of the id (~tid << 3 in 32 bits, negative),
// too few for a green thread's 29-bit index (kGreenTidBase is bit 29). So
// a green thread's clock carries its index above the kernel's largest
// thread id (PID_MAX_LIMIT, 2^22), in kClockGreenSpan steps, and which
// step in the clock's kind bits (0, 1, 2: three steps cover 2^29; the kind
// means nothing more for a green thread's clock, whose time is one sum).
constexpr pid_t kClockGreenBase = pid_t{1} << 22;
constexpr pid_t kClockGreenSpan = (pid_t{1} << 28) - kClockGreenBase;
static_assert(3 * int64_t{kClockGreenSpan} >= (int64_t{1} << 29), "three steps cover the ids");
clockid_t green_thread_clock(pid_t green) {
  pid_t index = green - kGreenTidBase;
  pid_t tid = kClockGreenBase + index % kClockGreenSpan;
  clockid_t kind = index / kClockGreenSpan;
  return static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | kPerThreadBit | kind);
}
// The green thread id behind a clock, or 0 for an OS thread's.
pid_t green_of_clock(clockid_t clk) {
  pid_t tid = clock_tid(clk);
  if (tid < kClockGreenBase) return 0;
  return kGreenTidBase + (clk & kKindMask) * kClockGreenSpan + (tid - kClockGreenBase);
}

// The green thread running on this OS thread, or nullptr (not a carrier,
// or a scheduler context: a signal handler on an idle carrier).
gh::GreenThread* running_green() { return threads_green() ? running_green_thread() : nullptr; }

void read_ns(ShimThread* st, void* out) {
  *static_cast<int64_t*>(out) = gh::cpu_time::thread_ns(st->g);
}

// The CPU time clk measures, when it is a green thread's: 1 with *ns set;
// 0 when the kernel's answer is the right one (not a thread clock, or an
// OS thread's); -EINVAL for the clock of a green thread that has ended.
int green_cpu_ns(clockid_t clk, int64_t* ns) {
  if (clk == CLOCK_THREAD_CPUTIME_ID) {
    gh::GreenThread* g = running_green();
    if (!g) return 0;
    *ns = gh::cpu_time::thread_ns(g);
    return 1;
  }
  if (!is_thread_clock(clk) || !threads_green()) return 0;
  pid_t tid = clock_tid(clk);
  if (pid_t green = green_of_clock(clk)) return with_green_tid(green, &read_ns, ns) ? 1 : -EINVAL;
  // main's id is its OS thread's, which is also a carrier's: its clock is
  // main's own time.
  gh::Carrier* c = gh::Carrier::current();
  gh::GreenThread* root = c ? program_root(c) : nullptr;
  if (!root || !root->home || root->home->os_tid() != tid) return 0;
  *ns = gh::cpu_time::thread_ns(root);
  return 1;
}

}  // namespace

GH_EXPORT int clock_gettime(clockid_t clk, timespec* ts) {
  ensure_real();
  if (__builtin_expect(clk >= 0 && clk != CLOCK_THREAD_CPUTIME_ID, 1))
    return real::clock_gettime(clk, ts);
  int64_t ns = 0;
  int r = green_cpu_ns(clk, &ns);
  if (r == 0) return real::clock_gettime(clk, ts);
  if (r < 0) return ret_errno(r);
  timespec v = gh::ns_timespec(ns);
  if (copy_to_user(ts, &v, sizeof v) != 0) return ret_errno(-EFAULT);
  return 0;
}

GH_EXPORT int clock_getres(clockid_t clk, timespec* res) {
  ensure_real();
  if (!is_thread_clock(clk) || !green_of_clock(clk) || !threads_green())
    return real::clock_getres(clk, res);
  int64_t ns = 0;
  if (green_cpu_ns(clk, &ns) < 0) return ret_errno(-EINVAL);
  // A live green thread's clock has the resolution of any thread's.
  return real::clock_getres(CLOCK_THREAD_CPUTIME_ID, res);
}

// A green thread's clock id names its own id (gettid()), so that the clock
// follows it to whichever carrier it runs on.
GH_EXPORT int pthread_getcpuclockid(pthread_t t, clockid_t* clk) {
  ensure_real();
  ShimThread* st = threads_green() ? shim_from_handle(t) : nullptr;
  if (!st) return real::pthread_getcpuclockid(t, clk);
  *clk = green_thread_clock(green_tid(st->g->id));
  return 0;
}

// A timer on a green thread's clock: the kernel knows no such clock (it
// refused it with EINVAL; haproxy's watchdog arms one per thread). The
// timer measures the CPU time of the OS thread the green thread runs on
// now, as timers on CLOCK_THREAD_CPUTIME_ID do (docs/compatibility.md).
GH_EXPORT int timer_create(clockid_t clk, sigevent* sev, timer_t* timer) {
  ensure_real();
  if (is_thread_clock(clk) && threads_green()) {
    if (pid_t green = green_of_clock(clk)) {
      long os = os_tid_of(green);
      if (os <= 0) return ret_errno(-EINVAL);  // ended: natively, no such clock
      constexpr clockid_t kSched = 2;          // the kernel's CPUCLOCK_SCHED
      clk = static_cast<clockid_t>((~static_cast<unsigned>(os) << 3) | kPerThreadBit | kSched);
    }
  }
  return real::timer_create(clk, sev, timer);
}

// RUSAGE_THREAD: the green thread's CPU time, split between user and system
// time as its OS thread's is; the other fields are the OS thread's.
GH_EXPORT int getrusage(int who, rusage* ru) {
  ensure_real();
  int rc = real::getrusage(who, ru);
  gh::GreenThread* g = rc == 0 && who == RUSAGE_THREAD ? running_green() : nullptr;
  if (!g) return rc;
  int64_t ns = gh::cpu_time::thread_ns(g);
  int64_t user_us = int64_t{ru->ru_utime.tv_sec} * 1000000 + ru->ru_utime.tv_usec;
  int64_t sys_us = int64_t{ru->ru_stime.tv_sec} * 1000000 + ru->ru_stime.tv_usec;
  int64_t total_us = ns / 1000;
  int64_t mine_user =
      user_us + sys_us > 0
          ? static_cast<int64_t>(static_cast<__int128>(total_us) * user_us / (user_us + sys_us))
          : total_us;
  int64_t mine_sys = total_us - mine_user;
  ru->ru_utime = timeval{static_cast<time_t>(mine_user / 1000000),
                         static_cast<suseconds_t>(mine_user % 1000000)};
  ru->ru_stime = timeval{static_cast<time_t>(mine_sys / 1000000),
                         static_cast<suseconds_t>(mine_sys % 1000000)};
  return 0;
}
