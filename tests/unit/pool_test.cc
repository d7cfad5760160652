// SPDX-License-Identifier: MIT
// The M:N scheduler (core/pool.h): green threads of a pool run on all its
// carriers, move between them, and keep running while a carrier is stuck in
// one of them. Each test runs on a fresh OS thread that becomes the pool's
// first carrier, for 1, 2 and 4 carriers (PoolCarriers/<Name>/<N>carriers),
// and stops the pool at the end; the teardown checks every carrier of the
// pool for leaks (test_util.h carrier_leaks).
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/cond.h"
#include "core/cpu_time.h"
#include "core/mutex.h"
#include "core/pool.h"
#include "core/semaphore.h"
#include "core/sys.h"
#include "ioring/ops.h"
#include "test_util.h"

namespace {

using gh_test::go;
using gh_test::join_all;
using gh_test::kMs;
using gh_test::start_std_thread;

class PoolCarriers : public ::testing::TestWithParam<int> {
 protected:
  // Runs body as the root of the first carrier of a new pool of GetParam()
  // carriers (hand-off after handoff_ns; 0: none, and then always spread),
  // then stops the pool.
  void run(const std::function<void(gh::Pool*)>& body, int64_t handoff_ns = 0,
           gh::SpreadMode spread = gh::SpreadMode::kAuto) {
    std::thread t([&] {
      gh::PoolOptions o;
      o.carriers = GetParam();
      o.handoff_ns = handoff_ns;
      o.spread = spread;
      o.start_thread = &start_std_thread;
      auto* pool = new gh::Pool(o);
      gh::Carrier* c = gh::Carrier::attach_to(pool, false);
      ASSERT_NE(c, nullptr);
      ASSERT_EQ(pool->start(), 0);
      body(pool);
      gh::Carrier::leave();
      pool->stop();
      // Every carrier has stopped: their state is still, and each exited
      // thread's stack is back (the carrier that ran it last took it back).
      std::string leaks = gh_test::carrier_leaks(c);
      EXPECT_EQ(leaks, "") << "leak check after the test body";
      delete pool;
    });
    t.join();
  }
};

INSTANTIATE_TEST_SUITE_P(PoolCarriers, PoolCarriers, ::testing::Values(1, 2, 4),
                         [](const auto& info) { return std::to_string(info.param) + "carriers"; });

long os_tid() { return gh::sys(SYS_gettid); }

// Busy for about ns of CPU, without a system call the runtime sees.
void burn(int64_t ns) {
  int64_t end = gh::mono_ns() + ns;
  volatile uint64_t x = 0;
  while (gh::mono_ns() < end) x = x + 1;
}

TEST_P(PoolCarriers, ThreadsRunOnEveryCarrier) {
  run([](gh::Pool* pool) {
    // Threads that each burn a while: idle carriers steal them, so they run
    // on as many OS threads as the pool has carriers.
    std::mutex m;
    std::set<long> tids;
    std::vector<gh::GreenThread*> gs;
    std::atomic<int> started{0};
    const int n = 4 * GetParam();
    for (int i = 0; i < n; i++) {
      gs.push_back(go([&] {
        started++;
        burn(20 * kMs);
        std::lock_guard<std::mutex> l(m);
        tids.insert(os_tid());
      }));
    }
    join_all(gs);
    EXPECT_EQ(started.load(), n);
    EXPECT_EQ(static_cast<int>(tids.size()), GetParam());
    if (GetParam() > 1) {
      EXPECT_GT(pool->stats().steals.load(), 0u);
    }
  });
}

TEST_P(PoolCarriers, MutexCondPingPongAcrossCarriersIsExact) {
  run([](gh::Pool*) {
    constexpr int kPairs = 200, kRounds = 100;
    struct Pair {
      gh::Mutex m;
      gh::Cond cv;
      int turn = 0;
      int exchanges = 0;
    };
    std::vector<Pair> pairs(kPairs);
    for (auto& p : pairs) {
      p.m.init(gh::Mutex::kNormal);
      p.cv.init(CLOCK_REALTIME);
    }
    std::atomic<long> moved{0};  // exchanges that went to another OS thread
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < kPairs; i++) {
      for (int me = 0; me < 2; me++) {
        gs.push_back(go([&, i, me] {
          Pair& p = pairs[i];
          long last = os_tid();
          for (int r = 0; r < kRounds; r++) {
            p.m.lock();
            while (p.turn != me) p.cv.wait(p.m);
            p.exchanges++;
            p.turn = !me;
            p.cv.signal();
            p.m.unlock();
            if (os_tid() != last) moved++;
            last = os_tid();
          }
        }));
      }
    }
    join_all(gs);
    for (int i = 0; i < kPairs; i++) ASSERT_EQ(pairs[i].exchanges, 2 * kRounds) << "pair " << i;
    if (GetParam() > 1) {
      EXPECT_GT(moved.load(), 0) << "no thread ever changed carriers";
    }
  });
}

TEST_P(PoolCarriers, SemaphoreRingAcrossCarriersIsExact) {
  run([](gh::Pool*) {
    constexpr int kRing = 64, kLaps = 50;
    std::vector<gh::Semaphore> sems(kRing);
    for (auto& sem : sems) sem.init(0);
    std::vector<int> passes(kRing, 0);
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < kRing; i++) {
      gs.push_back(go([&, i] {
        for (int lap = 0; lap < kLaps; lap++) {
          sems[i].wait();
          passes[i]++;
          sems[(i + 1) % kRing].post();
        }
      }));
    }
    sems[0].post();
    join_all(gs);
    for (int i = 0; i < kRing; i++) ASSERT_EQ(passes[i], kLaps) << i;
  });
}

TEST_P(PoolCarriers, SleepsNeverEndEarlyWhereverTheyResume) {
  run([](gh::Pool*) {
    std::vector<gh::GreenThread*> gs;
    std::atomic<int> early{0};
    for (int i = 0; i < 50; i++) {
      gs.push_back(go([&, i] {
        for (int k = 0; k < 5; k++) {
          int64_t want = (1 + (i + k) % 3) * kMs;
          int64_t t0 = gh::mono_ns();
          gh::sleep_for(want);
          if (gh::mono_ns() - t0 < want) early++;
          burn(200'000);  // lets others steal the next wake-up
        }
      }));
    }
    join_all(gs);
    EXPECT_EQ(early.load(), 0);
  });
}

// Hand-off: every carrier is stuck in a thread that spins until a flag is
// set; the thread that sets it sleeps first (a timer on a stuck carrier) and
// its sleep must still end: an idle or spare carrier serves the stuck
// carriers' timers and takes their queued threads.
TEST_P(PoolCarriers, StuckCarriersHandTheirWorkOver) {
  for (auto mode : {gh::SpreadMode::kAlways, gh::SpreadMode::kNever}) {
    SCOPED_TRACE(mode == gh::SpreadMode::kNever ? "packed" : "spread");
    run(
        [](gh::Pool* pool) {
          std::atomic<bool> flag{false};
          std::atomic<int> spinning{0};
          std::vector<gh::GreenThread*> gs;
          const int spinners = GetParam() + 1;
          for (int i = 0; i < spinners; i++) {
            gs.push_back(go([&] {
              spinning++;
              while (!flag.load(std::memory_order_acquire)) gh::arch::cpu_relax();
            }));
          }
          gs.push_back(go([&] {
            gh::sleep_for(10 * kMs);
            flag.store(true, std::memory_order_release);
          }));
          ASSERT_TRUE(gh_test::wait_until_true([&] { return flag.load(); }));
          join_all(gs);
          EXPECT_EQ(spinning.load(), spinners);
          EXPECT_GT(pool->stats().handoffs.load(), 0u);
        },
        2 * kMs, mode);
  }
}

// Ring I/O of a thread parked on a stuck carrier completes: the pipe read
// was queued on the ring of a carrier that then runs a spinner.
TEST_P(PoolCarriers, RingWaitOnAStuckCarrierCompletes) {
  for (auto mode : {gh::SpreadMode::kAlways, gh::SpreadMode::kNever}) {
    SCOPED_TRACE(mode == gh::SpreadMode::kNever ? "packed" : "spread");
    run(
        [](gh::Pool*) {
          int fds[2];
          ASSERT_EQ(pipe(fds), 0);
          std::atomic<bool> flag{false};
          std::atomic<bool> reading{false};
          char got = 0;
          std::vector<gh::GreenThread*> gs;
          gs.push_back(go([&] {
            reading = true;
            char c;
            EXPECT_EQ(gh::io::read(fds[0], &c, 1), 1);
            got = c;
            flag.store(true, std::memory_order_release);
          }));
          ASSERT_TRUE(gh_test::wait_until_true([&] { return reading.load(); }));
          for (int i = 0; i < GetParam(); i++) {
            gs.push_back(go([&] {
              while (!flag.load(std::memory_order_acquire)) gh::arch::cpu_relax();
            }));
          }
          // Not the root: in these tests (shared TLS) it stays on its own
          // carrier, which may be the stuck one.
          gs.push_back(go([&] {
            gh::sleep_for(5 * kMs);
            char x = 'x';
            EXPECT_EQ(gh::sys(SYS_write, fds[1], &x, 1), 1);
          }));
          join_all(gs);
          EXPECT_EQ(got, 'x');
          close(fds[0]);
          close(fds[1]);
        },
        2 * kMs, mode);
  }
}

// Threads that yield in a loop until *stop, counting their turns: work that
// keeps every carrier it lands on switching, so none of them looks stuck.
void start_yielders(int n, std::atomic<bool>* stop, std::atomic<uint64_t>* turns,
                    std::vector<gh::GreenThread*>* gs) {
  for (int i = 0; i < n; i++) {
    gs->push_back(go([stop, turns] {
      while (!stop->load(std::memory_order_acquire)) {
        turns->fetch_add(1, std::memory_order_relaxed);
        gh::yield();
      }
    }));
  }
}

// A spare stands in for a carrier that cannot take work, one for each: with
// every carrier blocked in a call the runtime does not park (a raw read on a
// pipe) and yielders queued behind them, the monitor starts as many spares as
// there are carriers and no more, however long they stay blocked (it used to
// start one more at each look while no carrier was idle). The threshold is
// 20 ms: a spare that itself sleeps a few milliseconds with work queued (in
// ThreadSanitizer's runtime, on 2 shared CPUs) rightly counts as unable to
// take work at 2 ms, and then rightly gets a spare of its own.
TEST_P(PoolCarriers, OneSpareForEachStuckCarrier) {
  run(
      [](gh::Pool* pool) {
        const int n = GetParam();
        int fds[2];
        ASSERT_EQ(pipe(fds), 0);
        std::atomic<bool> stop{false};
        std::atomic<int> blocking{0};
        std::atomic<uint64_t> turns{0};
        std::vector<gh::GreenThread*> gs;
        start_yielders(2 * n + 2, &stop, &turns, &gs);
        for (int i = 0; i < n; i++) {
          gs.push_back(go([&] {
            blocking++;
            char c;
            EXPECT_EQ(gh::sys(SYS_read, fds[0], &c, 1), 1);
          }));
        }
        // Watches from a green thread that any carrier may run.
        gs.push_back(go([&] {
          EXPECT_TRUE(gh_test::wait_until_true(
              [&] { return blocking.load() == n && pool->stats().spares_started.load() > 0; }));
          uint64_t from = pool->stats().monitor_passes.load();
          int most = 0;
          EXPECT_TRUE(gh_test::wait_until_true([&] {
            most = std::max(most, pool->spares());
            return pool->stats().monitor_passes.load() >= from + 40;
          }));
          EXPECT_LE(most, n);
          EXPECT_LE(pool->stats().spares_started.load(), static_cast<uint64_t>(n));
          // The spares ran the queued threads meanwhile.
          uint64_t t = turns.load();
          EXPECT_TRUE(gh_test::wait_until_true([&] { return turns.load() > t + 1000; }));
          stop.store(true, std::memory_order_release);
          std::string bytes(n, 'x');
          EXPECT_EQ(gh::sys(SYS_write, fds[1], bytes.data(), n), n);
        }));
        join_all(gs);
        close(fds[0]);
        close(fds[1]);
      },
      20 * kMs, gh::SpreadMode::kAlways);
}

// A spare the pool no longer needs goes, even under load: once the stuck
// carrier is back, the spare takes no new work, its threads' I/O completes
// and they move to the carriers that stay, and it retires, while the
// program's threads keep running (yielders, and pipe ping-pong that keeps
// requests in flight on every ring) and lose nothing.
// The threshold is 20 ms: at 2 ms, four carriers under a sanitizer on two
// shared CPUs kept counting as busy and kept a spare in use.
TEST_P(PoolCarriers, SurplusSpareRetiresUnderLoad) {
  for (auto mode : {gh::SpreadMode::kAlways, gh::SpreadMode::kNever}) {
    // Packed, with more than two carriers, the others stay idle and no
    // spare is needed (one of them takes over).
    if (mode == gh::SpreadMode::kNever && GetParam() > 2) continue;
    SCOPED_TRACE(mode == gh::SpreadMode::kNever ? "packed" : "spread");
    run(
        [](gh::Pool* pool) {
          const int n = GetParam();
          constexpr int kPairs = 8;
          std::atomic<bool> release{false}, stop{false};
          std::atomic<uint64_t> turns{0};
          std::atomic<uint64_t> bytes[kPairs] = {};
          std::vector<gh::GreenThread*> gs;
          start_yielders(2 * n + 2, &stop, &turns, &gs);
          int fds[kPairs][4];
          for (int p = 0; p < kPairs; p++) {
            ASSERT_EQ(pipe(fds[p]), 0);
            ASSERT_EQ(pipe(fds[p] + 2), 0);
            // Pings one byte at a time until stop, then a 'q' ends the echo.
            gs.push_back(go([&, p] {
              char c = 'x';
              while (!stop.load(std::memory_order_acquire)) {
                ASSERT_EQ(gh::io::write(fds[p][1], &c, 1), 1);
                ASSERT_EQ(gh::io::read(fds[p][2], &c, 1), 1);
                bytes[p].fetch_add(1, std::memory_order_relaxed);
              }
              c = 'q';
              ASSERT_EQ(gh::io::write(fds[p][1], &c, 1), 1);
            }));
            gs.push_back(go([&, p] {
              char c;
              for (;;) {
                ASSERT_EQ(gh::io::read(fds[p][0], &c, 1), 1);
                if (c == 'q') break;
                ASSERT_EQ(gh::io::write(fds[p][3], &c, 1), 1);
              }
            }));
          }
          gs.push_back(go([&] {
            while (!release.load(std::memory_order_acquire)) gh::arch::cpu_relax();
          }));
          gs.push_back(go([&] {
            EXPECT_TRUE(
                gh_test::wait_until_true([&] { return pool->stats().spares_started.load() > 0; }));
            release.store(true, std::memory_order_release);
            EXPECT_TRUE(gh_test::wait_until_true([&] { return pool->spares() == 0; }))
                << pool->spares() << " spare(s) still running";
            // The load went on throughout, and goes on without the spare.
            uint64_t t = turns.load(), b = bytes[0].load();
            EXPECT_TRUE(gh_test::wait_until_true(
                [&] { return turns.load() > t + 1000 && bytes[0].load() > b + 100; }));
            stop.store(true, std::memory_order_release);
          }));
          join_all(gs);
          for (auto& p : fds)
            for (int fd : p) close(fd);
        },
        20 * kMs, mode);
  }
}

// Packed (GREENHOUSE_SPREAD=never): the threads a carrier readies run on the
// first carrier, so every wake-up of these ping-ponging threads resumes on
// the root's OS thread, and no other carrier runs a program thread. (The
// hand-off is on, as packing needs, but far off: nothing here is stuck.)
// A mask the creating thread set on itself (as a program's main pins
// itself before its first thread) does not confine the carriers: they run
// on the pool's CPUs (PoolOptions::cpu_mask).
TEST(PoolAffinity, CarriersRunOnThePoolsCpusNotTheCreatorsPin) {
  uint64_t all[16] = {};
  long bytes = gh::sys(SYS_sched_getaffinity, 0, sizeof all, all);
  ASSERT_GT(bytes, 0);
  int first = -1;
  for (int i = 0; i < 1024 && first < 0; i++)
    if (all[i / 64] >> (i % 64) & 1) first = i;
  std::thread t([&] {
    uint64_t one[16] = {};
    one[first / 64] = uint64_t{1} << (first % 64);
    ASSERT_EQ(gh::sys(SYS_sched_setaffinity, 0, sizeof one, one), 0);
    const long creator = os_tid();
    gh::PoolOptions o;
    o.carriers = 2;
    o.start_thread = &start_std_thread;
    std::memcpy(o.cpu_mask, all, sizeof all);
    o.cpu_mask_bytes = static_cast<int>(bytes);
    auto* pool = new gh::Pool(o);
    gh::Carrier* c = gh::Carrier::attach_to(pool, false);
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(pool->start(), 0);
    // The second carrier's OS thread has the pool's mask, not the pin.
    std::atomic<bool> seen{false};
    std::atomic<int> wrong{0};
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < 8; i++)
      gs.push_back(go([&] {
        burn(5 * kMs);
        if (os_tid() == creator) return;  // the first carrier: pinned, as asked
        uint64_t m[16] = {};
        gh::sys(SYS_sched_getaffinity, 0, sizeof m, m);
        if (std::memcmp(m, all, sizeof m) != 0) wrong++;
        seen = true;
      }));
    join_all(gs);
    gh::Carrier::leave();
    pool->stop();
    delete pool;
    EXPECT_TRUE(seen.load());
    EXPECT_EQ(wrong.load(), 0);
  });
  t.join();
}

TEST_P(PoolCarriers, CpuTimeFollowsAThreadAcrossCarriers) {
  run([](gh::Pool*) {
    // Threads that compute a little, yield and sleep (and so move between
    // carriers), read their own CPU time and each other's: no reading ever
    // goes back, and each thread's total covers what it burned.
    constexpr int kThreads = 6;
    std::atomic<int> back{0};
    std::atomic<int> short_total{0};
    std::vector<gh::GreenThread*> gs(kThreads, nullptr);
    std::atomic<int> made{0}, finished{0};
    for (int i = 0; i < kThreads; i++) {
      gs[i] = go([&, i] {
        while (made.load() < kThreads) gh::yield();
        gh::GreenThread* other = gs[(i + 1) % kThreads];
        int64_t mine = 0, theirs = 0, burned = 0;
        int64_t first = gh::cpu_time::thread_ns(gh::self());
        for (int round = 0; round < 200; round++) {
          int64_t t0 = gh::mono_ns();
          burn(20'000);
          burned += gh::mono_ns() - t0;
          if (round % 2)
            gh::yield();
          else
            gh::sleep_for(10'000);
          int64_t m = gh::cpu_time::thread_ns(gh::self());
          int64_t t = gh::cpu_time::thread_ns(other);
          if (m < mine || t < theirs) back++;
          mine = m;
          theirs = t;
        }
        // Burned time is wall time that may include preemption: the clock
        // must cover at least most of it.
        if (mine - first < burned / 2) short_total++;
        // The previous thread reads this one's clock: stay until all are
        // done (a joined thread's record is freed).
        finished++;
        while (finished.load() < kThreads) gh::yield();
      });
      made++;
    }
    for (auto* g : gs) gh::join(g, nullptr);
    EXPECT_EQ(back.load(), 0);
    EXPECT_EQ(short_total.load(), 0);
  });
}

TEST_P(PoolCarriers, PackedRunsEveryThreadOnTheFirstCarrier) {
  if (GetParam() < 2) GTEST_SKIP() << "needs a second carrier";
  run(
      [](gh::Pool* pool) {
        const long root_tid = os_tid();
        constexpr int kPairs = 20, kRounds = 50;
        std::atomic<int> elsewhere{0};
        std::atomic<int> exchanges{0};
        std::vector<gh::GreenThread*> gs;
        for (int i = 0; i < kPairs; i++) {
          int a[2], b[2];
          ASSERT_EQ(pipe(a), 0);
          ASSERT_EQ(pipe(b), 0);
          auto side = [&, root_tid](int in, int out, bool first) {
            char c = 'x';
            for (int r = 0; r < kRounds; r++) {
              if (first || r > 0) {
                ASSERT_EQ(gh::io::write(out, &c, 1), 1);
              }
              ASSERT_EQ(gh::io::read(in, &c, 1), 1);
              if (os_tid() != root_tid) elsewhere++;
              exchanges++;
            }
            if (!first) {
              ASSERT_EQ(gh::io::write(out, &c, 1), 1);
            }
          };
          gs.push_back(go([=] { side(a[0], b[1], true); }));
          gs.push_back(go([=] { side(b[0], a[1], false); }));
        }
        join_all(gs);
        EXPECT_EQ(exchanges.load(), 2 * kPairs * kRounds);
        EXPECT_EQ(elsewhere.load(), 0);
        EXPECT_TRUE(pool->packed());
        for (int i = 1; i < pool->slots(); i++) EXPECT_EQ(pool->slot(i)->runs(), 0u) << i;
      },
      10'000 * kMs, gh::SpreadMode::kNever);
}

// A thread whose read went to another carrier's ring while the pool was
// spread resumes on the first carrier once the pool is packed: the carrier
// that reaps the completion hands the thread over instead of running it.
TEST_P(PoolCarriers, PackedHandsAnotherRingsCompletionToTheFirstCarrier) {
  if (GetParam() < 2) GTEST_SKIP() << "needs a second carrier";
  run(
      [](gh::Pool* pool) {
        const long root_tid = os_tid();
        int fds[2];
        ASSERT_EQ(pipe(fds), 0);
        std::atomic<long> before{0}, after{0};
        gh::GreenThread* g = go([&] {
          before = os_tid();
          char c;
          EXPECT_EQ(gh::io::read(fds[0], &c, 1), 1);
          after = os_tid();
        });
        // The root keeps the first carrier busy (it spins, never parks)
        // until another carrier has taken the new thread (start() woke it)
        // and the thread waits in its read.
        auto spin_until = [](auto pred) {
          int64_t give_up = gh::mono_ns() + 10'000 * kMs;
          while (!pred())
            if (gh::mono_ns() > give_up) return false;
          return true;
        };
        ASSERT_TRUE(spin_until([&] { return before.load() != 0; }));
        ASSERT_NE(before.load(), root_tid);
        ASSERT_TRUE(spin_until(
            [&] { return g->state.load(std::memory_order_acquire) == gh::GreenState::kParked; }));
        pool->set_packed(true);
        char x = 'x';
        ASSERT_EQ(gh::sys(SYS_write, fds[1], &x, 1), 1);
        std::vector<gh::GreenThread*> gs{g};
        join_all(gs);
        EXPECT_EQ(after.load(), root_tid);
        close(fds[0]);
        close(fds[1]);
      },
      10'000 * kMs, gh::SpreadMode::kAlways);
}

// The mode flips every millisecond or so (as SpreadControl's probes flip it,
// only far more often) while threads ping-pong through pipes and a
// mutex/condvar ring: nothing is lost or left unrun, every count is exact.
TEST_P(PoolCarriers, ModeFlipsUnderLoadLoseNothing) {
  run(
      [](gh::Pool* pool) {
        constexpr int kPairs = 30, kRounds = 100, kRing = 8, kLaps = 200;
        std::atomic<int> exchanges{0};
        std::atomic<bool> done{false};
        std::vector<gh::GreenThread*> gs;
        std::vector<int> fds;
        for (int i = 0; i < kPairs; i++) {
          int a[2], b[2];
          ASSERT_EQ(pipe(a), 0);
          ASSERT_EQ(pipe(b), 0);
          gs.push_back(go([&, a, b] {
            char c = 'x';
            for (int r = 0; r < kRounds; r++) {
              ASSERT_EQ(gh::io::write(b[1], &c, 1), 1);
              ASSERT_EQ(gh::io::read(a[0], &c, 1), 1);
              exchanges++;
            }
          }));
          gs.push_back(go([&, a, b] {
            char c;
            for (int r = 0; r < kRounds; r++) {
              ASSERT_EQ(gh::io::read(b[0], &c, 1), 1);
              if (r % 10 == 0) burn(50'000);
              ASSERT_EQ(gh::io::write(a[1], &c, 1), 1);
              exchanges++;
            }
          }));
          fds.insert(fds.end(), {a[0], a[1], b[0], b[1]});
        }
        gh::Mutex m;
        m.init(gh::Mutex::kNormal);
        gh::Cond cv;
        cv.init(CLOCK_REALTIME);
        int turn = 0;
        int passes[kRing] = {};
        for (int i = 0; i < kRing; i++) {
          gs.push_back(go([&, i] {
            for (int lap = 0; lap < kLaps; lap++) {
              m.lock();
              while (turn % kRing != i) cv.wait(m);
              passes[i]++;
              turn++;
              cv.broadcast();
              m.unlock();
            }
          }));
        }
        gh::GreenThread* flipper = go([&] {
          for (int k = 0; !done.load(); k++) {
            pool->set_packed(k % 2 == 0);
            gh::sleep_for((1 + k % 3) * 300'000);
          }
          pool->set_packed(false);
        });
        join_all(gs);
        done = true;
        std::vector<gh::GreenThread*> f{flipper};
        join_all(f);
        for (int fd : fds) close(fd);
        EXPECT_EQ(exchanges.load(), 2 * kPairs * kRounds);
        for (int i = 0; i < kRing; i++) EXPECT_EQ(passes[i], kLaps) << i;
      },
      2 * kMs, gh::SpreadMode::kAlways);
}

}  // namespace

// A carrier that went to sleep letting a signal through, because a parked
// thread took it, sleeps with it blocked by the time that thread's mask
// change to block it returns: blocked by every thread, a signal with the
// default action delivered to that carrier would end the process, where
// natively it stays pending (Pool::hold_back).
TEST_P(PoolCarriers, NoCarrierSleepsLettingThroughWhatEveryThreadBlocks) {
  run([](gh::Pool* pool) {
    const uint64_t usr1 = gh_test::sig_bit(SIGUSR1);
    const uint64_t root_mask = gh_test::os_sigmask();
    gh_test::set_thread_sigmask(root_mask | usr1);
    gh::Semaphore go_on;
    go_on.init(0);
    std::atomic<bool> unblocked{false};
    std::string late;  // carriers still sleeping with SIGUSR1 let through
    gh::GreenThread* g = go([&] {
      gh_test::set_thread_sigmask(gh_test::os_sigmask() & ~usr1);
      unblocked = true;
      go_on.wait();  // parked: the only thread that takes SIGUSR1
      gh_test::set_thread_sigmask(gh_test::os_sigmask() | usr1);
      for (int i = 0; i < pool->slots(); i++) {
        gh::Carrier* x = pool->slot(i);
        if (x && (~x->sleep_mask() & usr1)) late += " " + std::to_string(i);
      }
    });
    while (!unblocked) gh::yield();
    // Wait (a few seconds at most) until every other carrier sleeps letting
    // SIGUSR1 through, for the parked thread. (One that went to sleep before
    // the thread unblocked it blocks it: kicked, it looks again.)
    gh::Carrier* self = gh::Carrier::current();
    int64_t until = gh::mono_ns() + 5'000'000'000;
    bool all_sleep = false;
    while (!all_sleep && gh::mono_ns() < until) {
      all_sleep = true;
      for (int i = 0; i < pool->slots(); i++) {
        gh::Carrier* x = pool->slot(i);
        if (!x || x == self || (x->idle() && (~x->sleep_mask() & usr1))) continue;
        all_sleep = false;
        x->kick();
      }
      if (!all_sleep) gh::sleep_for(kMs);
    }
    EXPECT_TRUE(all_sleep) << "the other carriers never slept letting SIGUSR1 through";
    go_on.post();
    std::vector<gh::GreenThread*> gs{g};
    join_all(gs);
    EXPECT_EQ(late, "")
        << "carriers sleeping with SIGUSR1 let through after every thread blocked it";
    gh_test::set_thread_sigmask(root_mask);
  });
}
