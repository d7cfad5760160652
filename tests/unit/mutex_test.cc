// SPDX-License-Identifier: MIT
// The green mutex (core/mutex.h): trylock, hand-off to a parked waiter, the
// uncontended fast path, error-checking and recursive kinds (with count
// overflow), timed locks on both clocks (never early, EINVAL timeouts),
// mutual exclusion on several carriers, and a cross-carrier hand-off.
//
// Tests wait for conditions (wait_until_true), never for fixed sleeps; each
// wait is bounded and fails the test instead of hanging. Cross-carrier tests
// use OS threads (std::thread), each of which becomes a carrier when it first
// calls into the runtime; SyncCarriers tests run on 1, 2 and 4 carriers.
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "core/green.h"
#include "core/mutex.h"
#include "core/parking_lot.h"
#include "test_util.h"

namespace {

using namespace gh_test;

TEST(Mutex, TrylockBusyAndUnlockWakesWaiter) {
  gh::Mutex m{};
  ASSERT_EQ(m.lock(), 0);
  expect_parked_until_released(
      On::kThisCarrier,
      [&] {
        EXPECT_EQ(m.trylock(), EBUSY);
        EXPECT_EQ(m.lock(), 0);
        EXPECT_EQ(m.unlock(), 0);
      },
      &m.state, [&] { EXPECT_EQ(m.unlock(), 0); });
  EXPECT_EQ(m.state.load(), 0u);
  EXPECT_EQ(m.destroy(), 0);
}

TEST(Mutex, UncontendedIsOneRmwWithoutFutex) {
  gh::Mutex m{};
  ASSERT_EQ(m.lock(), 0);
  EXPECT_EQ(m.state.load(), 1u);  // not marked contended
  EXPECT_EQ(m.destroy(), EBUSY);
  ASSERT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.state.load(), 0u);
}

TEST(Mutex, ErrorCheck) {
  gh::Mutex m{};
  ASSERT_EQ(m.init(PTHREAD_MUTEX_ERRORCHECK), 0);
  EXPECT_EQ(m.unlock(), EPERM);  // unlocked
  ASSERT_EQ(m.lock(), 0);
  EXPECT_EQ(m.lock(), EDEADLK);
  EXPECT_EQ(m.trylock(), EBUSY);
  timespec ts = abs_after(CLOCK_MONOTONIC, 10 * kMs);
  EXPECT_EQ(m.clocklock(CLOCK_MONOTONIC, &ts), EDEADLK);
  gh::GreenThread* g = go([&] {
    EXPECT_EQ(m.unlock(), EPERM);  // not the owner
    EXPECT_EQ(m.trylock(), EBUSY);
  });
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.unlock(), EPERM);
}

TEST(Mutex, RecursiveCounts) {
  gh::Mutex m{};
  ASSERT_EQ(m.init(PTHREAD_MUTEX_RECURSIVE), 0);
  ASSERT_EQ(m.lock(), 0);
  ASSERT_EQ(m.lock(), 0);
  ASSERT_EQ(m.trylock(), 0);
  timespec ts = abs_after(CLOCK_REALTIME, 10 * kMs);
  ASSERT_EQ(m.timedlock(&ts), 0);
  EXPECT_EQ(m.count, 4u);
  bool other_locked = false;
  gh::GreenThread* g = go([&] {
    EXPECT_EQ(m.unlock(), EPERM);
    EXPECT_EQ(m.trylock(), EBUSY);
    EXPECT_EQ(m.lock(), 0);
    other_locked = true;
    EXPECT_EQ(m.unlock(), 0);
  });
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(m.unlock(), 0);
    yield_n(2);
    EXPECT_FALSE(other_locked) << "released after " << i + 1 << " of 4 unlocks";
  }
  ASSERT_EQ(m.unlock(), 0);
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_TRUE(other_locked);
  EXPECT_EQ(m.unlock(), EPERM);

  // Overflow of the count.
  ASSERT_EQ(m.lock(), 0);
  m.count = UINT32_MAX;
  EXPECT_EQ(m.lock(), EAGAIN);
  EXPECT_EQ(m.trylock(), EAGAIN);
  m.count = 1;
  EXPECT_EQ(m.unlock(), 0);
}

TEST(Mutex, InitRejectsUnknownKind) {
  gh::Mutex m{};
  EXPECT_EQ(m.init(7), EINVAL);
  EXPECT_EQ(m.init(PTHREAD_MUTEX_ADAPTIVE_NP), 0);
  EXPECT_EQ(m.lock(), 0);
  EXPECT_EQ(m.unlock(), 0);
}

TEST(Mutex, TimedLockTimesOutNeverEarly) {
  for (int kind : {PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ERRORCHECK}) {
    for (clockid_t clk : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
      gh::Mutex m{};
      ASSERT_EQ(m.init(kind), 0);
      bool release = false;
      gh::GreenThread* holder = go([&] {
        EXPECT_EQ(m.lock(), 0);
        wait_until_true([&] { return release; });
        EXPECT_EQ(m.unlock(), 0);
      });
      yield_n(1);
      timespec ts = abs_after(clk, 20 * kMs);
      int64_t deadline = gh::timespec_ns(ts);
      EXPECT_EQ(m.clocklock(clk, &ts), ETIMEDOUT) << kind << " " << clk;
      EXPECT_GE(gh::clock_ns(clk), deadline) << "timed out early";
      // Invalid timeouts are EINVAL when the call would block.
      timespec bad{ts.tv_sec, 1'000'000'000};
      EXPECT_EQ(m.clocklock(clk, &bad), EINVAL);
      EXPECT_EQ(m.clocklock(CLOCK_PROCESS_CPUTIME_ID, &ts), EINVAL);
      // A deadline long past times out at once.
      timespec past{0, 0};
      EXPECT_EQ(m.clocklock(clk, &past), ETIMEDOUT);
      release = true;
      ASSERT_EQ(gh::join(holder, nullptr), 0);
      // Free mutex: the timeout is not even looked at (as glibc).
      EXPECT_EQ(m.clocklock(clk, &bad), 0);
      EXPECT_EQ(m.unlock(), 0);
    }
  }
}

TEST(Mutex, TimedLockGetsMutexReleasedBeforeDeadline) {
  gh::Mutex m{};
  ASSERT_EQ(m.lock(), 0);
  int rc = -1;
  gh::GreenThread* g = go([&] {
    timespec ts = abs_after(CLOCK_REALTIME, 10'000 * kMs);
    rc = m.timedlock(&ts);
    if (rc == 0) m.unlock();
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&m.state) == 1; }));
  m.unlock();
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(rc, 0);
}

TEST_P(SyncCarriers, MutexMutualExclusion) {
  for (int kind : {PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ERRORCHECK}) {
    gh::Mutex m{};
    ASSERT_EQ(m.init(kind), 0);
    long counter = 0;  // guarded by m; not atomic on purpose
    std::atomic<int> inside{0};
    constexpr int kPer = 8, kIters = 1500;
    run_on_carriers(carriers(), kPer, [&](int idx) {
      for (int i = 0; i < kIters; i++) {
        ASSERT_EQ(m.lock(), 0);
        EXPECT_EQ(inside.fetch_add(1), 0) << "two threads inside";
        counter++;
        if ((i + idx) % 7 == 0) gh::yield();  // hold it across a switch
        inside.fetch_sub(1);
        ASSERT_EQ(m.unlock(), 0);
      }
    });
    EXPECT_EQ(counter, long{carriers()} * kPer * kIters) << "kind " << kind;
    EXPECT_EQ(m.state.load(), 0u);
  }
}

// A thread that locks again as soon as it unlocks cannot starve a waiter:
// once the waiter has lost for kStarveNs the mutex is handed to it. Here the
// hogs give the carrier up only while they hold the mutex, so a waiter that
// must win the race never does; they stop after far more rounds than the
// hand-offs take.
TEST(Mutex, WaiterIsHandedTheMutexAfterLosingLongEnough) {
  gh::Mutex m{};
  ASSERT_EQ(m.init(PTHREAD_MUTEX_NORMAL), 0);
  long rounds = 0;
  bool done = false;
  constexpr long kCap = 2'000'000;
  constexpr int kWants = 10;
  long rounds_when_done = -1;
  std::vector<gh::GreenThread*> gs;
  for (int h = 0; h < 2; h++)
    gs.push_back(go([&] {
      while (!done && rounds < kCap) {
        ASSERT_EQ(m.lock(), 0);
        if (++rounds % 64 == 0) gh::yield();  // the others run while we hold it
        ASSERT_EQ(m.unlock(), 0);
      }
    }));
  gs.push_back(go([&] {
    for (int i = 0; i < kWants; i++) {
      ASSERT_EQ(m.lock(), 0);
      ASSERT_EQ(m.unlock(), 0);
    }
    rounds_when_done = rounds;
    done = true;
  }));
  join_all(gs);
  ASSERT_GE(rounds_when_done, 0) << "the waiter never got its turns";
  EXPECT_LT(rounds_when_done, kCap) << "starved until the hogs stopped";
  EXPECT_EQ(m.state.load(), 0u);
}

// A waiter parked on carrier A is woken by an unlock on carrier B.
TEST(Mutex, CrossCarrierHandOff) {
  gh::Mutex m{};
  ASSERT_EQ(m.lock(), 0);
  expect_parked_until_released(
      On::kOtherCarrier,
      [&] {
        EXPECT_EQ(m.lock(), 0);
        EXPECT_EQ(m.unlock(), 0);
      },
      &m.state, [&] { EXPECT_EQ(m.unlock(), 0); });
}

}  // namespace
