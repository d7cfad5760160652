// SPDX-License-Identifier: MIT
// CPU time of green threads (core/cpu_time.h): a thread's clock advances
// while it runs and stands still while it waits, also while another green
// thread computes on the same carrier, and never goes back when read from
// another thread.
#include <gtest/gtest.h>

#include <time.h>

#include <atomic>

#include "core/clock.h"
#include "core/cpu_time.h"
#include "core/green.h"
#include "core/green_thread.h"

namespace {

constexpr int64_t kWorkNs = 30'000'000;

// Spins until g's own clock has advanced by at least ns.
void spin_own_clock(gh::GreenThread* g, int64_t ns) {
  int64_t start = gh::cpu_time::thread_ns(g);
  volatile uint64_t x = 1;
  while (gh::cpu_time::thread_ns(g) - start < ns)
    for (int i = 0; i < 1000; i++) x = x * 3 + 1;
}

TEST(CpuTime, TicksConvertAtTheClocksRate) {
  // A stretch of CLOCK_MONOTONIC measured in ticks converts back to itself.
  timespec a{}, b{};
  clock_gettime(CLOCK_MONOTONIC, &a);
  uint64_t t0 = gh::cpu_time::now();
  do clock_gettime(CLOCK_MONOTONIC, &b);
  while (gh::timespec_ns(b) - gh::timespec_ns(a) < 20'000'000);
  uint64_t t1 = gh::cpu_time::now();
  int64_t wall = gh::timespec_ns(b) - gh::timespec_ns(a);
  int64_t ticks_ns = gh::cpu_time::to_ns(t1 - t0);
  EXPECT_NEAR(static_cast<double>(ticks_ns), static_cast<double>(wall), wall * 0.01);
}

TEST(CpuTime, AWaitingThreadsClockStandsStillWhileAnotherComputes) {
  static std::atomic<bool> go{false};
  static std::atomic<bool> done{false};
  go = false;
  done = false;
  gh::GreenThread *waiter, *computer;
  ASSERT_EQ(gh::spawn(
                [](void*) -> void* {
                  while (!done.load()) gh::sleep_for(1'000'000);
                  return nullptr;
                },
                nullptr, {}, &waiter),
            0);
  ASSERT_EQ(gh::spawn(
                [](void*) -> void* {
                  while (!go.load()) gh::yield();
                  spin_own_clock(gh::self(), kWorkNs);
                  done = true;
                  return nullptr;
                },
                nullptr, {}, &computer),
            0);
  gh::yield();  // both have started
  int64_t w0 = gh::cpu_time::thread_ns(waiter);
  int64_t c0 = gh::cpu_time::thread_ns(computer);
  int64_t me0 = gh::cpu_time::thread_ns(gh::self());
  go = true;
  while (!done.load()) gh::sleep_for(1'000'000);
  int64_t w1 = gh::cpu_time::thread_ns(waiter);
  int64_t c1 = gh::cpu_time::thread_ns(computer);
  int64_t me1 = gh::cpu_time::thread_ns(gh::self());
  EXPECT_GE(c1 - c0, kWorkNs);
  // The waiter and this thread woke every millisecond: microseconds each.
  EXPECT_LT(w1 - w0, kWorkNs / 3);
  EXPECT_LT(me1 - me0, kWorkNs / 3);
  ASSERT_EQ(gh::join(waiter, nullptr), 0);
  ASSERT_EQ(gh::join(computer, nullptr), 0);
}

TEST(CpuTime, ReadFromAnotherThreadNeverGoesBack) {
  static std::atomic<bool> stop{false};
  stop = false;
  gh::GreenThread* busy;
  ASSERT_EQ(gh::spawn(
                [](void*) -> void* {
                  volatile uint64_t x = 1;
                  while (!stop.load()) {
                    for (int i = 0; i < 100; i++) x = x * 3 + 1;
                    gh::yield();
                  }
                  return nullptr;
                },
                nullptr, {}, &busy),
            0);
  int64_t last = 0;
  int back = 0;
  for (int i = 0; i < 20000; i++) {
    int64_t v = gh::cpu_time::thread_ns(busy);
    if (v < last) back++;
    last = v;
    gh::yield();
  }
  stop = true;
  ASSERT_EQ(gh::join(busy, nullptr), 0);
  EXPECT_EQ(back, 0);
  EXPECT_GT(last, 0);
}

}  // namespace
