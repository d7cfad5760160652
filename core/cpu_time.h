// SPDX-License-Identifier: MIT
// CPU time of green threads (docs/design.md, "CPU time of a thread").
//
// The kernel keeps CPU time per OS thread, and a carrier runs many green
// threads, so each green thread counts its own: the carrier reads a cheap
// tick counter at every switch (the TSC where the kernel itself keeps time
// with it, else CLOCK_MONOTONIC) and adds the ticks the thread ran to its
// total (GreenThread::cpu_ticks). The time includes the system calls the
// carrier makes while it runs the thread, as the kernel's thread clock
// does; it also includes time the carrier's OS thread was preempted or
// blocked in a call that does not park, which the kernel's does not.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

namespace gh {

struct GreenThread;

namespace cpu_time {

// Whether the ticks are TSC cycles (else CLOCK_MONOTONIC nanoseconds).
// Decided once, by init().
extern std::atomic<bool> g_tsc;

// Decides the tick source and starts the TSC calibration. Any thread; the
// first call decides, later ones return at once.
void init();

// The tick counter.
inline uint64_t now() {
  if (__builtin_expect(g_tsc.load(std::memory_order_relaxed), 1)) return __builtin_ia32_rdtsc();
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Ticks to nanoseconds. The first conversion of a TSC count fixes the
// TSC's rate, measured against CLOCK_MONOTONIC since init() (it waits
// until 2 ms have passed, once per process).
int64_t to_ns(uint64_t ticks);

// The CPU time of g in nanoseconds: what it had before it became a green
// thread (a root's OS thread time), plus the ticks it ran, plus, while it
// runs, the ticks since its carrier switched to it. Never less than a
// value returned before for g. Any thread; g must stay alive meanwhile.
int64_t thread_ns(GreenThread* g);

}  // namespace cpu_time
}  // namespace gh
