// SPDX-License-Identifier: MIT
#include "core/barrier.h"

#include <cerrno>
#include <climits>

#include "core/green.h"

namespace gh {

int Barrier::init(uint32_t n) {
  if (n == 0) return EINVAL;
  state.store(0, std::memory_order_relaxed);
  count = n;
  gen.store(0, std::memory_order_relaxed);
  inside.store(0, std::memory_order_relaxed);
  reserved_[0] = reserved_[1] = 0;
  return 0;
}

int Barrier::wait() {
  if (count == 0) return EINVAL;
  inside.fetch_add(1, std::memory_order_acq_rel);
  uint64_t s = state.load(std::memory_order_acquire);
  uint32_t round;
  bool last;
  for (;;) {
    round = static_cast<uint32_t>(s >> 32);
    uint32_t arrived = static_cast<uint32_t>(s) + 1;
    last = arrived == count;
    uint64_t next = last ? uint64_t{round + 1u} << 32 : (s & ~uint64_t{0xffffffff}) | arrived;
    if (state.cas(s, next, std::memory_order_acq_rel)) break;
  }
  int rc = 0;
  if (last) {
    gen.store(round + 1, std::memory_order_release);
    futex_wake(&gen, INT_MAX);
    rc = PTHREAD_BARRIER_SERIAL_THREAD;
  } else {
    // Released once gen has reached round + 1 (gen only moves forward, and
    // by at most the rounds that completed, so the signed distance is safe).
    for (;;) {
      uint32_t g = gen.load(std::memory_order_acquire);
      if (static_cast<int32_t>(g - (round + 1)) >= 0) break;
      if (futex_wait(&gen, g, kNoDeadline, "barrier") == -EINTR && self()->async_wait) {
        // An asynchronous cancellation: the thread leaves, counted as
        // arrived (natively the barrier is left waiting for it likewise).
        rc = EINTR;
        break;
      }
    }
  }
  drain_leave(&inside);
  return rc;
}

int Barrier::destroy() {
  if (static_cast<uint32_t>(state.load(std::memory_order_acquire)) != 0) return EBUSY;
  drain_wait(&inside, "barrier destroy");
  return 0;
}

}  // namespace gh
