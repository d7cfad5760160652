// SPDX-License-Identifier: MIT
// Signal frames (Carrier::make_frame, docs/design.md "Handlers on the
// thread's own stack"): a context built on the stack of a green thread that
// is not running runs as that thread, may park, and holds the thread until
// it returns, on 1, 2 and 4 carriers. The shim builds them for signal
// handlers; here the test plays the shim's part.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "core/pool.h"
#include "core/semaphore.h"
#include "test_util.h"

namespace {

using gh_test::go;
using gh_test::start_std_thread;
using gh_test::wait_until_true;

class Frames : public ::testing::TestWithParam<int> {
 protected:
  void run(const std::function<void()>& body, int64_t handoff_ns = 0) {
    std::thread t([&] {
      gh::PoolOptions o;
      o.carriers = GetParam();
      o.handoff_ns = handoff_ns;
      o.start_thread = &start_std_thread;
      auto* pool = new gh::Pool(o);
      gh::Carrier* c = gh::Carrier::attach_to(pool, false);
      ASSERT_NE(c, nullptr);
      ASSERT_EQ(pool->start(), 0);
      body();
      gh::Carrier::leave();
      pool->stop();
      EXPECT_EQ(gh_test::carrier_leaks(c), "") << "leak check after the test body";
      delete pool;
    });
    t.join();
  }
};

INSTANTIATE_TEST_SUITE_P(Frames, Frames, ::testing::Values(1, 2, 4),
                         [](const auto& info) { return std::to_string(info.param) + "carriers"; });

// What a frame saw and did; it lies beside the frame, on the held thread's
// stack.
struct Seen {
  std::function<void()>* body;
  gh::GreenThread* held;
  std::atomic<bool>* on_stack;
  std::atomic<bool>* as_thread;
  std::atomic<bool>* done;
};

void* frame_entry(void* arg) {
  auto* s = static_cast<Seen*>(arg);
  char here;
  gh::GreenThread* me = gh::self();
  const gh::Stack& st = s->held->thread()->stack;
  auto* lo = static_cast<char*>(st.lo);
  s->on_stack->store(&here >= lo && &here < lo + st.size);
  s->as_thread->store(me->thread() == s->held->thread() && me->frame_of == s->held);
  (*s->body)();
  s->done->store(true);
  return nullptr;
}

// Builds a frame on g (which must not be running) that runs body; returns
// false if g was running or had no room.
bool push_frame(gh::GreenThread* g, std::function<void()>* body, std::atomic<bool>* on_stack,
                std::atomic<bool>* as_thread, std::atomic<bool>* done) {
  bool idle = false;
  if (!g->on_cpu.compare_exchange_strong(idle, true)) return false;
  void* rec = nullptr;
  gh::GreenThread* f = gh::Carrier::make_frame(g, g->sigmask, sizeof(Seen), &rec);
  if (f) {
    auto* s = new (rec) Seen{body, g, on_stack, as_thread, done};
    f->entry = &frame_entry;
    f->arg = s;
    gh::Carrier::current()->post_frame(f);
  }
  g->on_cpu.store(false);
  return f != nullptr;
}

TEST_P(Frames, RunAsTheThreadOnItsStackAndHoldItUntilTheyReturn) {
  run([] {
    gh::Mutex m;
    m.init(gh::Mutex::kNormal);
    gh::Semaphore in_frame, release_frame;
    in_frame.init(0);
    release_frame.init(0);
    std::atomic<bool> waiting{false}, got{false};
    m.lock();
    gh::GreenThread* t = go([&] {
      waiting = true;
      m.lock();  // parks: the frame is built on its stack
      got = true;
      m.unlock();
    });
    ASSERT_TRUE(
        wait_until_true([&] { return waiting.load() && t->state == gh::GreenState::kParked; }));
    std::atomic<bool> on_stack{false}, as_thread{false}, done{false};
    std::function<void()> body = [&] {
      in_frame.post();
      release_frame.wait();  // a frame parks like any green thread
    };
    bool pushed = false;
    ASSERT_TRUE(wait_until_true(
        [&] { return (pushed = push_frame(t, &body, &on_stack, &as_thread, &done)); }));
    ASSERT_EQ(in_frame.wait(), 0);
    EXPECT_TRUE(on_stack.load()) << "the frame ran off the thread's stack";
    EXPECT_TRUE(as_thread.load()) << "the frame did not run as the thread";
    // The thread's own wait ends while the frame still runs on its stack:
    // it must not run until the frame returns.
    m.unlock();
    for (int i = 0; i < 200; i++) gh::yield();
    EXPECT_FALSE(got.load()) << "the thread ran while a frame held it";
    release_frame.post();
    ASSERT_TRUE(wait_until_true([&] { return got.load(); }));
    EXPECT_TRUE(done.load());
    ASSERT_EQ(gh::join(t, nullptr), 0);
  });
}

TEST_P(Frames, AFrameOnAFrameRunsFirstAndEachReturnsToTheOneBelow) {
  run([] {
    gh::Semaphore wake;
    wake.init(0);
    std::atomic<bool> waiting{false}, woke{false};
    gh::GreenThread* t = go([&] {
      waiting = true;
      wake.wait();
      woke = true;
    });
    ASSERT_TRUE(
        wait_until_true([&] { return waiting.load() && t->state == gh::GreenState::kParked; }));
    gh::Semaphore outer_go, outer_in;
    outer_go.init(0);
    outer_in.init(0);
    std::atomic<int> order{0};
    std::atomic<int> outer_at{0}, inner_at{0};
    std::atomic<bool> s1{false}, a1{false}, d1{false}, s2{false}, a2{false}, d2{false};
    std::function<void()> outer = [&] {
      outer_in.post();
      outer_go.wait();
      outer_at = ++order;
    };
    std::function<void()> inner = [&] { inner_at = ++order; };
    ASSERT_TRUE(wait_until_true([&] { return push_frame(t, &outer, &s1, &a1, &d1); }));
    ASSERT_EQ(outer_in.wait(), 0);
    // The outer frame is parked: the next frame goes on top of it.
    gh::GreenThread* f1 = t->frame_top;
    ASSERT_NE(f1, nullptr);
    ASSERT_TRUE(wait_until_true([&] { return f1->state == gh::GreenState::kParked; }));
    ASSERT_TRUE(wait_until_true([&] { return push_frame(f1, &inner, &s2, &a2, &d2); }));
    ASSERT_TRUE(wait_until_true([&] { return d2.load(); }));
    EXPECT_TRUE(s2.load() && a2.load()) << "the inner frame ran off the stack or as another thread";
    outer_go.post();
    ASSERT_TRUE(wait_until_true([&] { return d1.load(); }));
    EXPECT_EQ(inner_at.load(), 1);
    EXPECT_EQ(outer_at.load(), 2);
    wake.post();
    ASSERT_EQ(gh::join(t, nullptr), 0);
    EXPECT_TRUE(woke.load());
  });
}

TEST_P(Frames, ManyThreadsEachHeldByAFrameResumeExactlyOnce) {
  run([] {
    constexpr int kThreads = 64;
    gh::Semaphore gate;
    gate.init(0);
    std::atomic<int> parked{0}, resumed{0}, frames{0};
    std::vector<gh::GreenThread*> ts;
    for (int i = 0; i < kThreads; i++)
      ts.push_back(go([&] {
        parked++;
        gate.wait();
        resumed++;
      }));
    ASSERT_TRUE(wait_until_true([&] {
      if (parked.load() < kThreads) return false;
      for (auto* t : ts)
        if (t->state != gh::GreenState::kParked) return false;
      return true;
    }));
    std::vector<std::atomic<bool>> flags(3 * kThreads);
    std::function<void()> body = [&] {
      frames++;
      gh::yield();  // and lets the others (and the wake-ups) in
    };
    for (int i = 0; i < kThreads; i++)
      ASSERT_TRUE(wait_until_true([&] {
        return push_frame(ts[i], &body, &flags[3 * i], &flags[3 * i + 1], &flags[3 * i + 2]);
      }));
    // Wake them all while their frames run.
    for (int i = 0; i < kThreads; i++) gate.post();
    ASSERT_TRUE(wait_until_true([&] { return resumed.load() == kThreads; }));
    for (int i = 0; i < kThreads; i++) {
      EXPECT_TRUE(flags[3 * i].load() && flags[3 * i + 1].load() && flags[3 * i + 2].load()) << i;
      ASSERT_EQ(gh::join(ts[i], nullptr), 0);
    }
    EXPECT_EQ(frames.load(), kThreads);
    EXPECT_EQ(resumed.load(), kThreads);
  });
}

TEST_P(Frames, AFramePostedOnACarrierThatThenComputesRunsElsewhere) {
  // Posted by a handler on this carrier's OS thread, which then goes on
  // computing without a scheduling point: the monitor hands the carrier's
  // frames to another carrier (or a spare) as it does its queue.
  run(
      [] {
        gh::Semaphore wake;
        wake.init(0);
        std::atomic<bool> waiting{false};
        gh::GreenThread* t = go([&] {
          waiting = true;
          wake.wait();
        });
        ASSERT_TRUE(
            wait_until_true([&] { return waiting.load() && t->state == gh::GreenState::kParked; }));
        std::atomic<bool> s{false}, a{false}, d{false};
        std::function<void()> body = [] {};
        bool ran = false;
        gh::GreenThread* sender = go([&] {
          ASSERT_TRUE(wait_until_true([&] { return push_frame(t, &body, &s, &a, &d); }));
          // No scheduling point from here on until the frame ran (or 5 s).
          int64_t give_up = gh::mono_ns() + 5'000 * gh_test::kMs;
          while (!d.load() && gh::mono_ns() < give_up) {
          }
          ran = d.load();
        });
        ASSERT_EQ(gh::join(sender, nullptr), 0);
        EXPECT_TRUE(ran) << "the frame waited for the computing sender";
        wake.post();
        ASSERT_EQ(gh::join(t, nullptr), 0);
      },
      2 * gh_test::kMs);
}

}  // namespace

// On one carrier, where order is the scheduler's alone: a thread that was
// picked while a frame held it goes on the moment the frame returns, before
// threads queued behind the frame (natively it goes on from its handler at
// once). Otherwise a thread that one running thread signals again and again
// never gets back to its own code (tests/programs/collector_storm.c).
TEST_P(Frames, AThreadPickedWhileHeldRunsAsSoonAsItsFrameReturns) {
  if (GetParam() != 1) GTEST_SKIP() << "an order on one carrier";
  run([] {
    gh::Semaphore wake, in_frame, release_frame;
    wake.init(0);
    in_frame.init(0);
    release_frame.init(0);
    std::atomic<int> order{0}, t_at{0}, other_at{0};
    std::atomic<bool> waiting{false};
    gh::GreenThread* t = go([&] {
      waiting = true;
      wake.wait();
      t_at = ++order;
    });
    ASSERT_TRUE(
        wait_until_true([&] { return waiting.load() && t->state == gh::GreenState::kParked; }));
    std::atomic<bool> s{false}, a{false}, d{false};
    std::function<void()> body = [&] {
      in_frame.post();
      release_frame.wait();
    };
    ASSERT_TRUE(wait_until_true([&] { return push_frame(t, &body, &s, &a, &d); }));
    ASSERT_EQ(in_frame.wait(), 0);
    wake.post();  // t is runnable, but held: picked, it waits for the frame
    ASSERT_TRUE(wait_until_true([&] { return t->held == 2; }));
    release_frame.post();  // the frame is queued; then another thread
    gh::GreenThread* other = go([&] { other_at = ++order; });
    ASSERT_TRUE(wait_until_true([&] { return t_at.load() != 0 && other_at.load() != 0; }));
    EXPECT_EQ(t_at.load(), 1) << "a thread queued behind the frame ran before the held one";
    EXPECT_EQ(other_at.load(), 2);
    ASSERT_EQ(gh::join(t, nullptr), 0);
    ASSERT_EQ(gh::join(other, nullptr), 0);
  });
}

// A thread whose interruptible wait a handler ended goes first too.
TEST_P(Frames, AWaitEndedByAHandlerGoesOnBeforeTheQueue) {
  if (GetParam() != 1) GTEST_SKIP() << "an order on one carrier";
  run([] {
    std::atomic<int> order{0}, t_at{0}, other_at{0};
    std::atomic<bool> waiting{false};
    gh::GreenThread* t = go([&] {
      waiting = true;
      uint32_t since = gh::self()->handlers_ran.load();
      EXPECT_EQ(gh::sleep_until_interruptible(gh::kNoDeadline, &since), -EINTR);
      t_at = ++order;
    });
    ASSERT_TRUE(
        wait_until_true([&] { return waiting.load() && t->state == gh::GreenState::kParked; }));
    gh::GreenThread* other = go([&] { other_at = ++order; });
    // As after a handler that ran for t: its wait ends at the next
    // scheduling point.
    gh::Carrier::current()->signal_arrived(t, false);
    ASSERT_TRUE(wait_until_true([&] { return t_at.load() != 0 && other_at.load() != 0; }));
    EXPECT_EQ(t_at.load(), 1) << "the thread whose wait a handler ended ran after the queue";
    EXPECT_EQ(other_at.load(), 2);
    ASSERT_EQ(gh::join(t, nullptr), 0);
    ASSERT_EQ(gh::join(other, nullptr), 0);
  });
}
