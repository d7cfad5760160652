// SPDX-License-Identifier: MIT
// A test-and-test-and-set spinlock for short critical sections that never
// park (wait-queue bookkeeping). Zero-initialised storage is unlocked.
#pragma once

#include <sys/syscall.h>

#include <atomic>
#include <cstdint>

#include "core/arch_x86_64.h"
#include "core/tsa.h"

namespace gh {

class GH_CAPABILITY("spinlock") SpinLock {
 public:
  void lock() GH_ACQUIRE() {
    for (;;) {
      if (!word_.exchange(1, std::memory_order_acquire)) return;
      // Held for a few instructions, unless its holder lost its CPU (more
      // runnable threads than cores): then give ours up now and then
      // rather than spin until the holder is scheduled again.
      for (uint32_t spins = 1; word_.load(std::memory_order_relaxed); spins++) {
        if (spins % kSpinsBeforeYield == 0)
          arch::raw_syscall(SYS_sched_yield);
        else
          arch::cpu_relax();
      }
    }
  }
  bool try_lock() GH_TRY_ACQUIRE(true) { return !word_.exchange(1, std::memory_order_acquire); }
  void unlock() GH_RELEASE() { word_.store(0, std::memory_order_release); }

 private:
  static constexpr uint32_t kSpinsBeforeYield = 1024;
  std::atomic<uint32_t> word_{0};
};

class GH_SCOPED_CAPABILITY SpinGuard {
 public:
  explicit SpinGuard(SpinLock& l) GH_ACQUIRE(l) : l_(l) { l_.lock(); }
  ~SpinGuard() GH_RELEASE() { l_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& l_;
};

}  // namespace gh
