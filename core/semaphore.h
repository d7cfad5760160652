// SPDX-License-Identifier: MIT
// Green counting semaphore: the storage of a sem_t, parked on the green
// futex (core/parking_lot.h). Return values are pthread-style codes (0 or an
// errno value); the shim turns them into sem_*'s -1/errno.
#pragma once

#include <limits.h>
#include <semaphore.h>
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/parking_lot.h"

namespace gh {

// Zero-filled storage is a semaphore of value 0.
//
// Guarding (atomic):
//   word     low 31 bits: the value (SEM_VALUE_MAX is 2^31-1); kWaitBit:
//            threads may be parked. The futex word waiters park on. post()
//            touches nothing after its increment but that address (glibc
//            makes the same promise: a waiter may destroy the semaphore as
//            soon as it has its token)
//   waiters  threads inside wait(); the last to leave clears kWaitBit
//   offset 8..15 belongs to the shim (glibc's `private`): never touched
struct Semaphore {
  static constexpr uint32_t kMax = SEM_VALUE_MAX;
  static constexpr uint32_t kWaitBit = 0x80000000u;
  static_assert(kMax == ~kWaitBit);

  AtomicCell<uint32_t> word;     // offset 0
  AtomicCell<uint32_t> waiters;  // offset 4
  uint32_t shim_[2];             // offset 8..15; the shim's
  uint32_t reserved_[4];         // offset 16..31; unused

  // Sets the value (shim words left alone). 0, or EINVAL (> SEM_VALUE_MAX).
  int init(uint32_t v);
  // How a signal handler that runs for the waiting thread ends the wait:
  // never; unless it has SA_RESTART (sem_wait: the kernel restarts a
  // FUTEX_WAIT without a timeout); always (sem_timedwait, sem_clockwait: a
  // timed FUTEX_WAIT is never restarted).
  enum class Intr : uint8_t { kNever, kUnlessRestart, kAlways };

  // Decrements, blocking while the value is 0. 0, or EINTR (see Intr).
  int wait(Intr intr = Intr::kNever) { return wait_until(nullptr, intr); }
  // Decrements if the value is positive. 0 or EAGAIN.
  int trywait();
  // wait() until abs on clk (REALTIME/MONOTONIC). 0, ETIMEDOUT, EINVAL (bad
  // clock or abs, checked first as glibc does), EINTR (see Intr).
  int clockwait(clockid_t clk, const timespec* abs, Intr intr = Intr::kNever);
  // sem_timedwait: clockwait on CLOCK_REALTIME.
  int timedwait(const timespec* abs, Intr intr = Intr::kNever) {
    return clockwait(CLOCK_REALTIME, abs, intr);
  }
  // Increments and wakes one waiter. 0, or EOVERFLOW (would pass SEM_VALUE_MAX).
  int post();
  // The current value (never negative, as glibc).
  int getvalue() const { return static_cast<int>(word.load(std::memory_order_relaxed) & kMax); }

 private:
  int wait_until(const ClockDeadline* dl, Intr intr);
  void leave();
};

static_assert(std::is_standard_layout_v<Semaphore> && std::is_trivial_v<Semaphore>);
static_assert(sizeof(Semaphore) <= sizeof(sem_t));
static_assert(alignof(Semaphore) <= alignof(sem_t));
static_assert(offsetof(Semaphore, shim_) == 8);

}  // namespace gh
