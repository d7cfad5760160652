// SPDX-License-Identifier: MIT
#include "core/rwlock.h"

#include <cerrno>
#include <climits>

#include "core/green.h"

#include "core/mutex.h"

namespace gh {

int RwLock::init(uint32_t k) {
  if (k > kPreferWriter) return EINVAL;
  state.store(0, std::memory_order_relaxed);
  readers_waiting.store(0, std::memory_order_relaxed);
  writers_waiting.store(0, std::memory_order_relaxed);
  read_seq.store(0, std::memory_order_relaxed);
  write_seq.store(0, std::memory_order_relaxed);
  reserved_[0] = reserved_[1] = 0;
  writer.store(0, std::memory_order_relaxed);
  reserved2_ = 0;
  kind = k;
  reserved3_ = 0;
  return 0;
}

bool RwLock::reader_may_enter(uint32_t s) const {
  if (s & kWriter) return false;
  return !prefer_writer() || writers_waiting.load(std::memory_order_seq_cst) == 0;
}

void RwLock::wake_readers() {
  read_seq.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&read_seq, INT_MAX);
}

void RwLock::wake_writer() {
  write_seq.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&write_seq, 1);
}

int RwLock::rdlock_until(const ClockDeadline* dl) {
  for (;;) {
    uint32_t s = state.load(std::memory_order_relaxed);
    if (reader_may_enter(s)) {
      if ((s & kMaxReaders) == kMaxReaders) return EAGAIN;
      if (state.cas(s, s + 1, std::memory_order_acquire)) return 0;
      continue;
    }
    if ((s & kWriter) && writer.load(std::memory_order_relaxed) == owner_id()) return EDEADLK;
    // Register, note the sequence, then look again: an unlock after our
    // look sees us registered and bumps read_seq (no lost wake-up).
    readers_waiting.fetch_add(1, std::memory_order_seq_cst);
    uint32_t q = read_seq.load(std::memory_order_seq_cst);
    int r = 0;
    if (!reader_may_enter(state.load(std::memory_order_seq_cst)))
      r = futex_wait_until(&read_seq, q, dl, "rwlock read");
    readers_waiting.fetch_sub(1, std::memory_order_seq_cst);
    if (r == -ETIMEDOUT) return ETIMEDOUT;
    if (r == -EINTR && self()->async_wait) return EINTR;  // an asynchronous cancellation
  }
}

int RwLock::wrlock_until(const ClockDeadline* dl) {
  uint64_t me = owner_id();
  for (;;) {
    uint32_t s = state.load(std::memory_order_relaxed);
    if (s == 0) {
      if (state.cas(s, kWriter, std::memory_order_acquire)) {
        writer.store(me, std::memory_order_relaxed);
        return 0;
      }
      continue;
    }
    if ((s & kWriter) && writer.load(std::memory_order_relaxed) == me) return EDEADLK;
    writers_waiting.fetch_add(1, std::memory_order_seq_cst);
    uint32_t q = write_seq.load(std::memory_order_seq_cst);
    int r = 0;
    if (state.load(std::memory_order_seq_cst) != 0)
      r = futex_wait_until(&write_seq, q, dl, "rwlock write");
    uint32_t left = writers_waiting.fetch_sub(1, std::memory_order_seq_cst) - 1;
    if (r == -EINTR && !self()->async_wait) r = 0;  // disabled since: wait on
    if (r == -ETIMEDOUT || r == -EINTR) {
      // Readers may be held back only for the writers that wait: if we were
      // the last one, let them go. (EINTR: an asynchronous cancellation.)
      if (prefer_writer() && left == 0 && readers_waiting.load(std::memory_order_seq_cst) > 0)
        wake_readers();
      return r == -EINTR ? EINTR : ETIMEDOUT;
    }
  }
}

int RwLock::tryrdlock() {
  uint32_t s = state.load(std::memory_order_relaxed);
  for (;;) {
    if (!reader_may_enter(s)) return EBUSY;
    if ((s & kMaxReaders) == kMaxReaders) return EAGAIN;
    if (state.cas(s, s + 1, std::memory_order_acquire)) return 0;
  }
}

int RwLock::trywrlock() {
  uint32_t s = 0;
  if (!state.cas(s, kWriter, std::memory_order_acquire)) return EBUSY;
  writer.store(owner_id(), std::memory_order_relaxed);
  return 0;
}

int RwLock::clockrdlock(clockid_t clk, const timespec* abs) {
  if (!valid_clock(clk) || !abs || !valid_timespec(*abs)) return EINVAL;
  ClockDeadline dl(clk, *abs);
  return rdlock_until(&dl);
}

int RwLock::clockwrlock(clockid_t clk, const timespec* abs) {
  if (!valid_clock(clk) || !abs || !valid_timespec(*abs)) return EINVAL;
  ClockDeadline dl(clk, *abs);
  return wrlock_until(&dl);
}

int RwLock::unlock() {
  uint32_t s = state.load(std::memory_order_relaxed);
  if (s & kWriter) {
    if (writer.load(std::memory_order_relaxed) != owner_id()) return EPERM;
    writer.store(0, std::memory_order_relaxed);
    state.exchange(0, std::memory_order_seq_cst);
    if (prefer_writer()) {
      if (writers_waiting.load(std::memory_order_seq_cst) > 0)
        wake_writer();  // readers stay behind it; a writer that times out lets them go
      else if (readers_waiting.load(std::memory_order_seq_cst) > 0)
        wake_readers();
    } else {
      if (readers_waiting.load(std::memory_order_seq_cst) > 0) wake_readers();
      if (writers_waiting.load(std::memory_order_seq_cst) > 0) wake_writer();
    }
    return 0;
  }
  for (;;) {
    if ((s & kMaxReaders) == 0) return EPERM;
    if (s & kWriter) return EPERM;  // a writer came in: we held no read lock
    if (state.cas(s, s - 1, std::memory_order_seq_cst)) break;
  }
  if ((s & kMaxReaders) == 1 && writers_waiting.load(std::memory_order_seq_cst) > 0) wake_writer();
  return 0;
}

int RwLock::destroy() { return 0; }

}  // namespace gh
