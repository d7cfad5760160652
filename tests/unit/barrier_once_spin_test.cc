// SPDX-License-Identifier: MIT
// The remaining green primitives: the barrier (core/barrier.h: one serial
// thread per round, extra threads forming the next round, destroy right
// after wait), once (core/once.h: runs exactly once while others park, an
// exception resets it, a control completed by glibc counts as done) and the
// spinlock (core/spin.h: a holder on the same carrier gets to run, mutual
// exclusion on several carriers).
//
// Tests wait for conditions (wait_until_true), never for fixed sleeps; each
// wait is bounded and fails the test instead of hanging. Cross-carrier tests
// use OS threads (std::thread), each of which becomes a carrier when it first
// calls into the runtime; SyncCarriers tests run on 1, 2 and 4 carriers.
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <vector>

#include "core/barrier.h"
#include "core/green.h"
#include "core/once.h"
#include "core/spin.h"
#include "test_util.h"

namespace {

using namespace gh_test;

// ---- barrier ----

TEST(Barrier, InitRejectsZero) {
  gh::Barrier b{};
  EXPECT_EQ(b.init(0), EINVAL);
  EXPECT_EQ(b.wait(), EINVAL);
}

TEST_P(SyncCarriers, BarrierSerialOncePerRound) {
  constexpr int kPer = 5, kRounds = 40;
  const int n = carriers() * kPer;
  gh::Barrier b{};
  ASSERT_EQ(b.init(n), 0);
  std::vector<std::atomic<int>> arrived(kRounds), serial(kRounds);
  run_on_carriers(carriers(), kPer, [&](int) {
    for (int r = 0; r < kRounds; r++) {
      arrived[r]++;
      int rc = b.wait();
      ASSERT_TRUE(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD) << rc;
      if (rc == PTHREAD_BARRIER_SERIAL_THREAD) serial[r]++;
      // Nobody leaves a round before everyone arrived in it.
      EXPECT_EQ(arrived[r].load(), n);
    }
  });
  for (int r = 0; r < kRounds; r++) EXPECT_EQ(serial[r].load(), 1) << "round " << r;
  EXPECT_EQ(b.destroy(), 0);
}

TEST(Barrier, ExtraThreadsFormTheNextRound) {
  gh::Barrier b{};
  ASSERT_EQ(b.init(2), 0);
  int serial = 0, released = 0;
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < 4; i++)
    gs.push_back(go([&] {
      if (b.wait() == PTHREAD_BARRIER_SERIAL_THREAD) serial++;
      released++;
    }));
  join_all(gs);
  EXPECT_EQ(serial, 2);
  EXPECT_EQ(released, 4);
  // A round in progress keeps destroy away.
  gh::GreenThread* g = go([&] { b.wait(); });
  yield_n(2);
  EXPECT_EQ(b.destroy(), EBUSY);
  EXPECT_EQ(b.wait(), PTHREAD_BARRIER_SERIAL_THREAD);
  ASSERT_EQ(gh::join(g, nullptr), 0);
}

// The serial thread destroys and frees the barrier while others may still
// be on their way out of wait (ASan checks).
TEST_P(SyncCarriers, BarrierDestroyRightAfterWait) {
  for (int round = 0; round < 20; round++) {
    auto* b = new gh::Barrier{};
    ASSERT_EQ(b->init(carriers() * 3), 0);
    run_on_carriers(carriers(), 3, [b](int) {
      if (b->wait() == PTHREAD_BARRIER_SERIAL_THREAD) {
        EXPECT_EQ(b->destroy(), 0);
        delete b;
      }
    });
  }
}

// ---- once ----

std::atomic<int> g_once_calls{0};
std::atomic<bool> g_once_done{false};
void once_fn_that_parks() {
  g_once_calls++;
  gh::sleep_for(5 * kMs);  // park: the others must wait, not run it again
  gh::yield();
  g_once_done = true;
}

TEST_P(SyncCarriers, OnceRunsExactlyOnceWhileOthersPark) {
  g_once_calls = 0;
  g_once_done = false;
  std::atomic<int> control{PTHREAD_ONCE_INIT};
  run_on_carriers(carriers(), 6, [&](int) {
    EXPECT_EQ(gh::once(&control, &once_fn_that_parks), 0);
    EXPECT_TRUE(g_once_done.load()) << "returned before fn finished";
  });
  EXPECT_EQ(g_once_calls.load(), 1);
  EXPECT_EQ(control.load(), gh::kOnceDone);
  EXPECT_EQ(gh::once(&control, &once_fn_that_parks), 0);
  EXPECT_EQ(g_once_calls.load(), 1);
}

int g_throw_calls = 0;
void once_fn_throws_first() {
  if (g_throw_calls++ == 0) throw std::runtime_error("first");
}

TEST(Once, ExceptionResetsAndOthersRetry) {
  std::atomic<int> control{PTHREAD_ONCE_INIT};
  g_throw_calls = 0;
  EXPECT_THROW(gh::once(&control, &once_fn_throws_first), std::runtime_error);
  EXPECT_EQ(control.load(), gh::kOnceInit);
  EXPECT_EQ(gh::once(&control, &once_fn_throws_first), 0);
  EXPECT_EQ(g_throw_calls, 2);
  EXPECT_EQ(gh::once(nullptr, &once_fn_throws_first), EINVAL);
}

TEST(Once, ControlCompletedByGlibcCountsAsDone) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer replaces pthread_once, with a control word of its own";
#endif
  static pthread_once_t po = PTHREAD_ONCE_INIT;
  static int calls = 0;
  ASSERT_EQ(pthread_once(&po, [] { calls++; }), 0);  // glibc's own
  auto* control = reinterpret_cast<std::atomic<int>*>(&po);
  EXPECT_EQ(gh::once(control, [] { calls++; }), 0);
  EXPECT_EQ(calls, 1);
}

// ---- spin ----

TEST(Spin, HolderOnSameCarrierGetsToRun) {
  gh::Spin s{};
  ASSERT_EQ(s.lock(), 0);
  bool got = false;
  gh::GreenThread* g = go([&] {
    EXPECT_EQ(s.trylock(), EBUSY);
    EXPECT_EQ(s.lock(), 0);  // yields to the holder instead of spinning forever
    got = true;
    EXPECT_EQ(s.unlock(), 0);
  });
  yield_n(3);  // it spins and yields back to us
  EXPECT_FALSE(got);
  EXPECT_EQ(s.unlock(), 0);
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_TRUE(got);
}

TEST_P(SyncCarriers, SpinMutualExclusion) {
  gh::Spin s{};
  long counter = 0;
  constexpr int kPer = 4, kIters = 2000;
  run_on_carriers(carriers(), kPer, [&](int i) {
    for (int k = 0; k < kIters; k++) {
      s.lock();
      counter++;
      if ((k + i) % 11 == 0) gh::yield();
      s.unlock();
    }
  });
  EXPECT_EQ(counter, long{carriers()} * kPer * kIters);
}

}  // namespace
