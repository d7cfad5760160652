// SPDX-License-Identifier: MIT
// The parking lot (core/parking_lot.h), the green futex every primitive
// parks on: value mismatch, timeouts never early, FIFO wake-ups and their
// counts, requeue (and a requeued waiter timing out), and wake-ups racing
// with timeouts across carriers, every reported wake matched by a waiter.
//
// Tests wait for conditions (wait_until_true), never for fixed sleeps; each
// wait is bounded and fails the test instead of hanging. Cross-carrier tests
// use OS threads (std::thread), each of which becomes a carrier when it first
// calls into the runtime; SyncCarriers tests run on 1, 2 and 4 carriers.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <thread>
#include <vector>

#include "core/green.h"
#include "core/parking_lot.h"
#include "test_util.h"

namespace {

using namespace gh_test;

TEST(ParkingLot, ValueMismatchReturnsEagain) {
  std::atomic<uint32_t> word{5};
  EXPECT_EQ(gh::futex_wait(&word, 4, gh::kNoDeadline), -EAGAIN);
  EXPECT_EQ(gh::futex_wake(&word, 1), 0);
}

TEST(ParkingLot, TimesOutNeverEarly) {
  std::atomic<uint32_t> word{0};
  int64_t start = gh::mono_ns();
  int64_t deadline = start + 20 * kMs;
  EXPECT_EQ(gh::futex_wait(&word, 0, deadline), -ETIMEDOUT);
  EXPECT_GE(gh::mono_ns(), deadline);
  EXPECT_EQ(gh::futex_parked(&word), 0);
  // A deadline in the past times out at once.
  EXPECT_EQ(gh::futex_wait(&word, 0, 0), -ETIMEDOUT);
}

TEST(ParkingLot, WakesOldestFirstAndCounts) {
  static std::atomic<uint32_t> word{0};
  static std::vector<int> order;
  order.clear();
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < 3; i++)
    gs.push_back(go([i] {
      EXPECT_EQ(gh::futex_wait(&word, 0, gh::kNoDeadline), 0);
      order.push_back(i);
    }));
  ASSERT_TRUE(wait_until_true([] { return gh::futex_parked(&word) == 3; }));
  // Another address in the same table does not wake them.
  std::atomic<uint32_t> other{0};
  EXPECT_EQ(gh::futex_wake(&other, INT_MAX), 0);
  EXPECT_EQ(gh::futex_wake(&word, 1), 1);
  yield_n(3);
  EXPECT_EQ(order, std::vector<int>{0});
  EXPECT_EQ(gh::futex_wake(&word, INT_MAX), 2);
  join_all(gs);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(gh::futex_wake(&word, INT_MAX), 0);
}

TEST(ParkingLot, HandOffWakesTheOldestWithItsOwnResult) {
  static std::atomic<uint32_t> word{0};
  static std::vector<std::pair<int, int>> got;  // (thread, result)
  got.clear();
  EXPECT_EQ(gh::futex_hand_off(&word), 0) << "nobody parked";
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < 2; i++)
    gs.push_back(go([i] { got.emplace_back(i, gh::futex_wait(&word, 0, gh::kNoDeadline)); }));
  ASSERT_TRUE(wait_until_true([] { return gh::futex_parked(&word) == 2; }));
  EXPECT_EQ(gh::futex_hand_off(&word), 1);
  yield_n(3);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], std::make_pair(0, gh::kFutexHandedOff));
  EXPECT_EQ(gh::futex_wake(&word, INT_MAX), 1);  // a plain wake says 0
  join_all(gs);
  EXPECT_EQ(got[1], std::make_pair(1, 0));
}

// A hand-off passes over a waiter whose timeout has already won (its node
// still queued: it has not run since) to the next one.
TEST(ParkingLot, HandOffPassesATimedOutWaiter) {
  static std::atomic<uint32_t> word{0};
  static std::atomic<int> a{99}, b{99};
  int64_t t0 = gh::mono_ns();
  std::vector<gh::GreenThread*> gs;
  gs.push_back(go([t0] { a = gh::futex_wait(&word, 0, t0 + 20 * kMs); }));
  ASSERT_TRUE(wait_until_true([] { return gh::futex_parked(&word) == 1; }));
  gs.push_back(go([] { b = gh::futex_wait(&word, 0, gh::kNoDeadline); }));
  ASSERT_TRUE(wait_until_true([] { return gh::futex_parked(&word) == 2; }));
  // Keep the carrier busy past both deadlines below: when it next looks at
  // its timers both fire, ours first, so we run while A's node is queued.
  gs.push_back(go([t0] {
    while (gh::mono_ns() < t0 + 40 * kMs) {
    }
  }));
  gh::sleep_until(t0 + 10 * kMs);
  int handed = gh::futex_hand_off(&word);
  EXPECT_EQ(handed, 1) << "B was parked behind the timed-out A";
  if (handed == 0) gh::futex_wake(&word, INT_MAX);  // fail, not hang
  join_all(gs);
  EXPECT_EQ(a.load(), -ETIMEDOUT);
  EXPECT_EQ(b.load(), gh::kFutexHandedOff);
}

TEST(ParkingLot, FirstParksAheadOfTheQueue) {
  static std::atomic<uint32_t> word{0};
  static std::vector<int> order;
  order.clear();
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < 2; i++)
    gs.push_back(go([i] {
      EXPECT_EQ(gh::futex_wait(&word, 0, gh::kNoDeadline), 0);
      order.push_back(i);
    }));
  ASSERT_TRUE(wait_until_true([] { return gh::futex_parked(&word) == 2; }));
  gs.push_back(go([] {
    EXPECT_EQ(gh::futex_wait(&word, 0, gh::kNoDeadline, "futex", /*first=*/true), 0);
    order.push_back(2);
  }));
  ASSERT_TRUE(wait_until_true([] { return gh::futex_parked(&word) == 3; }));
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(gh::futex_wake(&word, 1), 1);
    yield_n(3);
  }
  join_all(gs);
  EXPECT_EQ(order, (std::vector<int>{2, 0, 1}));
}

TEST(ParkingLot, RequeueMovesWaiters) {
  static std::atomic<uint32_t> from{0}, to{0};
  static std::atomic<int> woken{0};
  woken = 0;
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < 4; i++)
    gs.push_back(go([] {
      EXPECT_EQ(gh::futex_wait(&from, 0, gh::kNoDeadline), 0);
      woken++;
    }));
  ASSERT_TRUE(wait_until_true([] { return gh::futex_parked(&from) == 4; }));
  EXPECT_EQ(gh::futex_requeue(&from, &to, 1, 2), 3);
  EXPECT_EQ(gh::futex_parked(&from), 1);
  EXPECT_EQ(gh::futex_parked(&to), 2);
  yield_n(3);
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(gh::futex_wake(&to, INT_MAX), 2);
  EXPECT_EQ(gh::futex_wake(&from, INT_MAX), 1);
  join_all(gs);
  EXPECT_EQ(woken, 4);
}

TEST(ParkingLot, RequeuedWaiterTimesOutCleanly) {
  static std::atomic<uint32_t> from{0}, to{0};
  int r = 1;
  gh::GreenThread* g = go([&r] { r = gh::futex_wait(&from, 0, gh::deadline_after(20 * kMs)); });
  ASSERT_TRUE(wait_until_true([] { return gh::futex_parked(&from) == 1; }));
  EXPECT_EQ(gh::futex_requeue(&from, &to, 0, INT_MAX), 1);
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(r, -ETIMEDOUT);
  EXPECT_EQ(gh::futex_parked(&to), 0);
}

// Wake-ups racing with timeouts across carriers: every wake that futex_wake
// reports went to a waiter that returned 0, and no other waiter returned 0.
TEST_P(SyncCarriers, WakeTimeoutRaceAccounting) {
  static std::atomic<uint32_t> word{0};
  std::atomic<long> woken_reported{0}, woken_seen{0}, timeouts{0};
  std::atomic<int> waiters_done{0};
  const int waiter_threads = carriers() * 4;
  constexpr int kIters = 300;
  std::vector<std::thread> wakers;
  std::atomic<bool> stop{false};
  for (int i = 0; i < 2; i++)
    wakers.emplace_back([&] {
      while (!stop.load()) {
        woken_reported += gh::futex_wake(&word, 1);
        std::this_thread::yield();
      }
    });
  run_on_carriers(carriers(), 4, [&](int idx) {
    for (int i = 0; i < kIters; i++) {
      int r = gh::futex_wait(&word, 0, gh::deadline_after((idx * 7 + i) % 50 * 1000));
      if (r == 0)
        woken_seen++;
      else if (r == -ETIMEDOUT)
        timeouts++;
      else
        ADD_FAILURE() << "futex_wait returned " << r;
    }
    waiters_done++;
  });
  stop = true;
  for (auto& t : wakers) t.join();
  EXPECT_EQ(waiters_done, waiter_threads);
  EXPECT_EQ(woken_reported.load(), woken_seen.load());
  EXPECT_EQ(woken_seen + timeouts, long{waiter_threads} * kIters);
  EXPECT_EQ(gh::futex_parked(&word), 0);
}

}  // namespace
