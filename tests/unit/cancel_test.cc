// SPDX-License-Identifier: MIT
// Cancellation in the runtime (docs/design.md, "Cancellation"): inside a
// cancellation point (GreenThread::cancel_point) gh::cancel_wait ends a
// condition variable wait (the mutex held again), a join (the target still
// joinable), a sleep and a futex wait; a request made before the wait began
// ends it at once; outside a cancellation point, and for signal handlers,
// the cond and join waits go on. Cancellers run on this carrier and on
// another OS thread.
//
// Tests wait for conditions (wait_until_true), never for fixed sleeps.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "core/carrier.h"
#include "core/cond.h"
#include "core/green.h"
#include "core/mutex.h"
#include "core/parking_lot.h"
#include "test_util.h"

namespace {

using namespace gh_test;

// Requests g's cancellation as pthread_cancel does; returns cancel_wait's
// answer (whether it ended a wait).
bool cancel(gh::GreenThread* g) {
  g->cancel_requested.store(true, std::memory_order_seq_cst);
  return gh::cancel_wait(g);
}

// Runs fn inside a cancellation point of the running green thread.
template <class Fn>
void at_cancel_point(Fn&& fn) {
  gh::GreenThread* me = gh::self();
  me->cancel_point = true;
  fn();
  me->cancel_point = false;
}

TEST(Cancel, EndsACondWaitWithTheMutexHeldAgain) {
  for (On where : {On::kThisCarrier, On::kOtherCarrier}) {
    gh::Mutex m{};
    gh::Cond c{};
    int rc = -1;
    int relock = -1;
    gh::GreenThread* g = go([&] {
      at_cancel_point([&] {
        m.lock();
        rc = c.wait(m);
        relock = m.trylock();  // EBUSY: we hold it
        m.unlock();
      });
    });
    ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&c.seq) == 1; }));
    bool ended = false;
    if (where == On::kThisCarrier) {
      ended = cancel(g);
    } else {
      std::thread t([&] { ended = cancel(g); });
      t.join();
    }
    EXPECT_TRUE(ended);
    join(g);
    EXPECT_EQ(rc, EINTR);
    EXPECT_EQ(relock, EBUSY);
    EXPECT_EQ(c.waiters.load() & ~gh::kDraining, 0u);
    EXPECT_EQ(m.trylock(), 0);
    m.unlock();
  }
}

TEST(Cancel, LeavesWaitsOutsideACancellationPointAlone) {
  gh::Mutex m{};
  gh::Cond c{};
  int rc = -1;
  gh::GreenThread* g = go([&] {
    m.lock();
    rc = c.wait(m);
    m.unlock();
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&c.seq) == 1; }));
  EXPECT_FALSE(cancel(g));
  yield_n(5);
  EXPECT_EQ(gh::futex_parked(&c.seq), 1) << "a wait outside a cancellation point ended";
  m.lock();
  c.signal();
  m.unlock();
  join(g);
  EXPECT_EQ(rc, 0);
}

TEST(Cancel, ARequestMadeBeforeTheWaitEndsItAtOnce) {
  gh::Mutex m{};
  gh::Cond c{};
  int rc = -1, slept = -1;
  gh::GreenThread* g = go([&] {
    gh::self()->cancel_requested.store(true);
    at_cancel_point([&] {
      m.lock();
      rc = c.wait(m);  // would wait for ever
      m.unlock();
      slept = gh::sleep_until_interruptible(gh::kNoDeadline);
    });
  });
  join(g);
  EXPECT_EQ(rc, EINTR);
  EXPECT_EQ(slept, -EINTR);
}

TEST(Cancel, EndsAJoinAndLeavesTheTargetJoinable) {
  std::atomic<bool> release{false};
  gh::GreenThread* target = go([&] {
    while (!release) gh::yield();
  });
  int rc = -1;
  gh::GreenThread* joiner = go([&] { at_cancel_point([&] { rc = gh::join(target, nullptr); }); });
  ASSERT_TRUE(wait_until_true([&] {
    return joiner->state.load() == gh::GreenState::kParked && joiner->wait.what != nullptr;
  }));
  EXPECT_TRUE(cancel(joiner));
  join(joiner);
  EXPECT_EQ(rc, EINTR);
  release = true;
  EXPECT_EQ(gh::join(target, nullptr), 0) << "the target of a cancelled join must stay joinable";
}

TEST(Cancel, EndsAFutexWaitAndASleep) {
  uint32_t word = 0;
  int futex_rc = 1, sleep_rc = 1;
  gh::GreenThread* a = go([&] {
    at_cancel_point([&] { futex_rc = gh::futex_wait_cancellable(&word, 0, gh::kNoDeadline); });
  });
  gh::GreenThread* b = go(
      [&] { at_cancel_point([&] { sleep_rc = gh::sleep_until_interruptible(gh::kNoDeadline); }); });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&word) == 1; }));
  ASSERT_TRUE(wait_until_true([&] { return b->state.load() == gh::GreenState::kParked; }));
  EXPECT_TRUE(cancel(a));
  EXPECT_TRUE(cancel(b));
  join(a);
  join(b);
  EXPECT_EQ(futex_rc, -EINTR);
  EXPECT_EQ(sleep_rc, -EINTR);
  EXPECT_EQ(gh::futex_parked(&word), 0);
}

void handler_ran(int) { gh::Carrier::current()->signal_arrived(false); }

TEST(Cancel, SignalHandlersDoNotEndACancellableCondWait) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = &handler_ran;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  gh::Mutex m{};
  gh::Cond c{};
  int rc = -1;
  gh::GreenThread* g = go([&] {
    at_cancel_point([&] {
      m.lock();
      rc = c.wait(m);
      m.unlock();
    });
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&c.seq) == 1; }));
  gh::Carrier::current()->set_signal_target(g);
  raise(SIGUSR1);  // the handler runs for g, on this carrier
  uint64_t before = gh::Carrier::current()->interrupts();
  yield_n(5);
  EXPECT_EQ(gh::Carrier::current()->interrupts(), before);
  EXPECT_EQ(gh::futex_parked(&c.seq), 1) << "a handler ended a condition variable wait";
  m.lock();
  c.signal();
  m.unlock();
  join(g);
  EXPECT_EQ(rc, 0);
  sigaction(SIGUSR1, &old, nullptr);
}

}  // namespace
