// SPDX-License-Identifier: MIT
// Green reader-writer lock: the storage of a pthread_rwlock_t, parked on the
// green futex (core/parking_lot.h). Return values are pthread codes.
//
// Reader-preferring by default (glibc's PTHREAD_RWLOCK_PREFER_READER_NP and
// PREFER_WRITER_NP, which glibc also treats as reader-preferring);
// writer-preferring with PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP (2):
// then new readers wait while a writer waits.
#pragma once

#include <pthread.h>
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/glibc_abi.h"
#include "core/parking_lot.h"

namespace gh {

// Zero-filled storage is an unlocked reader-preferring lock
// (PTHREAD_RWLOCK_INITIALIZER); the writer-preferring static initialiser
// sets `kind` to 2.
//
// Guarding (all atomic unless said otherwise):
//   state            kWriter bit: write-locked; low 31 bits: reader count
//   readers_waiting  readers registered to park on read_seq
//   writers_waiting  writers registered to park on write_seq
//   read_seq         bumped (then futex-woken, all) when readers may proceed
//   write_seq        bumped (then futex-woken, one) when a writer may proceed
//   writer           GreenThread id of the write owner, 0 if none; written by
//                    that owner only
//   kind             [const] set at init (offset 48, glibc's __flags)
//   offset 28..31    belongs to the shim (glibc's __shared): never touched
struct RwLock {
  static constexpr uint32_t kWriter = 0x80000000u;
  static constexpr uint32_t kMaxReaders = 0x7fffffffu;
  static constexpr uint32_t kPreferWriter = PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;

  AtomicCell<uint32_t> state;            // offset 0
  AtomicCell<uint32_t> readers_waiting;  // offset 4
  AtomicCell<uint32_t> writers_waiting;  // offset 8
  AtomicCell<uint32_t> read_seq;         // offset 12
  AtomicCell<uint32_t> write_seq;        // offset 16
  uint32_t reserved_[2];                 // offset 20..27; unused
  uint32_t shim_;                        // offset 28; the shim's
  AtomicCell<uint64_t> writer;           // offset 32
  uint64_t reserved2_;                   // offset 40; unused
  uint32_t kind;                         // offset 48
  uint32_t reserved3_;                   // offset 52; unused

  // Makes an unlocked lock of `kind` (PTHREAD_RWLOCK_PREFER_*). Leaves the
  // shim's word alone. 0 or EINVAL (unknown kind).
  int init(uint32_t kind);

  // Blocks until the caller holds a read lock. 0, EDEADLK (caller holds the
  // write lock), EAGAIN (too many readers), EINTR (an asynchronous
  // cancellation ended the wait, GreenThread::async_wait).
  int rdlock() { return rdlock_until(nullptr); }
  // Read lock if available now. 0, EBUSY, EAGAIN.
  int tryrdlock();
  // rdlock until abs on clk (REALTIME/MONOTONIC). 0, ETIMEDOUT, EINVAL (bad
  // clock or abs), EDEADLK, EAGAIN.
  int clockrdlock(clockid_t clk, const timespec* abs);
  int timedrdlock(const timespec* abs) { return clockrdlock(CLOCK_REALTIME, abs); }

  // Blocks until the caller holds the write lock. 0, EDEADLK (already holds
  // it), EINTR (as rdlock).
  int wrlock() { return wrlock_until(nullptr); }
  // Write lock if available now. 0, EBUSY.
  int trywrlock();
  // wrlock until abs on clk. 0, ETIMEDOUT, EINVAL, EDEADLK.
  int clockwrlock(clockid_t clk, const timespec* abs);
  int timedwrlock(const timespec* abs) { return clockwrlock(CLOCK_REALTIME, abs); }

  // Releases the caller's write lock or one read lock. 0, or EPERM (not
  // locked, or write-locked by another thread).
  int unlock();
  // pthread_rwlock_destroy: always 0, like glibc (no check).
  int destroy();

 private:
  bool prefer_writer() const { return kind == kPreferWriter; }
  // True if a reader may take the lock in state s.
  bool reader_may_enter(uint32_t s) const;
  int rdlock_until(const ClockDeadline* dl);
  int wrlock_until(const ClockDeadline* dl);
  void wake_readers();
  void wake_writer();
};

static_assert(std::is_standard_layout_v<RwLock> && std::is_trivial_v<RwLock>);
static_assert(sizeof(RwLock) <= sizeof(pthread_rwlock_t));
static_assert(alignof(RwLock) <= alignof(pthread_rwlock_t));
static_assert(offsetof(RwLock, shim_) == glibc::kRwlockSharedOffset);
static_assert(offsetof(RwLock, kind) == glibc::kRwlockFlagsOffset);

}  // namespace gh
