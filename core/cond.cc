// SPDX-License-Identifier: MIT
#include "core/cond.h"

#include <cerrno>
#include <climits>

#include "core/carrier.h"

namespace gh {

int Cond::init(clockid_t clk) {
  if (!valid_clock(clk)) return EINVAL;
  seq.store(0, std::memory_order_relaxed);
  waiters.store(0, std::memory_order_relaxed);
  for (uint32_t& r : reserved_) r = 0;
  for (uint32_t& r : reserved2_) r = 0;
  flags = clk == CLOCK_MONOTONIC ? kMonotonic : 0;
  return 0;
}

void Cond::leave() { drain_leave(&waiters); }

int Cond::wait_until(Mutex& m, const ClockDeadline* dl) {
  // Register and read the counter while we still hold m: a signaller that
  // takes m after us sees us (waiters > 0) and changes seq.
  waiters.fetch_add(1, std::memory_order_seq_cst);
  uint32_t s = seq.load(std::memory_order_seq_cst);
  uint32_t saved;
  if (int r = m.unlock_for_wait(&saved)) {
    leave();
    return r;
  }
  // A cancellation point: a pthread_cancel ends the wait (the mutex is
  // re-acquired first, as natively, for the cleanup handlers).
  GreenThread* me = Carrier::current() ? Carrier::current()->running() : nullptr;
  int r = futex_wait_until(&seq, s, dl, "cond", false, me && me->cancel_point);
  leave();
  m.relock_after_wait(saved);
  if (r == -EINTR) return EINTR;
  return r == -ETIMEDOUT ? ETIMEDOUT : 0;
}

int Cond::clockwait(Mutex& m, clockid_t clk, const timespec* abs) {
  // glibc checks these before anything else.
  if (!valid_clock(clk) || !abs || !valid_timespec(*abs)) return EINVAL;
  ClockDeadline dl(clk, *abs);
  return wait_until(m, &dl);
}

int Cond::signal() {
  if ((waiters.load(std::memory_order_seq_cst) & ~kDraining) == 0) return 0;
  seq.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&seq, 1);
  return 0;
}

int Cond::broadcast() {
  if ((waiters.load(std::memory_order_seq_cst) & ~kDraining) == 0) return 0;
  seq.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&seq, INT_MAX);
  return 0;
}

int Cond::destroy() {
  drain_wait(&waiters, "cond destroy");
  return 0;
}

}  // namespace gh
