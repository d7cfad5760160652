// SPDX-License-Identifier: MIT
#include "core/cpu_time.h"

#include <fcntl.h>
#include <sys/syscall.h>

#include <cstring>

#include "core/green_thread.h"
#include "core/sys.h"

namespace gh::cpu_time {

std::atomic<bool> g_tsc{false};

namespace {

std::atomic<int> g_state{0};  // 0: undecided, 1: deciding, 2: decided
uint64_t g_tsc0 = 0;          // [const once decided] calibration start
int64_t g_mono0 = 0;
// Nanoseconds per TSC tick in 32.32 fixed point; 0 until measured.
std::atomic<uint64_t> g_ns_per_tick{0};

int64_t mono() {
  timespec ts{};
  gh::sys_ret(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Whether the kernel keeps time with the TSC: then it found the TSC
// invariant and synchronised between CPUs, and so may we.
bool kernel_uses_tsc() {
  long fd = gh::sys_ret(SYS_openat, AT_FDCWD,
                        "/sys/devices/system/clocksource/clocksource0/current_clocksource",
                        O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[16] = {};
  long n = gh::sys_ret(SYS_read, fd, buf, sizeof buf - 1);
  gh::sys_ret(SYS_close, fd);
  return n >= 3 && std::strncmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
}

}  // namespace

void init() {
  if (g_state.load(std::memory_order_acquire) == 2) return;
  int expected = 0;
  if (!g_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    while (g_state.load(std::memory_order_acquire) != 2) __builtin_ia32_pause();
    return;
  }
  bool tsc = kernel_uses_tsc();
  if (tsc) {
    g_mono0 = mono();
    g_tsc0 = __builtin_ia32_rdtsc();
  }
  g_tsc.store(tsc, std::memory_order_relaxed);
  g_state.store(2, std::memory_order_release);
}

int64_t to_ns(uint64_t ticks) {
  if (!g_tsc.load(std::memory_order_relaxed)) return static_cast<int64_t>(ticks);
  uint64_t rate = g_ns_per_tick.load(std::memory_order_acquire);
  if (rate == 0) {
    // Measure over at least 2 ms (the error is the two clock readings',
    // some tens of nanoseconds: 1e-5). The first to finish sets the rate.
    int64_t m;
    uint64_t t;
    do {
      m = mono();
      t = __builtin_ia32_rdtsc();
      if (m - g_mono0 < 2000000) gh::sys_ret(SYS_sched_yield);
    } while (m - g_mono0 < 2000000);
    uint64_t measured = static_cast<uint64_t>((static_cast<unsigned __int128>(m - g_mono0) << 32) /
                                              (t - g_tsc0 ? t - g_tsc0 : 1));
    uint64_t none = 0;
    g_ns_per_tick.compare_exchange_strong(none, measured ? measured : 1, std::memory_order_acq_rel);
    rate = g_ns_per_tick.load(std::memory_order_acquire);
  }
  return static_cast<int64_t>((static_cast<unsigned __int128>(ticks) * rate) >> 32);
}

int64_t thread_ns(GreenThread* g) {
  uint64_t ticks;
  uint64_t since;
  for (;;) {
    ticks = g->cpu_ticks.load(std::memory_order_acquire);
    since = g->cpu_since.load(std::memory_order_acquire);
    if (g->cpu_ticks.load(std::memory_order_acquire) == ticks) break;
  }
  if (since != 0) {
    uint64_t t = now();
    if (t > since) ticks += t - since;
  }
  int64_t ns = g->cpu_base_ns + to_ns(ticks);
  // Readers on other threads can race with a switch and see a run less:
  // never report less than before.
  int64_t seen = g->cpu_reported.load(std::memory_order_relaxed);
  while (ns > seen && !g->cpu_reported.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
  }
  return ns > seen ? ns : seen;
}

}  // namespace gh::cpu_time
