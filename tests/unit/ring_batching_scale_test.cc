// SPDX-License-Identifier: MIT
// The io_uring backend under load on one carrier: a parked reader does not
// hold up other green threads, completions that pile up while the carrier is
// busy (or asleep in the ring) are reaped in few io_uring_enter calls, 100,000
// green threads park on one pipe, a CQ far smaller than the completions loses
// none (kernel overflow list), and a full SQ never splits an op from its
// linked timeout. Each test runs on a fresh carrier (clean stats).
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/green.h"
#include "ioring/ops.h"
#include "ioring/ring.h"
#include "ring_util.h"
#include "test_util.h"

namespace {

using gh::ioring::RingOptions;
using namespace gh_test;

// ------------------------------------------- concurrency on one carrier -----

TEST(Ring, BlockedReaderDoesNotBlockOthers) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    int counter = 0;
    int counter_when_read = -1;
    char c = 0;
    gh::GreenThread* rd = go([&] {
      EXPECT_EQ(gh::io::read(p.r, &c, 1), 1);
      counter_when_read = counter;
    });
    gh::GreenThread* busy = go([&] {
      for (int i = 0; i < 1000; i++) {
        counter++;
        gh::yield();
      }
      EXPECT_EQ(gh::io::write(p.w, "!", 1), 1);
    });
    // And a sleeper on the same carrier wakes meanwhile too.
    bool slept = false;
    gh::GreenThread* sl = go([&] {
      gh::sleep_for(2 * kMs);
      slept = true;
    });
    join(busy);
    join(rd);
    join(sl);
    EXPECT_EQ(counter_when_read, 1000);
    EXPECT_EQ(c, '!');
    EXPECT_TRUE(slept);
  });
}

// ----------------------------------------------------------- batching ------

using Readers = std::function<void(gh::ioring::Ring*, gh::Carrier*, std::vector<SockPair>&)>;

// Runs body(r, c, ps) as the root of a fresh carrier c with ring r, on n
// socketpairs ps: 1000, or as many as RLIMIT_NOFILE leaves room for (two fds
// each, 300 spare). Skips the test when that is under 64.
void with_socketpairs(const Readers& body) {
  long limit = fd_limit();
  int n = static_cast<int>(std::min<long>(1000, (limit - 300) / 2));
  if (n < 64) GTEST_SKIP() << "RLIMIT_NOFILE " << limit << " too low";
  on_fresh_carrier([n, &body] {
    RING_OR_SKIP(r);
    std::vector<SockPair> ps(n);
    body(r, gh::Carrier::current(), ps);
  });
}

// N green readers park on N socketpairs; an OS thread writes to all of them
// while the carrier is busy; their completions are then reaped together:
// the carrier never blocks, and far fewer io_uring_enter calls than readers.
TEST(Ring, BatchedWakeupsReapedByFewEnters) {
  with_socketpairs([](gh::ioring::Ring* r, gh::Carrier* c, std::vector<SockPair>& ps) {
    const int n = static_cast<int>(ps.size());
    std::vector<char> got(n, 0);
    std::vector<ssize_t> res(n, -1);
    int started = 0;
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < n; i++)
      gs.push_back(go(
          [&, i] {
            started++;
            res[i] = gh::io::read(ps[i].a, &got[i], 1);
          },
          16 * 1024));
    ASSERT_TRUE(yield_until([&] { return started == n; }));
    // Their reads are queued in the SQ; hand them to the kernel so that they
    // are truly parked there (all of them in a few enters: SQ of 256).
    uint64_t enters0 = r->stats().enters;
    r->submit();
    EXPECT_LE(r->stats().enters - enters0, static_cast<uint64_t>(n / 200 + 2));
    EXPECT_EQ(r->inflight(), static_cast<uint32_t>(n));

    std::atomic<bool> go_write{false}, written{false};
    std::thread writer([&] {
      while (!go_write.load()) {
      }
      for (int i = 0; i < n; i++) {
        char v = static_cast<char>('a' + i % 26);
        EXPECT_EQ(write(ps[i].b, &v, 1), 1);
      }
      written = true;
    });
    gh::CarrierStats before = c->stats();
    gh::ioring::RingStats rbefore = r->stats();
    go_write = true;
    while (!written.load()) {
      // The carrier is busy: completions pile up in the kernel.
    }
    writer.join();
    for (auto* g : gs) join(g);
    gh::CarrierStats after = c->stats();
    gh::ioring::RingStats rafter = r->stats();

    for (int i = 0; i < n; i++) {
      ASSERT_EQ(res[i], 1) << i;
      ASSERT_EQ(got[i], static_cast<char>('a' + i % 26)) << i;
    }
    uint64_t waits = after.waits - before.waits;
    uint64_t polls = after.polls - before.polls;
    uint64_t enters = rafter.enters - rbefore.enters;
    std::printf(
        "[ batching ] readers %d: carrier waits %llu, polls %llu, io_uring_enter %llu, "
        "completions %llu\n",
        n, (unsigned long long)waits, (unsigned long long)polls, (unsigned long long)enters,
        (unsigned long long)(rafter.completions - rbefore.completions));
    ::testing::Test::RecordProperty("readers", n);
    ::testing::Test::RecordProperty("waits", static_cast<int>(waits));
    ::testing::Test::RecordProperty("enters", static_cast<int>(enters));
    EXPECT_LE(waits, 2u);
    EXPECT_LE(polls, 4u);
    EXPECT_LT(enters, static_cast<uint64_t>(n / 8));
    EXPECT_EQ(r->dropped(), 0u);
  });
}

// The same with the wake-ups arriving while the carrier sleeps in the ring:
// every completion is delivered, and a wake-up reaps what arrived with it.
TEST(Ring, WakeupsWhileBlockedAllDelivered) {
  with_socketpairs([](gh::ioring::Ring* r, gh::Carrier* c, std::vector<SockPair>& ps) {
    const int n = static_cast<int>(ps.size());
    std::vector<ssize_t> res(n, -1);
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < n; i++)
      gs.push_back(go(
          [&, i] {
            char v;
            res[i] = gh::io::read(ps[i].a, &v, 1);
          },
          16 * 1024));
    gh::CarrierStats before = c->stats();
    std::thread writer([&] {
      for (int i = 0; i < n; i++) EXPECT_EQ(write(ps[i].b, "w", 1), 1);
    });
    for (auto* g : gs) join(g);
    writer.join();
    for (int i = 0; i < n; i++) ASSERT_EQ(res[i], 1) << i;
    std::printf("[ batching ] readers %d woken while blocked: carrier waits %llu\n", n,
                (unsigned long long)(c->stats().waits - before.waits));
    EXPECT_LE(c->stats().waits - before.waits, static_cast<uint64_t>(n));
  });
}

// --------------------------------------------------------------- scale -----

namespace hundred_k {
int pipe_r = -1;
int ok = 0;
int started = 0;
void* poller(void*) {
  started++;
  int ev = gh::io::poll(pipe_r, POLLIN);
  if (ev > 0 && (ev & POLLIN)) ok++;
  return nullptr;
}
}  // namespace hundred_k

TEST(Ring, HundredThousandGreenThreadsParkedOnOnePipe) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    constexpr int kN = gh_test::scaled(100'000);
    int64_t t0 = gh::mono_ns();
    Pipe p;
    hundred_k::pipe_r = p.r;
    hundred_k::ok = hundred_k::started = 0;
    std::vector<gh::GreenThread*> gs(kN);
    gh::SpawnOptions o;
    o.stack_size = 16 * 1024;
    for (int i = 0; i < kN; i++)
      ASSERT_EQ(gh::spawn(hundred_k::poller, nullptr, o, &gs[i]), 0) << i;
    ASSERT_TRUE(yield_until([] { return hundred_k::started == kN; }));
    r->submit();  // the last batch still in the SQ
    EXPECT_EQ(r->inflight(), static_cast<uint32_t>(kN));
    EXPECT_EQ(hundred_k::ok, 0);
    int64_t t1 = gh::mono_ns();
    EXPECT_EQ(write(p.w, "!", 1), 1);  // one write wakes them all
    for (int i = 0; i < kN; i++) ASSERT_EQ(gh::join(gs[i], nullptr), 0) << i;
    int64_t t2 = gh::mono_ns();
    EXPECT_EQ(hundred_k::ok, kN);
    EXPECT_EQ(r->inflight(), 0u);
    EXPECT_EQ(r->dropped(), 0u);
    std::printf(
        "[ scale ] %d pollers: park %.0f ms, wake+join %.0f ms, enters %llu, "
        "overflow seen %llu\n",
        kN, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (unsigned long long)r->stats().enters,
        (unsigned long long)r->stats().overflow_seen);
  });
}

// ----------------------------------------------- queue limits and overflow --

// A tiny CQ and no deferred task work: completions far outnumber the CQ and
// go through the kernel's overflow list. None may be lost.
TEST(Ring, CqOverflowLosesNothing) {
  RingOptions o;
  o.sq_entries = 16;
  o.cq_entries = 32;
  o.setup_mask = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;  // plain task work
  on_fresh_carrier(
      [] {
        RING_OR_SKIP(r);
        if (!r->features().nodrop) GTEST_SKIP() << "no IORING_FEAT_NODROP";
        EXPECT_EQ(r->features().cq_entries, 32u);
        EXPECT_FALSE(r->features().defer_taskrun);
        constexpr int kN = 3000;
        Pipe p;
        int ok = 0, started = 0;
        std::vector<gh::GreenThread*> gs;
        for (int i = 0; i < kN; i++)
          gs.push_back(go(
              [&] {
                started++;
                if (gh::io::poll(p.r, POLLIN) & POLLIN) ok++;
              },
              16 * 1024));
        ASSERT_TRUE(yield_until([&] { return started == kN; }));
        r->submit();
        EXPECT_EQ(r->inflight(), static_cast<uint32_t>(kN));
        // The write's return to user space runs the task work: 3000
        // completions at once into a CQ of 32.
        EXPECT_EQ(write(p.w, "x", 1), 1);
        for (auto* g : gs) join(g);
        EXPECT_EQ(ok, kN);
        EXPECT_EQ(r->inflight(), 0u);
        EXPECT_EQ(r->dropped(), 0u);
        EXPECT_GT(r->stats().overflow_seen, 0u);
        std::printf(
            "[ overflow ] %d completions through a CQ of 32: enters %llu, overflow seen %llu\n", kN,
            (unsigned long long)r->stats().enters, (unsigned long long)r->stats().overflow_seen);
      },
      o);
}

// A small SQ: more parked operations than SQ entries, and linked pairs that
// arrive when the SQ has a single free slot.
TEST(Ring, FullSqNeverSplitsLinkedTimeout) {
  RingOptions o;
  o.sq_entries = 8;
  on_fresh_carrier(
      [] {
        RING_OR_SKIP(r);
        ASSERT_EQ(r->features().sq_entries, 8u);
        Pipe p;
        // 7 readers fill 7 of the 8 SQ slots (the scheduler has not polled yet).
        int started = 0;
        std::vector<ssize_t> res(7, 1);
        std::vector<gh::GreenThread*> gs;
        for (int i = 0; i < 7; i++)
          gs.push_back(go([&, i] {
            started++;
            char c;
            res[i] = gh::io::read(p.r, &c, 1);
          }));
        ASSERT_TRUE(yield_until([&] { return started == 7; }));
        // A read with a deadline needs two adjacent slots: one is left.
        uint64_t full0 = r->stats().sq_full;
        int64_t deadline = gh::deadline_after(20 * kMs);
        char c;
        EXPECT_EQ(gh::io::read(p.r, &c, 1, -1, deadline), -ETIME);
        EXPECT_GE(gh::mono_ns(), deadline);
        EXPECT_GT(r->stats().sq_full, full0);
        // Many more timed reads than SQ entries, all timing out properly.
        std::vector<gh::GreenThread*> timed;
        int etime = 0;
        int64_t d2 = gh::deadline_after(20 * kMs);
        for (int i = 0; i < 40; i++)
          timed.push_back(go([&] {
            char x;
            if (gh::io::read(p.r, &x, 1, -1, d2) == -ETIME && gh::mono_ns() >= d2) etime++;
          }));
        for (auto* g : timed) join(g);
        EXPECT_EQ(etime, 40);
        // Release the 7 readers.
        EXPECT_EQ(write(p.w, "1234567", 7), 7);
        for (auto* g : gs) join(g);
        for (ssize_t v : res) EXPECT_EQ(v, 1);
        EXPECT_EQ(r->inflight(), 0u);
      },
      o);
}

}  // namespace
