// SPDX-License-Identifier: MIT
#include "core/once.h"

#include <cerrno>
#include <climits>

#include "core/clock.h"
#include "core/parking_lot.h"

namespace gh {

namespace {

// Ends a run of fn: publishes `to` and wakes the callers parked meanwhile.
void finish(std::atomic<int>* control, int to) {
  if (control->exchange(to, std::memory_order_acq_rel) == kOnceWaiting)
    futex_wake(control, INT_MAX);
}

}  // namespace

int once(std::atomic<int>* control, void (*fn)()) {
  if (!control || !fn) return EINVAL;
  int s = control->load(std::memory_order_acquire);
  while (!(s & kOnceDone)) {
    if (s == kOnceInit) {
      if (!control->compare_exchange_strong(s, kOnceRunning, std::memory_order_acquire)) continue;
      try {
        fn();
      } catch (...) {
        finish(control, kOnceInit);
        throw;
      }
      finish(control, kOnceDone);
      return 0;
    }
    if (s == kOnceRunning) {
      if (!control->compare_exchange_strong(s, kOnceWaiting, std::memory_order_acquire)) continue;
      s = kOnceWaiting;
    }
    // In progress. Ours wake us; a run by glibc itself (another encoding of
    // "in progress") does not, so poll that one.
    int64_t deadline = s == kOnceWaiting ? kNoDeadline : deadline_after(1'000'000);
    futex_wait(control, static_cast<uint32_t>(s), deadline, "once");
    s = control->load(std::memory_order_acquire);
  }
  return 0;
}

}  // namespace gh
