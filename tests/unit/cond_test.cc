// SPDX-License-Identifier: MIT
// The green condition variable (core/cond.h): signal wakes one and
// broadcast all, timed waits on either clock (never early, mutex re-taken),
// the mutex checks and a recursive mutex released fully and restored,
// destroy right after a broadcast, ping-pong and a bounded queue across
// carriers, and a signal from another carrier.
//
// Tests wait for conditions (wait_until_true), never for fixed sleeps; each
// wait is bounded and fails the test instead of hanging. Cross-carrier tests
// use OS threads (std::thread), each of which becomes a carrier when it first
// calls into the runtime; SyncCarriers tests run on 1, 2 and 4 carriers.
#include <gtest/gtest.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "core/cond.h"
#include "core/green.h"
#include "core/mutex.h"
#include "core/parking_lot.h"
#include "test_util.h"

namespace {

using namespace gh_test;

TEST(Cond, SignalWakesOneBroadcastWakesAll) {
  gh::Mutex m{};
  gh::Cond c{};
  constexpr int kN = 5;
  int tokens = 0, waiting = 0, done = 0;  // guarded by m
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < kN; i++)
    gs.push_back(go([&] {
      m.lock();
      waiting++;
      while (tokens == 0) EXPECT_EQ(c.wait(m), 0);
      tokens--;
      done++;
      m.unlock();
    }));
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&c.seq) == kN; }));
  EXPECT_EQ(waiting, kN);

  m.lock();
  tokens = 1;
  EXPECT_EQ(c.signal(), 0);
  m.unlock();
  ASSERT_TRUE(wait_until_true([&] { return done == 1; }));
  yield_n(5);
  EXPECT_EQ(done, 1);
  EXPECT_EQ(gh::futex_parked(&c.seq), kN - 1) << "signal woke more than one";

  m.lock();
  tokens = kN - 1;
  EXPECT_EQ(c.broadcast(), 0);
  m.unlock();
  join_all(gs);
  EXPECT_EQ(done, kN);
  EXPECT_EQ(tokens, 0);
  EXPECT_EQ(c.waiters.load(), 0u);
}

TEST(Cond, SignalWithoutWaitersIsNoop) {
  gh::Cond c{};
  EXPECT_EQ(c.signal(), 0);
  EXPECT_EQ(c.broadcast(), 0);
  EXPECT_EQ(c.seq.load(), 0u);
  EXPECT_EQ(c.destroy(), 0);
}

TEST(Cond, TimedWaitTimesOutNeverEarlyAndRelocks) {
  for (clockid_t attr_clk : {CLOCK_REALTIME, CLOCK_MONOTONIC}) {
    gh::Cond c{};
    ASSERT_EQ(c.init(attr_clk), 0);
    EXPECT_EQ(c.clock(), attr_clk);
    gh::Mutex m{};
    ASSERT_EQ(m.init(PTHREAD_MUTEX_ERRORCHECK), 0);
    ASSERT_EQ(m.lock(), 0);

    timespec ts = abs_after(attr_clk, 20 * kMs);
    EXPECT_EQ(c.timedwait(m, &ts), ETIMEDOUT);
    EXPECT_GE(gh::clock_ns(attr_clk), gh::timespec_ns(ts)) << "timed out early";
    EXPECT_EQ(m.lock(), EDEADLK) << "mutex not re-acquired";

    // The explicit-clock variant, on the other clock.
    clockid_t other = attr_clk == CLOCK_REALTIME ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    ts = abs_after(other, 15 * kMs);
    EXPECT_EQ(c.clockwait(m, other, &ts), ETIMEDOUT);
    EXPECT_GE(gh::clock_ns(other), gh::timespec_ns(ts)) << "timed out early";
    EXPECT_EQ(m.lock(), EDEADLK);

    timespec bad{ts.tv_sec, -1};
    EXPECT_EQ(c.timedwait(m, &bad), EINVAL);
    EXPECT_EQ(c.clockwait(m, CLOCK_THREAD_CPUTIME_ID, &ts), EINVAL);
    EXPECT_EQ(m.unlock(), 0);
    EXPECT_EQ(c.destroy(), 0);
  }
}

TEST(Cond, WaitNeedsOwnedCheckedMutex) {
  gh::Cond c{};
  gh::Mutex m{};
  ASSERT_EQ(m.init(PTHREAD_MUTEX_ERRORCHECK), 0);
  EXPECT_EQ(c.wait(m), EPERM);
  ASSERT_EQ(m.init(PTHREAD_MUTEX_RECURSIVE), 0);
  EXPECT_EQ(c.wait(m), EPERM);
  EXPECT_EQ(c.waiters.load(), 0u);
}

TEST(Cond, RecursiveMutexFullyReleasedAndCountRestored) {
  gh::Cond c{};
  gh::Mutex m{};
  ASSERT_EQ(m.init(PTHREAD_MUTEX_RECURSIVE), 0);
  bool flag = false;
  gh::GreenThread* helper = go([&] {
    // Gets in only if the waiter released all three levels.
    EXPECT_EQ(m.lock(), 0);
    flag = true;
    EXPECT_EQ(c.signal(), 0);
    EXPECT_EQ(m.unlock(), 0);
  });
  for (int i = 0; i < 3; i++) ASSERT_EQ(m.lock(), 0);
  while (!flag) ASSERT_EQ(c.wait(m), 0);
  EXPECT_EQ(m.count, 3u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.unlock(), EPERM);
  ASSERT_EQ(gh::join(helper, nullptr), 0);

  // Also on timeout.
  for (int i = 0; i < 2; i++) ASSERT_EQ(m.lock(), 0);
  timespec ts = abs_after(CLOCK_REALTIME, 5 * kMs);
  EXPECT_EQ(c.timedwait(m, &ts), ETIMEDOUT);
  EXPECT_EQ(m.count, 2u);
  EXPECT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.unlock(), 0);
}

// A broadcast, then destroy and free at once: the woken waiters must not
// touch the cond after destroy returns (ASan would see it).
TEST(Cond, DestroyRightAfterBroadcast) {
  for (int round = 0; round < 20; round++) {
    auto* c = new gh::Cond{};
    gh::Mutex m{};
    bool go_on = false;
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < 4; i++)
      gs.push_back(go([&, c] {
        m.lock();
        while (!go_on) c->wait(m);
        m.unlock();
      }));
    ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&c->seq) == 4; }));
    m.lock();
    go_on = true;
    c->broadcast();
    m.unlock();
    EXPECT_EQ(c->destroy(), 0);
    delete c;
    join_all(gs);
  }
}

// Two parties on (up to) two carriers take turns, round after round.
TEST_P(SyncCarriers, CondPingPong) {
  gh::Mutex m{};
  gh::Cond c{};
  int turn = 0;  // guarded by m
  constexpr int kRounds = 2000;
  const int parties = std::max(2, carriers());
  const int per = carriers() == 1 ? parties : 1;
  const int threads = carriers() == 1 ? 1 : parties;
  run_on_carriers(threads, per, [&](int me) {
    for (int r = 0; r < kRounds; r++) {
      ASSERT_EQ(m.lock(), 0);
      while (turn % parties != me) ASSERT_EQ(c.wait(m), 0);
      turn++;
      // Everyone waits on one cond, so only a broadcast is sure to reach
      // the next party.
      ASSERT_EQ(c.broadcast(), 0);
      ASSERT_EQ(m.unlock(), 0);
    }
  });
  EXPECT_EQ(turn, parties * kRounds);
}

// Bounded queue with signal-only conds: producers and consumers on every
// carrier, waking each other across carriers.
TEST_P(SyncCarriers, CondProducerConsumer) {
  gh::Mutex m{};
  gh::Cond not_empty{}, not_full{};
  constexpr int kCap = 4, kItems = 2000;
  int buf[kCap];
  int head = 0, size = 0;  // guarded by m
  std::atomic<long> consumed_sum{0};
  const int pairs = carriers() * 2;
  run_on_carriers(carriers(), 4, [&](int idx) {
    if (idx % 2 == 0) {
      for (int i = 1; i <= kItems; i++) {
        m.lock();
        while (size == kCap) not_full.wait(m);
        buf[(head + size++) % kCap] = i;
        not_empty.signal();
        m.unlock();
      }
    } else {
      for (int i = 0; i < kItems; i++) {
        m.lock();
        while (size == 0) not_empty.wait(m);
        int v = buf[head];
        head = (head + 1) % kCap;
        size--;
        not_full.signal();
        m.unlock();
        consumed_sum += v;
      }
    }
  });
  EXPECT_EQ(consumed_sum.load(), long{pairs} * kItems * (kItems + 1) / 2);
  EXPECT_EQ(size, 0);
}

// A waiter on carrier A, signalled from carrier B.
TEST(Cond, CrossCarrierSignal) {
  gh::Mutex m{};
  gh::Cond c{};
  bool ready = false;
  std::atomic<bool> returned{false};
  std::thread t([&] {
    m.lock();
    while (!ready) EXPECT_EQ(c.wait(m), 0);
    m.unlock();
    returned = true;
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&c.seq) == 1; }));
  m.lock();
  ready = true;
  c.signal();
  m.unlock();
  t.join();
  EXPECT_TRUE(returned);
}

}  // namespace
