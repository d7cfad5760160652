// SPDX-License-Identifier: MIT
// Green mutex: the storage of a pthread_mutex_t, parked on the green futex
// (core/parking_lot.h). Return values are pthread codes, as glibc's.
//
// Kinds, with the numeric values of PTHREAD_MUTEX_*: normal (0), recursive
// (1), errorcheck (2), adaptive (3, same as normal). Robust/PI/PP bits of the
// kind (0x10/0x20/0x40) are ignored: the base kind is kind & 3.
#pragma once

#include <pthread.h>
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/glibc_abi.h"
#include "core/parking_lot.h"

namespace gh {

// Zero-filled storage is an unlocked normal mutex (PTHREAD_MUTEX_INITIALIZER);
// glibc's recursive/errorcheck static initialisers set `kind` to 1/2.
//
// Guarding:
//   state  atomic; the lock word: 0 unlocked; else kLocked, plus kWaiters
//          when a waiter may be parked (Drepper, "Futexes are tricky", mutex
//          3: 1 and 3 are his 1 and 2), plus kHandOff when a waiter has
//          waited longer than kStarveNs: the unlock then hands the mutex to
//          the oldest waiter instead of freeing it (Go's starvation mode),
//          so a thread that locks again at once cannot starve the others
//   count  [owner] recursion depth of a recursive mutex, 1 when first locked
//   owner  atomic, written by the owner only: GreenThread id of the owner of
//          a recursive/errorcheck mutex, 0 when unlocked (unused for normal)
//   kind   [const] set at init; bit 0x80 belongs to the shim: never set or
//          interpreted here (masked with kKindMask)
struct Mutex {
  static constexpr int32_t kNormal = PTHREAD_MUTEX_NORMAL;
  static constexpr int32_t kRecursive = PTHREAD_MUTEX_RECURSIVE;
  static constexpr int32_t kErrorCheck = PTHREAD_MUTEX_ERRORCHECK;
  static constexpr int32_t kAdaptive = PTHREAD_MUTEX_ADAPTIVE_NP;
  static constexpr int32_t kKindMask = 0x7f;
  static constexpr uint32_t kLocked = 1, kWaiters = 2, kHandOff = 4;
  // How long a waiter may lose the race to threads that lock again at once
  // before it asks for the mutex to be handed to it.
  static constexpr int64_t kStarveNs = 1'000'000;

  AtomicCell<uint32_t> state;  // offset 0
  uint32_t count;              // offset 4
  AtomicCell<uint64_t> owner;  // offset 8
  int32_t kind;                // offset 16, where glibc keeps __kind
  uint32_t reserved_[5];       // up to glibc's 40 bytes; unused

  // Makes an unlocked mutex of `kind` (a PTHREAD_MUTEX_* value; other bits
  // kept). Returns 0, or EINVAL for an unknown base kind.
  int init(int32_t kind);
  // The base kind: kNormal, kRecursive, kErrorCheck or kAdaptive.
  int32_t type() const { return kind & kKindMask & 3; }

  // Blocks until the caller holds the mutex. 0, EDEADLK (errorcheck, already
  // held by the caller), EAGAIN (recursive count would overflow), EINTR (not
  // held: an asynchronous cancellation ended the wait, GreenThread::
  // async_wait).
  int lock() {
    if (type() == kRecursive || type() == kErrorCheck) return lock_owned(nullptr);
    uint32_t c = 0;
    if (state.cas(c, 1, std::memory_order_acquire)) return 0;
    return lock_slow(c, nullptr);
  }
  // lock()'s uncontended case alone: takes a free normal (or adaptive)
  // mutex and returns true; false for any other case (lock() then).
  bool lock_uncontended() {
    if (type() == kRecursive || type() == kErrorCheck) return false;
    uint32_t c = 0;
    return state.cas(c, 1, std::memory_order_acquire);
  }
  // Takes the mutex if free. 0, EBUSY, EAGAIN (recursive overflow).
  int trylock();
  // lock() that gives up at the absolute deadline abs on clk (REALTIME or
  // MONOTONIC) like pthread_mutex_clocklock: 0, ETIMEDOUT, EINVAL (bad clock,
  // or bad abs when the call would block), EDEADLK, EAGAIN.
  int clocklock(clockid_t clk, const timespec* abs);
  // pthread_mutex_timedlock: clocklock on CLOCK_REALTIME.
  int timedlock(const timespec* abs) { return clocklock(CLOCK_REALTIME, abs); }
  // Releases the mutex. 0, or EPERM (recursive/errorcheck not held by the
  // caller). A normal mutex is not checked, as in glibc.
  int unlock() {
    if (type() == kRecursive || type() == kErrorCheck) return unlock_owned();
    uint32_t c = state.load(std::memory_order_relaxed);
    if (c == kLocked && state.cas(c, 0, std::memory_order_release)) return 0;
    release_slow(c);
    return 0;
  }
  // pthread_mutex_destroy: 0, or EBUSY while locked.
  int destroy();

  // For condition variables: releases the mutex entirely (all recursion
  // levels) and returns in *saved what relock_after_wait needs. 0, or EPERM
  // (recursive/errorcheck not held by the caller).
  int unlock_for_wait(uint32_t* saved);
  // Re-acquires a mutex released by unlock_for_wait, restoring its count.
  void relock_after_wait(uint32_t saved);

 private:
  // Contended part of lock(): c is the state last seen (non-zero). Returns 0,
  // ETIMEDOUT (only with a deadline) or EINTR (see lock()).
  int lock_slow(uint32_t c, const ClockDeadline* dl);
  // Contended part of unlock(): c is the state last seen (not kLocked alone).
  void release_slow(uint32_t c);
  int lock_owned(const ClockDeadline* dl);
  int unlock_owned();
};

static_assert(std::is_standard_layout_v<Mutex> && std::is_trivial_v<Mutex>);
static_assert(sizeof(Mutex) <= sizeof(pthread_mutex_t));
static_assert(alignof(Mutex) <= alignof(pthread_mutex_t));
static_assert(offsetof(Mutex, kind) == glibc::kMutexKindOffset);

// The id that owns mutexes for the caller: its GreenThread id (never 0).
uint64_t owner_id();

}  // namespace gh
