// SPDX-License-Identifier: MIT
// Time in the runtime is int64 nanoseconds of CLOCK_MONOTONIC unless a name
// says otherwise. A deadline < 0 means "no deadline".
#pragma once

#include <time.h>

#include <cstdint>

namespace gh {

constexpr int64_t kNoDeadline = -1;
constexpr int64_t kNsPerSec = 1000000000;

inline int64_t clock_ns(clockid_t clk) {
  timespec ts;
  clock_gettime(clk, &ts);
  return int64_t{ts.tv_sec} * kNsPerSec + ts.tv_nsec;
}
inline int64_t mono_ns() { return clock_ns(CLOCK_MONOTONIC); }
// CLOCK_MONOTONIC to a few milliseconds, at a fraction of its cost: for
// bookkeeping such as how long a thread has waited (diagnostics).
inline int64_t coarse_ns() { return clock_ns(CLOCK_MONOTONIC_COARSE); }

inline int64_t timespec_ns(const timespec& ts) {
  return int64_t{ts.tv_sec} * kNsPerSec + ts.tv_nsec;
}
inline timespec ns_timespec(int64_t ns) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / kNsPerSec);
  ts.tv_nsec = static_cast<long>(ns % kNsPerSec);
  return ts;
}

// True for the clocks glibc accepts for absolute timeouts of its pthread
// and semaphore calls.
inline bool valid_clock(clockid_t clk) { return clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC; }

// Whether ts is a valid time value for the kernel: 0 <= tv_nsec < 1 s.
inline bool valid_timespec(const timespec& ts) { return ts.tv_nsec >= 0 && ts.tv_nsec < kNsPerSec; }
// The same for a relative timeout, which must not be negative.
inline bool valid_interval(const timespec& ts) { return ts.tv_sec >= 0 && valid_timespec(ts); }

// Nanoseconds from now until the deadline, 0 when it has passed.
inline int64_t ns_until(int64_t deadline_ns) {
  int64_t rel = deadline_ns - mono_ns();
  return rel < 0 ? 0 : rel;
}

// Saturating add for deadlines: now + relative without overflow.
inline int64_t deadline_after(int64_t relative_ns) {
  int64_t now = mono_ns();
  if (relative_ns > INT64_MAX - now) return INT64_MAX;
  return now + relative_ns;
}

}  // namespace gh
