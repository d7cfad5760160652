// SPDX-License-Identifier: MIT
// Carriers on several OS threads, each with its own ring: readers on many
// carriers at once without crosstalk, a wake-up from another thread reaching
// a carrier asleep in io_uring_enter (its eventfd read fires), and two
// carriers handing a token back and forth 5,000 times.
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/green.h"
#include "ioring/ops.h"
#include "ioring/ring.h"
#include "ring_util.h"
#include "test_util.h"

namespace {

using gh::ioring::Ring;
using namespace gh_test;

TEST(Ring, ReadersOnManyCarriersAtOnce) {
  // Four OS threads, each its own carrier and ring, each with green readers
  // fed by a green writer: no crosstalk between rings.
  constexpr int kThreads = 4, kPer = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&] {
      if (!Ring::current()) return;
      std::vector<SockPair> ps(kPer);
      std::vector<gh::GreenThread*> gs;
      for (int i = 0; i < kPer; i++)
        gs.push_back(go([&, i] {
          int v = -1;
          if (gh::io::recv(ps[i].a, &v, sizeof v, MSG_WAITALL) == sizeof v && v == i) ok++;
        }));
      gs.push_back(go([&] {
        for (int i = 0; i < kPer; i++) gh::io::send(ps[i].b, &i, sizeof i, 0);
      }));
      for (auto* g : gs) join(g);
    });
  for (auto& t : ts) t.join();
  if (ok == 0) GTEST_SKIP() << "io_uring unavailable";
  EXPECT_EQ(ok, kThreads * kPer);
}

// ------------------------------------------------ cross-carrier wake-ups ---

// Thread A's only green thread parks; A's carrier sleeps in io_uring_enter.
// Thread B readies it with gh::wake(): the eventfd read in A's ring fires.
TEST(Ring, CrossThreadWakeReachesCarrierBlockedInRing) {
  std::atomic<pid_t> tid{0};
  std::atomic<gh::Waiter*> waiter{nullptr};
  std::atomic<int64_t> resumed_at{0};
  std::atomic<int> result{-1};
  std::atomic<bool> no_ring{false};
  std::thread a([&] {
    if (!Ring::current()) {
      no_ring = true;
      return;
    }
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    gh::Waiter w;
    w.g = gh::self();
    waiter = &w;
    // The deadline only bounds a failure; the wake must come long before.
    int rc = gh::park_waiter(w, gh::deadline_after(10'000 * kMs), "test");
    resumed_at = gh::mono_ns();
    result = rc;
  });
  while (!waiter.load() && !no_ring.load()) std::this_thread::yield();
  if (no_ring) {
    a.join();
    GTEST_SKIP() << "io_uring unavailable";
  }
  // Wait (bounded) until A sleeps in io_uring_enter (syscall 426 on x86-64).
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid.load());
  bool seen_in_enter = false, proc_readable = false;
  int64_t end = gh::deadline_after(5000 * kMs);
  while (gh::mono_ns() < end) {
    FILE* f = fopen(path, "re");
    if (!f) break;
    long nr = -2;
    proc_readable = fscanf(f, "%ld", &nr) == 1;
    fclose(f);
    if (!proc_readable) break;
    if (nr == SYS_io_uring_enter) {
      seen_in_enter = true;
      break;
    }
    std::this_thread::yield();
  }
  if (proc_readable) {
    EXPECT_TRUE(seen_in_enter);
  }
  int64_t t0 = gh::mono_ns();
  EXPECT_TRUE(gh::wake(waiter.load()));
  a.join();
  EXPECT_EQ(result.load(), gh::Waiter::kWoken);
  EXPECT_LT(resumed_at.load() - t0, 1000 * kMs);
}

// Two carriers hand a token back and forth 5,000 times with gh::wake(); each
// hand-off lands on a carrier that is about to sleep or asleep in its ring.
TEST(Ring, CrossCarrierPingPong) {
  constexpr int kRounds = 5000;
  std::atomic<gh::Waiter*> slot[2] = {nullptr, nullptr};
  std::atomic<int> timeouts{0}, rounds_done{0};
  std::atomic<bool> no_ring{false};
  auto player = [&](int me) {
    if (!Ring::current()) {
      no_ring = true;
      return;
    }
    int other = 1 - me;
    for (int i = 0; i < kRounds; i++) {
      if (me == 1 || i > 0) {
        // Take the other's waiter (it published before parking) and wake it
        // after publishing our own, so neither spins for long.
        gh::Waiter* theirs;
        int64_t end = gh::deadline_after(10'000 * kMs);
        while (!(theirs = slot[other].exchange(nullptr))) {
          if (no_ring || gh::mono_ns() > end) return;
          std::this_thread::yield();
        }
        gh::Waiter w;
        w.g = gh::self();
        slot[me] = &w;
        gh::wake(theirs);
        if (i == kRounds - 1 && me == 1) break;  // last hand-off
        if (gh::park_waiter(w, gh::deadline_after(10'000 * kMs)) != gh::Waiter::kWoken) {
          timeouts++;
          return;
        }
      } else {
        gh::Waiter w;
        w.g = gh::self();
        slot[me] = &w;
        if (gh::park_waiter(w, gh::deadline_after(10'000 * kMs)) != gh::Waiter::kWoken) {
          timeouts++;
          return;
        }
      }
      rounds_done++;
    }
  };
  std::thread a(player, 0), b(player, 1);
  a.join();
  b.join();
  if (no_ring) GTEST_SKIP() << "io_uring unavailable";
  EXPECT_EQ(timeouts.load(), 0);
  EXPECT_GE(rounds_done.load(), 2 * kRounds - 2);
}

// A ring that other threads enter (a pool's) flags pending completion work
// (IORING_SQ_TASKRUN) whichever thread's it is, and work that another thread
// submitted runs on that thread only. The owner's poll enters once for the
// flag and stops; it used to enter up to 512 times, and again at every
// poll, until the other thread next entered the kernel.
TEST(Ring, OwnerDoesNotSpinOnAnotherThreadsCompletionWork) {
  on_fresh_carrier([] {
    Ring* r = Ring::create(gh::Carrier::current(), /*one_thread=*/false);
    if (!r) GTEST_SKIP() << "io_uring unavailable";
    if (!r->features().taskrun_flag) {
      delete r;
      GTEST_SKIP() << "no IORING_SETUP_TASKRUN_FLAG (kernel before 5.19, or tickless CPUs)";
    }
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    std::atomic<int> stage{0};
    char byte = 0;
    std::thread other([&] {
      // Submits a read on the ring (as a carrier serving it would), then
      // computes: its completion work waits for its next kernel entry.
      io_uring_sqe* s = r->sqe();
      io_uring_prep_read(s, fds[0], &byte, 1, 0);
      io_uring_sqe_set_data64(s, gh::ioring::kUserIgnore);
      r->submit();
      stage = 1;
      while (stage.load() != 2) {
      }
    });
    while (stage.load() != 1) {
    }
    ASSERT_EQ(write(fds[1], "x", 1), 1);
    int64_t give_up = gh::mono_ns() + 2'000 * kMs;
    while (!r->work_flagged() && gh::mono_ns() < give_up) {
    }
    bool flagged = r->work_flagged();
    uint64_t before = r->stats().enters;
    r->poll();
    uint64_t enters = r->stats().enters - before;
    stage = 2;
    other.join();
    EXPECT_TRUE(flagged) << "the other thread's completion work was never flagged";
    EXPECT_LE(enters, 2u);
    close(fds[0]);
    close(fds[1]);
    delete r;
  });
}

}  // namespace
