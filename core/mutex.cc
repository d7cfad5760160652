// SPDX-License-Identifier: MIT
#include "core/mutex.h"

#include <cerrno>
#include <cstdint>

#include "core/clock.h"
#include "core/green.h"

namespace gh {

namespace {
// Ids for OS threads that cannot have a carrier: from the top down, far
// away from GreenThread ids (which count up from 1).
std::atomic<uint64_t> g_fallback_id{UINT64_MAX};
thread_local uint64_t t_fallback_id GH_TLS = 0;
}  // namespace

uint64_t owner_id() {
  if (GreenThread* g = self()) return g->id;
  if (!t_fallback_id) t_fallback_id = g_fallback_id.fetch_sub(1, std::memory_order_relaxed);
  return t_fallback_id;
}

int Mutex::init(int32_t k) {
  if ((k & kKindMask & ~0x70) > kAdaptive) return EINVAL;
  state.store(0, std::memory_order_relaxed);
  count = 0;
  owner.store(0, std::memory_order_relaxed);
  kind = k;
  return 0;
}

int Mutex::lock_slow(uint32_t c, const ClockDeadline* dl) {
  bool woken = false;  // parked and woken before, and lost the race after
  int64_t lost_since = 0;
  for (;;) {
    if (!(c & kLocked)) {
      // Free: take it. From here on we may have company, so keep the unlock
      // that lets the next one in waking (kWaiters), as Drepper's mutex 3.
      if (state.cas(c, kLocked | kWaiters, std::memory_order_acquire)) return 0;
      continue;
    }
    uint32_t want = c | kWaiters;
    if (woken && !(c & kHandOff)) {
      // The clock is read only once a wake-up was lost.
      int64_t now = mono_ns();
      if (lost_since == 0) lost_since = now;
      if (now - lost_since >= kStarveNs) want |= kHandOff;
    }
    if (want != c && !state.cas(c, want, std::memory_order_relaxed)) continue;
    // Woken before and lost: keep our turn ahead of later waiters.
    int r = futex_wait_until(&state, want, dl, "mutex", woken);
    if (r == kFutexHandedOff) {
      // Ours, handed over locked: end the hand-off mode (a waiter still
      // starving asks again).
      state.fetch_and(~kHandOff, std::memory_order_acquire);
      return 0;
    }
    if (r == -ETIMEDOUT) return ETIMEDOUT;
    // An asynchronous cancellation (GreenThread::async_wait), unless the
    // thread has since disabled it (a handler): then wait on.
    if (r == -EINTR && self()->async_wait) return EINTR;
    if (r == 0) woken = true;
    c = state.load(std::memory_order_relaxed);
  }
}

void Mutex::release_slow(uint32_t c) {
  if ((c & kHandOff) && futex_hand_off(&state)) return;  // the oldest waiter holds it now
  // Otherwise (no hand-off asked, or its waiter gave up): free it.
  if (state.exchange(0, std::memory_order_release) & kWaiters) futex_wake(&state, 1);
}

int Mutex::trylock() {
  int32_t t = type();
  uint64_t me = 0;
  if (t == kRecursive || t == kErrorCheck) {
    me = owner_id();
    if (owner.load(std::memory_order_relaxed) == me) {
      if (t == kErrorCheck) return EBUSY;  // as glibc
      if (count == UINT32_MAX) return EAGAIN;
      count++;
      return 0;
    }
  }
  uint32_t c = 0;
  if (!state.cas(c, 1, std::memory_order_acquire)) return EBUSY;
  if (me) {
    owner.store(me, std::memory_order_relaxed);
    count = 1;
  }
  return 0;
}

int Mutex::lock_owned(const ClockDeadline* dl) {
  uint64_t me = owner_id();
  // Only we store `me` into owner, so seeing it means we hold the lock.
  if (owner.load(std::memory_order_relaxed) == me) {
    if (type() == kErrorCheck) return EDEADLK;
    if (count == UINT32_MAX) return EAGAIN;
    count++;
    return 0;
  }
  uint32_t c = 0;
  if (!state.cas(c, 1, std::memory_order_acquire)) {
    if (int r = lock_slow(c, dl)) return r;
  }
  owner.store(me, std::memory_order_relaxed);
  count = 1;
  return 0;
}

int Mutex::clocklock(clockid_t clk, const timespec* abs) {
  if (!valid_clock(clk)) return EINVAL;
  int32_t t = type();
  if (t == kRecursive || t == kErrorCheck) {
    // Re-locks by the owner never wait, so they never look at abs.
    if (owner.load(std::memory_order_relaxed) == owner_id()) return lock_owned(nullptr);
  }
  if (trylock() == 0) return 0;
  // We would block: now abs must make sense (glibc checks it here too).
  if (!abs || !valid_timespec(*abs)) return EINVAL;
  ClockDeadline dl(clk, *abs);
  if (t == kRecursive || t == kErrorCheck) return lock_owned(&dl);
  return lock_slow(1, &dl);
}

int Mutex::unlock_owned() {
  if (owner.load(std::memory_order_relaxed) != owner_id()) return EPERM;
  if (--count != 0) return 0;
  owner.store(0, std::memory_order_relaxed);
  uint32_t c = state.load(std::memory_order_relaxed);
  if (c == kLocked && state.cas(c, 0, std::memory_order_release)) return 0;
  release_slow(c);
  return 0;
}

int Mutex::destroy() { return state.load(std::memory_order_relaxed) != 0 ? EBUSY : 0; }

int Mutex::unlock_for_wait(uint32_t* saved) {
  int32_t t = type();
  if (t == kRecursive || t == kErrorCheck) {
    if (owner.load(std::memory_order_relaxed) != owner_id()) return EPERM;
    *saved = count;
    count = 1;
    return unlock_owned();
  }
  *saved = 1;
  return unlock();
}

void Mutex::relock_after_wait(uint32_t saved) {
  int32_t t = type();
  if (t == kRecursive || t == kErrorCheck) {
    uint64_t me = owner_id();
    uint32_t c = 0;
    if (!state.cas(c, 1, std::memory_order_acquire)) lock_slow(c, nullptr);
    owner.store(me, std::memory_order_relaxed);
    count = saved;
    return;
  }
  uint32_t c = 0;
  if (!state.cas(c, 1, std::memory_order_acquire)) lock_slow(c, nullptr);
}

}  // namespace gh
