// SPDX-License-Identifier: MIT
// Green condition variable: the storage of a pthread_cond_t, parked on the
// green futex (core/parking_lot.h). Return values are pthread codes.
//
// Design: a sequence counter. A waiter notes the counter while it still holds
// the mutex, releases the mutex and parks on the counter if it is unchanged;
// signal/broadcast bump the counter and wake one/all. A signal that lands
// between the release and the park changes the counter, so the park does not
// happen: no lost wake-ups. Spurious wake-ups are possible (as POSIX allows)
// but do not happen in the absence of races with signal/timeouts.
#pragma once

#include <pthread.h>
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/mutex.h"
#include "core/parking_lot.h"

namespace gh {

// Zero-filled storage is a cond on CLOCK_REALTIME (PTHREAD_COND_INITIALIZER).
//
// Guarding:
//   seq      atomic; bumped by every signal/broadcast that finds waiters;
//            the futex word waiters park on
//   waiters  atomic; threads inside wait() (registered until they leave,
//            woken or not), plus kDraining (parking_lot.h) while destroy() waits for them
//   flags    [const after init] bit 1 (kMonotonic): the clock of timedwait
//            is CLOCK_MONOTONIC; bit 0 belongs to the shim: never set or
//            interpreted here. Same place as glibc's __wrefs clock bit.
struct Cond {
  static constexpr uint32_t kMonotonic = 2;

  AtomicCell<uint32_t> seq;      // offset 0
  AtomicCell<uint32_t> waiters;  // offset 4
  uint32_t reserved_[7];         // offset 8..35; unused
  uint32_t flags;                // offset 36
  uint32_t reserved2_[2];        // offset 40..47; unused

  // Makes a cond whose timedwait uses clk (REALTIME or MONOTONIC). Clears
  // the whole object, shim bit included. 0 or EINVAL.
  int init(clockid_t clk);
  // The clock of timedwait().
  clockid_t clock() const { return (flags & kMonotonic) ? CLOCK_MONOTONIC : CLOCK_REALTIME; }

  // Releases m, waits for a signal, re-acquires m (recursive count restored).
  // 0, or EPERM (m is recursive/errorcheck and not held by the caller).
  // Inside a cancellation point (GreenThread::cancel_point) also EINTR: the
  // caller's cancellation ended the wait (m is held again). So for all waits.
  int wait(Mutex& m) { return wait_until(m, nullptr); }
  // wait() until abs on the cond's clock; m is re-acquired also on timeout.
  // 0, ETIMEDOUT, EINVAL (bad abs), EPERM.
  int timedwait(Mutex& m, const timespec* abs) { return clockwait(m, clock(), abs); }
  // pthread_cond_clockwait: wait() until abs on clk (REALTIME/MONOTONIC).
  // 0, ETIMEDOUT, EINVAL (bad clock or abs), EPERM.
  int clockwait(Mutex& m, clockid_t clk, const timespec* abs);
  // Wakes at least one thread blocked in wait, if any. Always 0.
  int signal();
  // Wakes every thread blocked in wait. Always 0.
  int broadcast();
  // Waits until every woken waiter has left wait(), so that the memory can
  // be freed right after a broadcast. Must not be called while threads are
  // still blocked (they would never leave, as with glibc). Always 0.
  int destroy();

 private:
  int wait_until(Mutex& m, const ClockDeadline* dl);
  void leave();
};

static_assert(std::is_standard_layout_v<Cond> && std::is_trivial_v<Cond>);
static_assert(sizeof(Cond) <= sizeof(pthread_cond_t));
static_assert(alignof(Cond) <= alignof(pthread_cond_t));
static_assert(offsetof(Cond, flags) == glibc::kCondWrefsOffset);

}  // namespace gh
