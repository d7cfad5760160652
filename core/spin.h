// SPDX-License-Identifier: MIT
// Green spinlock: the storage of a pthread_spinlock_t. Spins briefly, then
// yields the green thread between attempts: a plain spin would never let a
// holder on the same carrier run, and would spin forever.
#pragma once

#include <pthread.h>

#include <cstdint>
#include <type_traits>

#include "core/parking_lot.h"

namespace gh {

// Zero-filled storage is unlocked.
//
// Guarding: word is atomic; 0 unlocked, 1 locked.
struct Spin {
  AtomicCell<uint32_t> word;

  // Makes an unlocked spinlock. Always 0.
  int init() {
    word.store(0, std::memory_order_relaxed);
    return 0;
  }
  // Blocks (spinning, then yielding) until the caller holds the lock. 0, or
  // EINTR (not held: an asynchronous cancellation, GreenThread::async_wait).
  int lock() {
    if (word.exchange(1, std::memory_order_acquire) == 0) return 0;
    return lock_slow();
  }
  // Takes the lock if free. 0 or EBUSY.
  int trylock();
  // Releases the lock (not checked, as glibc). Always 0.
  int unlock() {
    word.store(0, std::memory_order_release);
    return 0;
  }
  // Always 0.
  int destroy() { return 0; }

 private:
  int lock_slow();
};

static_assert(std::is_standard_layout_v<Spin> && std::is_trivial_v<Spin>);
static_assert(sizeof(Spin) == sizeof(pthread_spinlock_t));
static_assert(alignof(Spin) <= alignof(pthread_spinlock_t));

}  // namespace gh
