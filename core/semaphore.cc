// SPDX-License-Identifier: MIT
#include "core/semaphore.h"

#include <cerrno>
#include <climits>

namespace gh {

int Semaphore::init(uint32_t v) {
  if (v > kMax) return EINVAL;
  word.store(v, std::memory_order_relaxed);
  waiters.store(0, std::memory_order_relaxed);
  for (uint32_t& r : reserved_) r = 0;
  return 0;
}

int Semaphore::trywait() {
  uint32_t v = word.load(std::memory_order_relaxed);
  while (v & kMax)
    if (word.cas(v, v - 1, std::memory_order_acquire)) return 0;
  return EAGAIN;
}

void Semaphore::leave() {
  if (waiters.fetch_sub(1, std::memory_order_seq_cst) != 1) return;
  // Last one out: posts need not wake any more.
  word.fetch_and(kMax, std::memory_order_seq_cst);
  // Unless someone registered meanwhile and may have parked on the word
  // with the bit set: make them look again (they set it back).
  if (waiters.load(std::memory_order_seq_cst) > 0) futex_wake(&word, INT_MAX);
}

namespace {
// One park on word (see futex_wait_until), ended by a handler as `intr` says:
// 0 (woken, or a REALTIME deadline that moved), -EAGAIN, -ETIMEDOUT, -EINTR.
int park_on(const void* word, uint32_t v, const ClockDeadline* dl, Semaphore::Intr intr) {
  if (intr == Semaphore::Intr::kNever) return futex_wait_until(word, v, dl, "sem");
  int r = futex_wait_interruptible(word, v, dl ? dl->mono() : kNoDeadline,
                                   intr == Semaphore::Intr::kUnlessRestart, "sem");
  if (r == -ETIMEDOUT && (!dl || !dl->passed())) return 0;
  return r;
}
}  // namespace

int Semaphore::wait_until(const ClockDeadline* dl, Intr intr) {
  if (trywait() == 0) return 0;
  waiters.fetch_add(1, std::memory_order_seq_cst);
  int rc = 0;
  for (;;) {
    uint32_t v = word.load(std::memory_order_seq_cst);
    if (v & kMax) {
      if (word.cas(v, v - 1, std::memory_order_acquire)) break;
      continue;
    }
    // Value 0: announce ourselves in the word, then park on exactly that
    // word. A post changes it, and sees the bit, so it wakes us.
    if (!(v & kWaitBit)) {
      if (!word.cas(v, v | kWaitBit, std::memory_order_seq_cst)) continue;
      v |= kWaitBit;
    }
    int r = park_on(&word, v, dl, intr);
    if (r == -EINTR) {
      // No post chose this thread (its wait was interrupted first): a token
      // posted meanwhile went to another waiter or stays in the value.
      rc = EINTR;
      break;
    }
    if (r == -ETIMEDOUT) {
      // A token that is there at the deadline is still ours to take.
      rc = trywait() == 0 ? 0 : ETIMEDOUT;
      break;
    }
  }
  leave();
  return rc;
}

int Semaphore::clockwait(clockid_t clk, const timespec* abs, Intr intr) {
  if (!valid_clock(clk) || !abs || !valid_timespec(*abs)) return EINVAL;
  ClockDeadline dl(clk, *abs);
  return wait_until(&dl, intr);
}

int Semaphore::post() {
  uint32_t v = word.load(std::memory_order_relaxed);
  do {
    if ((v & kMax) == kMax) return EOVERFLOW;
  } while (!word.cas(v, v + 1, std::memory_order_seq_cst));
  // From here on only the address: the semaphore may be gone already.
  if (v & kWaitBit) futex_wake(&word, 1);
  return 0;
}

}  // namespace gh
