// SPDX-License-Identifier: MIT
// Green barrier: the storage of a pthread_barrier_t, parked on the green
// futex (core/parking_lot.h). Return values are pthread codes.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/parking_lot.h"

namespace gh {

// Zero-filled storage is an uninitialised barrier (count 0: wait gives
// EINVAL). More than `count` threads may wait: the extra ones make up the
// next round.
//
// Guarding (atomic unless said otherwise):
//   state   high 32 bits: the current round; low 32 bits: threads arrived
//           in it (< count). The last arrival moves it to (round+1, 0) in
//           the same CAS, so a thread always knows which round it is in
//   gen     the last round released, published after state moves; the futex
//           word waiters park on (they wait until gen reaches their round+1)
//   count   [const] set by init
//   inside  threads inside wait() (they leave after their release), plus
//           kDraining (parking_lot.h) while destroy() waits for them to leave
//   offset 12..15 belongs to the shim (glibc's `shared`): never touched
struct Barrier {
  AtomicCell<uint64_t> state;   // offset 0
  uint32_t count;               // offset 8
  uint32_t shim_;               // offset 12; the shim's
  AtomicCell<uint32_t> gen;     // offset 16
  AtomicCell<uint32_t> inside;  // offset 20
  uint32_t reserved_[2];        // offset 24..31; unused

  // Makes a barrier for `count` threads. 0, or EINVAL (count 0).
  int init(uint32_t count);
  // Waits until `count` threads have called wait() in this round. Returns
  // PTHREAD_BARRIER_SERIAL_THREAD to exactly one of them, 0 to the others;
  // EINVAL if not initialised; EINTR if an asynchronous cancellation ended
  // the wait (GreenThread::async_wait; the thread counts as arrived).
  int wait();
  // Waits until the threads released by the last round have left wait(),
  // so the memory can be reused. 0, or EBUSY while a round is in progress.
  int destroy();
};

static_assert(std::is_standard_layout_v<Barrier> && std::is_trivial_v<Barrier>);
static_assert(sizeof(Barrier) <= sizeof(pthread_barrier_t));
static_assert(alignof(Barrier) <= alignof(pthread_barrier_t));
static_assert(offsetof(Barrier, shim_) == 12);

}  // namespace gh
