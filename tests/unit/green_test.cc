// SPDX-License-Identifier: MIT
// Green threads on one carrier: spawn, run order, join, detach, errno,
// sleeping, and scale.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "core/green.h"
#include "test_util.h"

namespace {

TEST(Green, SpawnJoinReturnsValue) {
  gh::GreenThread* g;
  ASSERT_EQ(gh::spawn([](void* a) -> void* { return static_cast<char*>(a) + 1; },
                      reinterpret_cast<void*>(41), {}, &g),
            0);
  void* res = nullptr;
  ASSERT_EQ(gh::join(g, &res), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(res), 42u);
}

TEST(Green, RunsFifoAndYieldInterleaves) {
  static std::string trace;
  trace.clear();
  auto body = [](void* a) -> void* {
    char c = static_cast<char>(reinterpret_cast<uintptr_t>(a));
    for (int i = 0; i < 3; i++) {
      trace += c;
      gh::yield();
    }
    return nullptr;
  };
  gh::GreenThread *a, *b;
  ASSERT_EQ(gh::spawn(body, reinterpret_cast<void*>('a'), {}, &a), 0);
  ASSERT_EQ(gh::spawn(body, reinterpret_cast<void*>('b'), {}, &b), 0);
  ASSERT_EQ(gh::join(a, nullptr), 0);
  ASSERT_EQ(gh::join(b, nullptr), 0);
  EXPECT_EQ(trace, "ababab");
}

TEST(Green, JoinErrors) {
  gh::GreenThread* me = gh::self();
  ASSERT_NE(me, nullptr);
  EXPECT_EQ(gh::join(me, nullptr), EDEADLK);

  gh::GreenThread* g;
  ASSERT_EQ(gh::spawn([](void*) -> void* { return nullptr; }, nullptr, {}, &g), 0);
  EXPECT_EQ(gh::try_join(g, nullptr), EBUSY);
  ASSERT_EQ(gh::detach(g), 0);
  EXPECT_EQ(gh::join(g, nullptr), EINVAL);
  gh::yield();  // let it run and free itself
}

TEST(Green, TimedJoinTimesOutThenJoins) {
  gh::GreenThread* g;
  ASSERT_EQ(gh::spawn(
                [](void*) -> void* {
                  gh::sleep_for(50'000'000);
                  return reinterpret_cast<void*>(7);
                },
                nullptr, {}, &g),
            0);
  EXPECT_EQ(gh::join(g, nullptr, gh::deadline_after(1'000'000)), ETIMEDOUT);
  void* r;
  EXPECT_EQ(gh::join(g, &r), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(r), 7u);
}

TEST(Green, ErrnoIsPerGreenThread) {
  static int seen_in_child = -1;
  errno = 1234;
  gh::GreenThread* g;
  ASSERT_EQ(gh::spawn(
                [](void*) -> void* {
                  seen_in_child = errno;  // a new green thread starts with 0
                  errno = 99;
                  gh::yield();
                  seen_in_child = errno;
                  return nullptr;
                },
                nullptr, {}, &g),
            0);
  gh::yield();
  EXPECT_EQ(seen_in_child, 0);
  EXPECT_EQ(errno, 1234);
  errno = 555;
  gh::yield();
  EXPECT_EQ(errno, 555);
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(seen_in_child, 99);
}

TEST(Green, TimersFireInOrderAndNeverEarly) {
  struct Sleeper {
    int64_t delay;
    int64_t woke = 0;
    int order = -1;
  };
  static int next_order;
  next_order = 0;
  static std::vector<Sleeper> s;
  // 100 ms apart: every thread has armed its timer before the first one is
  // due, also on a loaded machine under ASan (10 ms apart, a stall between
  // the spawns and the first runs let a 10 ms sleeper find its deadline
  // past and go first).
  s = {{300'000'000}, {100'000'000}, {200'000'000}, {100'000'000}, {0}};
  int64_t start = gh::mono_ns();
  std::vector<gh::GreenThread*> gs;
  for (auto& sl : s) {
    gh::GreenThread* g;
    ASSERT_EQ(gh::spawn(
                  [](void* a) -> void* {
                    auto* sl = static_cast<Sleeper*>(a);
                    gh::sleep_until(sl->delay + reinterpret_cast<int64_t>(sl->woke));
                    sl->woke = gh::mono_ns();
                    sl->order = next_order++;
                    return nullptr;
                  },
                  &sl, {}, &g),
              0);
    sl.woke = start;  // smuggle the common start in
    gs.push_back(g);
  }
  for (auto* g : gs) ASSERT_EQ(gh::join(g, nullptr), 0);
  for (auto& sl : s) EXPECT_GE(sl.woke - start, sl.delay) << "woke early";
  EXPECT_EQ(s[4].order, 0);
  EXPECT_LT(s[1].order, s[3].order);  // equal deadlines: FIFO
  EXPECT_LT(s[3].order, s[2].order);
  EXPECT_LT(s[2].order, s[0].order);
}

TEST(Green, HundredThousandThreadsParkAndJoin) {
  constexpr int kN = gh_test::scaled(100'000);
  static int started, finished;
  started = finished = 0;
  static gh::Waiter* gate_waiters[kN];
  std::vector<gh::GreenThread*> gs(kN);
  gh::SpawnOptions opts;
  opts.stack_size = 16 * 1024;
  for (int i = 0; i < kN; i++) {
    ASSERT_EQ(gh::spawn(
                  [](void* a) -> void* {
                    gh::Waiter w;
                    w.g = gh::self();
                    gate_waiters[reinterpret_cast<uintptr_t>(a)] = &w;
                    started++;
                    gh::park_waiter(w, gh::kNoDeadline);
                    finished++;
                    return nullptr;
                  },
                  reinterpret_cast<void*>(static_cast<uintptr_t>(i)), opts, &gs[i]),
              0)
        << i;
  }
  gh::yield();  // all run once and park
  ASSERT_EQ(started, kN);
  EXPECT_EQ(finished, 0);
  EXPECT_EQ(gh::Carrier::current()->live(), static_cast<uint32_t>(kN + 1));
  for (int i = 0; i < kN; i++) ASSERT_TRUE(gh::wake(gate_waiters[i]));
  for (int i = 0; i < kN; i++) ASSERT_EQ(gh::join(gs[i], nullptr), 0);
  EXPECT_EQ(finished, kN);
}

}  // namespace

namespace {

TEST(Green, NewThreadInheritsFpControlState) {
  static uint32_t child_mxcsr;
  static uint16_t child_cw;
  uint32_t saved_mxcsr;
  uint16_t saved_cw;
  asm volatile("stmxcsr %0" : "=m"(saved_mxcsr));
  asm volatile("fnstcw %0" : "=m"(saved_cw));
  uint32_t want_mxcsr = (saved_mxcsr & ~0x6000u) | 0x6000u;                 // round toward zero
  uint16_t want_cw = static_cast<uint16_t>((saved_cw & ~0x0C00) | 0x0400);  // round down
  asm volatile("ldmxcsr %0" : : "m"(want_mxcsr));
  asm volatile("fldcw %0" : : "m"(want_cw));
  gh::GreenThread* g;
  int rc = gh::spawn(
      [](void*) -> void* {
        asm volatile("stmxcsr %0" : "=m"(child_mxcsr));
        asm volatile("fnstcw %0" : "=m"(child_cw));
        return nullptr;
      },
      nullptr, {}, &g);
  asm volatile("ldmxcsr %0" : : "m"(saved_mxcsr));
  asm volatile("fldcw %0" : : "m"(saved_cw));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(child_mxcsr & 0xFFC0u, want_mxcsr & 0xFFC0u);
  EXPECT_EQ(child_cw, want_cw);
}

TEST(Green, DetachWhileJoinedLeavesThreadToJoiner) {
  static gh::GreenThread* target;
  static int detach_rc = -1;
  ASSERT_EQ(gh::spawn(
                [](void*) -> void* {
                  gh::yield();  // let the root block in join first
                  detach_rc = gh::detach(target);
                  return reinterpret_cast<void*>(5);
                },
                nullptr, {}, &target),
            0);
  void* r = nullptr;
  ASSERT_EQ(gh::join(target, &r), 0);  // would be a double free if detach took it
  EXPECT_EQ(detach_rc, 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(r), 5u);
}

}  // namespace

namespace {

// Returning from main (exit) while a green thread is parked ends the process
// at once, as native threads end with it; it must not wait for them.
TEST(GreenDeathTest, ExitWithParkedGreenThreadDoesNotHang) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        gh::GreenThread* g;
        gh::spawn(
            [](void*) -> void* {
              gh::Waiter w;
              w.g = gh::self();
              gh::park_waiter(w, gh::kNoDeadline);  // never woken
              return nullptr;
            },
            nullptr, {}, &g);
        gh::yield();
        std::exit(3);
      },
      ::testing::ExitedWithCode(3), "");
}

}  // namespace

#include <signal.h>

namespace {

void note_signal(int) { gh::Carrier::current()->signal_arrived(false); }
void note_restart_signal(int) { gh::Carrier::current()->signal_arrived(true); }

// A green thread raises a signal on the carrier's OS thread while the root
// sleeps interruptibly: the root's sleep ends with -EINTR, well before its
// deadline; a restartable wait is left alone by an SA_RESTART handler.
TEST(Green, SignalInterruptsRootWait) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = &note_signal;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  gh::GreenThread* g;
  ASSERT_EQ(gh::spawn(
                [](void*) -> void* {
                  raise(SIGUSR1);
                  return nullptr;
                },
                nullptr, {}, &g),
            0);
  int64_t start = gh::mono_ns();
  EXPECT_EQ(gh::sleep_until_interruptible(start + 30 * gh::kNsPerSec), -EINTR);
  EXPECT_LT(gh::mono_ns() - start, 10 * gh::kNsPerSec);
  ASSERT_EQ(gh::join(g, nullptr), 0);

  sa.sa_handler = &note_restart_signal;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, nullptr), 0);
  ASSERT_EQ(gh::spawn(
                [](void*) -> void* {
                  raise(SIGUSR1);
                  return nullptr;
                },
                nullptr, {}, &g),
            0);
  gh::Waiter w;
  w.g = gh::self();
  int64_t deadline = gh::deadline_after(20'000'000);
  EXPECT_EQ(gh::park_waiter_interruptible(w, deadline, /*restartable=*/true),
            gh::Waiter::kTimedOut);
  EXPECT_GE(gh::mono_ns(), deadline);
  ASSERT_EQ(gh::join(g, nullptr), 0);
  sigaction(SIGUSR1, &old, nullptr);
}

}  // namespace

namespace {

TEST(Green, RunsOnCallerProvidedStack) {
  static std::vector<char> mem(64 * 1024);
  static uintptr_t seen_sp;
  gh::SpawnOptions opts;
  opts.stack_addr = mem.data();
  opts.stack_size = mem.size();
  for (int round = 0; round < 2; round++) {  // the stack is not pooled: reusable by its owner
    gh::GreenThread* g;
    ASSERT_EQ(gh::spawn(
                  [](void*) -> void* {
                    seen_sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
                    return nullptr;
                  },
                  nullptr, opts, &g),
              0);
    ASSERT_EQ(gh::join(g, nullptr), 0);
    EXPECT_GE(seen_sp, reinterpret_cast<uintptr_t>(mem.data()));
    EXPECT_LT(seen_sp, reinterpret_cast<uintptr_t>(mem.data() + mem.size()));
  }
}

}  // namespace

namespace {

uint64_t bit_of(int sig) { return uint64_t{1} << (sig - 1); }

void set_mask(uint64_t mask) { gh_test::set_thread_sigmask(mask); }
uint64_t current_mask() { return gh_test::os_sigmask(); }

// The carrier waits with only the signals that every green thread blocks:
// a thread that blocks everything and ran last must not hold back a signal
// another thread would take.
TEST(Green, WaitMaskIsWhatEveryThreadBlocks) {
  gh::Carrier* c = gh::Carrier::get();
  ASSERT_NE(c, nullptr);
  const uint64_t root_mask = current_mask();
  set_mask(root_mask | bit_of(SIGUSR2));
  static gh::Waiter w;
  w.state.store(gh::Waiter::kWaiting);
  gh::GreenThread* g;
  ASSERT_EQ(gh::spawn(
                [](void*) -> void* {
                  set_mask(~uint64_t{0} & ~(bit_of(SIGKILL) | bit_of(SIGSTOP)));
                  w.g = gh::self();
                  gh::park_waiter(w, gh::kNoDeadline);
                  return nullptr;
                },
                nullptr, {}, &g),
            0);
  gh::yield();  // g blocks everything, then parks
  ASSERT_NE(w.g, nullptr);
  EXPECT_EQ(c->wait_sigmask(), root_mask | bit_of(SIGUSR2));
  // A process-directed SIGUSR1 goes to the root, which takes it; SIGUSR2,
  // which the root blocks, to nobody (every thread blocks it).
  EXPECT_EQ(c->process_signal_target(SIGUSR1), c->running());
  EXPECT_EQ(c->process_signal_target(SIGUSR2), nullptr);
  gh::wake(&w);
  ASSERT_EQ(gh::join(g, nullptr), 0);
  // Alone again: the root's own mask.
  EXPECT_EQ(c->wait_sigmask(), root_mask | bit_of(SIGUSR2));
  set_mask(root_mask);
  EXPECT_EQ(c->wait_sigmask(), root_mask);
}

// With the root blocking a signal, the thread that takes it is one in an
// interruptible wait that does not block it.
TEST(Green, ProcessSignalGoesToAWaiterThatTakesIt) {
  gh::Carrier* c = gh::Carrier::get();
  ASSERT_NE(c, nullptr);
  const uint64_t root_mask = current_mask();
  set_mask(root_mask | bit_of(SIGUSR1));
  static gh::GreenThread* sleeper;
  sleeper = nullptr;
  gh::GreenThread* g;
  ASSERT_EQ(gh::spawn(
                [](void*) -> void* {
                  set_mask(current_mask() & ~bit_of(SIGUSR1));
                  sleeper = gh::self();
                  return reinterpret_cast<void*>(static_cast<intptr_t>(
                      gh::sleep_until_interruptible(gh::deadline_after(30 * gh::kNsPerSec))));
                },
                nullptr, {}, &g),
            0);
  gh::yield();  // the sleeper unblocks SIGUSR1 and parks
  ASSERT_NE(sleeper, nullptr);
  EXPECT_EQ(c->wait_sigmask() & bit_of(SIGUSR1), 0u);
  EXPECT_EQ(c->process_signal_target(SIGUSR1), sleeper);
  // The signal arrives (as the shim's trampoline reports it): the sleeper's
  // wait ends with EINTR.
  c->set_signal_target(sleeper);
  c->signal_arrived(false);
  void* res = nullptr;
  ASSERT_EQ(gh::join(g, &res), 0);
  EXPECT_EQ(reinterpret_cast<intptr_t>(res), -EINTR);
  set_mask(root_mask);
}

}  // namespace

namespace {

// A handler that ran as a thread while it was running (natively: before it
// entered its next call) does not end the wait it begins afterwards: that
// wait runs to its deadline. (Before, the carrier ended whatever
// interruptible wait the thread was in when it next scheduled.)
TEST(Green, HandlerBeforeTheWaitLeavesItAlone) {
  gh::Carrier* c = gh::Carrier::get();
  ASSERT_NE(c, nullptr);
  gh::GreenThread* g;
  ASSERT_EQ(gh::spawn(
                [](void*) -> void* {
                  gh::Carrier* here = gh::Carrier::current();
                  here->set_signal_target(gh::self());
                  here->signal_arrived(false);  // a handler ran as this thread, here
                  return reinterpret_cast<void*>(static_cast<intptr_t>(
                      gh::sleep_until_interruptible(gh::deadline_after(gh::kNsPerSec / 500))));
                },
                nullptr, {}, &g),
            0);
  void* res = nullptr;
  ASSERT_EQ(gh::join(g, &res), 0);
  EXPECT_EQ(reinterpret_cast<intptr_t>(res), 0);
}

// With a count taken before (sigsuspend's, before its mask change lets a
// pending signal's handler run), a handler since then ends the wait at once,
// and one before it does not.
TEST(Green, HandlerSinceAGivenCountEndsTheWait) {
  gh::Carrier* c = gh::Carrier::get();
  ASSERT_NE(c, nullptr);
  gh::GreenThread* g;
  ASSERT_EQ(
      gh::spawn(
          [](void*) -> void* {
            gh::GreenThread* me = gh::self();
            gh::Carrier* here = gh::Carrier::current();
            here->set_signal_target(me);
            here->signal_arrived(false);
            uint32_t since = me->handlers_ran.load();
            // Nothing since: the wait runs to its deadline.
            int first =
                gh::sleep_until_interruptible(gh::deadline_after(gh::kNsPerSec / 500), &since);
            // (From its own record: a thread_local read must not be carried
            // across the park.)
            here = me->current_carrier();
            here->set_signal_target(me);
            here->signal_arrived(false);
            // One since: no wait at all.
            int second = gh::sleep_until_interruptible(gh::kNoDeadline, &since);
            return reinterpret_cast<void*>(static_cast<intptr_t>(first == 0 && second == -EINTR));
          },
          nullptr, {}, &g),
      0);
  void* res = nullptr;
  ASSERT_EQ(gh::join(g, &res), 0);
  EXPECT_EQ(reinterpret_cast<intptr_t>(res), 1);
}

}  // namespace
