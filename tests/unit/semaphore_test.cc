// SPDX-License-Identifier: MIT
// The green semaphore (core/semaphore.h): counts and limits, timed waits
// never early (EINVAL timeouts checked first, as glibc), post waking a
// parked waiter, producers and consumers on several carriers, a waiter
// freeing the semaphore right after post, a wake from another carrier, and
// signal handlers ending waits as they end the kernel's.
//
// Tests wait for conditions (wait_until_true), never for fixed sleeps; each
// wait is bounded and fails the test instead of hanging. Cross-carrier tests
// use OS threads (std::thread), each of which becomes a carrier when it first
// calls into the runtime; SyncCarriers tests run on 1, 2 and 4 carriers.
#include <gtest/gtest.h>
#include <semaphore.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "core/carrier.h"
#include "core/green.h"
#include "core/parking_lot.h"
#include "core/semaphore.h"
#include "test_util.h"

namespace {

using namespace gh_test;

TEST(Semaphore, CountsAndLimits) {
  gh::Semaphore s{};
  EXPECT_EQ(s.init(uint32_t{SEM_VALUE_MAX} + 1), EINVAL);
  ASSERT_EQ(s.init(2), 0);
  EXPECT_EQ(s.getvalue(), 2);
  EXPECT_EQ(s.trywait(), 0);
  EXPECT_EQ(s.wait(), 0);
  EXPECT_EQ(s.trywait(), EAGAIN);
  EXPECT_EQ(s.getvalue(), 0);
  EXPECT_EQ(s.post(), 0);
  EXPECT_EQ(s.getvalue(), 1);

  ASSERT_EQ(s.init(SEM_VALUE_MAX), 0);
  EXPECT_EQ(s.post(), EOVERFLOW);
  EXPECT_EQ(s.getvalue(), SEM_VALUE_MAX);
  EXPECT_EQ(s.trywait(), 0);
  EXPECT_EQ(s.post(), 0);
}

TEST(Semaphore, TimedWaitTimesOutNeverEarly) {
  for (clockid_t clk : {CLOCK_REALTIME, CLOCK_MONOTONIC}) {
    gh::Semaphore s{};
    timespec ts = abs_after(clk, 20 * kMs);
    EXPECT_EQ(s.clockwait(clk, &ts), ETIMEDOUT);
    EXPECT_GE(gh::clock_ns(clk), gh::timespec_ns(ts)) << "timed out early";
    EXPECT_EQ(s.waiters.load(), 0u);
    EXPECT_EQ(s.getvalue(), 0);
    // Bad timeouts are EINVAL even when a token is there (glibc checks first).
    ASSERT_EQ(s.post(), 0);
    timespec bad{ts.tv_sec, 1'000'000'000};
    EXPECT_EQ(s.clockwait(clk, &bad), EINVAL);
    EXPECT_EQ(s.clockwait(CLOCK_BOOTTIME, &ts), EINVAL);
    ts = abs_after(clk, 10'000 * kMs);
    EXPECT_EQ(s.clockwait(clk, &ts), 0);
  }
  gh::Semaphore s{};
  timespec ts = abs_after(CLOCK_REALTIME, 5 * kMs);
  EXPECT_EQ(s.timedwait(&ts), ETIMEDOUT);
  EXPECT_GE(gh::clock_ns(CLOCK_REALTIME), gh::timespec_ns(ts));
}

TEST(Semaphore, PostWakesParkedWaiter) {
  gh::Semaphore s{};
  int got = 0;
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < 3; i++)
    gs.push_back(go([&] {
      EXPECT_EQ(s.wait(), 0);
      got++;
    }));
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&s.word) == 3; }));
  EXPECT_EQ(s.post(), 0);
  ASSERT_TRUE(wait_until_true([&] { return got == 1; }));
  yield_n(3);
  EXPECT_EQ(got, 1);
  EXPECT_EQ(s.post(), 0);
  EXPECT_EQ(s.post(), 0);
  join_all(gs);
  EXPECT_EQ(got, 3);
  EXPECT_EQ(s.getvalue(), 0);
  EXPECT_EQ(s.waiters.load(), 0u);
}

TEST_P(SyncCarriers, SemaphoreProducersConsumers) {
  gh::Semaphore items{};
  constexpr int kItems = 3000;
  std::atomic<long> taken{0};
  run_on_carriers(carriers(), 4, [&](int idx) {
    for (int i = 0; i < kItems; i++) {
      if (idx % 2 == 0) {
        ASSERT_EQ(items.post(), 0);
        if (i % 5 == 0) gh::yield();
      } else {
        if (i % 3 == 0) {
          timespec ts = abs_after(CLOCK_MONOTONIC, 10'000 * kMs);
          ASSERT_EQ(items.clockwait(CLOCK_MONOTONIC, &ts), 0);
        } else {
          ASSERT_EQ(items.wait(), 0);
        }
        taken++;
      }
    }
  });
  EXPECT_EQ(taken.load(), long{carriers()} * 2 * kItems);
  EXPECT_EQ(items.getvalue(), 0);
  EXPECT_EQ(items.waiters.load(), 0u);
}

// The waiter frees the semaphore as soon as it has its token, while the
// poster (on another carrier) may still be inside post(): post must not
// touch the memory after publishing the token (ASan checks).
TEST(Semaphore, WaiterMayFreeRightAfterPost) {
  constexpr int kRounds = 300;
  std::atomic<gh::Semaphore*> slot{nullptr};
  std::thread poster([&] {
    for (int i = 0; i < kRounds; i++) {
      gh::Semaphore* s;
      ASSERT_TRUE(wait_until_true([&] { return (s = slot.exchange(nullptr)) != nullptr; }));
      EXPECT_EQ(s->post(), 0);
    }
  });
  for (int i = 0; i < kRounds; i++) {
    auto* s = new gh::Semaphore{};
    slot = s;
    EXPECT_EQ(s->wait(), 0);
    delete s;
  }
  poster.join();
}

void handler_ran(int) { gh::Carrier::current()->signal_arrived(false); }
void restart_handler_ran(int) { gh::Carrier::current()->signal_arrived(true); }

// A thread that raises SIGUSR1 (the handler runs while the root waits, as
// if for the root), then, if `post`, lets the carrier deliver the handler's
// interrupt (a few switches) and posts.
std::vector<gh::GreenThread*> raise_then(gh::Semaphore* s, bool post) {
  return {go([s, post] {
    raise(SIGUSR1);
    if (post) {
      yield_n(3);
      EXPECT_EQ(s->post(), 0);
    }
  })};
}

TEST(Semaphore, HandlersEndWaitsAsTheKernelWould) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = &handler_ran;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  gh::Semaphore s{};
  using Intr = gh::Semaphore::Intr;
  // sem_wait, handler without SA_RESTART: EINTR, and the wait is over (no
  // waiter left behind).
  auto g = raise_then(&s, false);
  EXPECT_EQ(s.wait(Intr::kUnlessRestart), EINTR);
  join_all(g);
  EXPECT_EQ(s.waiters.load(), 0u);
  // Not for a wait that no handler may end.
  g = raise_then(&s, true);
  EXPECT_EQ(s.wait(Intr::kNever), 0);
  join_all(g);

  // SA_RESTART: sem_wait waits on until the post; a timed wait does not.
  sa.sa_handler = &restart_handler_ran;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, nullptr), 0);
  g = raise_then(&s, true);
  EXPECT_EQ(s.wait(Intr::kUnlessRestart), 0);
  join_all(g);
  g = raise_then(&s, false);
  timespec ts = abs_after(CLOCK_MONOTONIC, 30'000 * kMs);
  EXPECT_EQ(s.clockwait(CLOCK_MONOTONIC, &ts, Intr::kAlways), EINTR);
  join_all(g);
  EXPECT_EQ(s.getvalue(), 0);
  EXPECT_EQ(s.waiters.load(), 0u);
  sigaction(SIGUSR1, &old, nullptr);
}

TEST(Semaphore, CrossCarrierWake) {
  gh::Semaphore s{};
  expect_parked_until_released(
      On::kOtherCarrier, [&] { EXPECT_EQ(s.wait(), 0); }, &s.word, [&] { EXPECT_EQ(s.post(), 0); });
}

}  // namespace
