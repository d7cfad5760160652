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

// Step `spins` (counting from 1) of a wait for another OS thread to let go
// of something it holds for a few instructions: a pause, and every
// kSpinsPerYield steps the CPU given up, since the holder may have lost its
// CPU (more runnable threads than cores). After kYieldsBeforeSleep of those,
// a 50 us sleep instead: a real-time thread's sched_yield never lets a
// holder of lower priority run on its CPU (a green thread that made its
// carrier SCHED_FIFO livelocked the process).
inline void spin_backoff(uint32_t spins) {
  constexpr uint32_t kSpinsPerYield = 1024, kYieldsBeforeSleep = 64;
  if (spins % kSpinsPerYield != 0) {
    arch::cpu_relax();
  } else if (spins / kSpinsPerYield <= kYieldsBeforeSleep) {
    arch::raw_syscall(SYS_sched_yield);
  } else {
    long ts[2] = {0, 50'000};  // struct timespec
    arch::raw_syscall(SYS_nanosleep, reinterpret_cast<long>(ts), 0);
  }
}

class GH_CAPABILITY("spinlock") SpinLock {
 public:
  void lock() GH_ACQUIRE() {
    for (;;) {
      if (!word_.exchange(1, std::memory_order_acquire)) return;
      // Held for a few instructions, unless its holder lost its CPU (more
      // runnable threads than cores): then give ours up now and then
      // rather than spin until the holder is scheduled again.
      for (uint32_t spins = 1; word_.load(std::memory_order_relaxed); spins++) spin_backoff(spins);
    }
  }
  bool try_lock() GH_TRY_ACQUIRE(true) { return !word_.exchange(1, std::memory_order_acquire); }
  void unlock() GH_RELEASE() { word_.store(0, std::memory_order_release); }

 private:
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
