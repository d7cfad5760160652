// SPDX-License-Identifier: MIT
// The green reader-writer lock (core/rwlock.h): readers share and writers
// exclude, timed locks never early, reader-preferring and writer-preferring
// kinds (a timed-out writer lets held-back readers go), and readers and
// writers on several carriers.
//
// Tests wait for conditions (wait_until_true), never for fixed sleeps; each
// wait is bounded and fails the test instead of hanging. Cross-carrier tests
// use OS threads (std::thread), each of which becomes a carrier when it first
// calls into the runtime; SyncCarriers tests run on 1, 2 and 4 carriers.
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <vector>

#include "core/green.h"
#include "core/parking_lot.h"
#include "core/rwlock.h"
#include "test_util.h"

namespace {

using namespace gh_test;

TEST(RwLock, ReadersShareWritersExclude) {
  gh::RwLock rw{};
  ASSERT_EQ(rw.rdlock(), 0);
  int readers_in = 0;
  gh::GreenThread* g = go([&] {
    EXPECT_EQ(rw.rdlock(), 0);  // shares with the first reader
    readers_in++;
    EXPECT_EQ(rw.tryrdlock(), 0);
    EXPECT_EQ(rw.unlock(), 0);
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(readers_in, 1);
  EXPECT_EQ(rw.trywrlock(), EBUSY);
  EXPECT_EQ(rw.unlock(), 0);
  EXPECT_EQ(rw.unlock(), EPERM);  // not locked

  ASSERT_EQ(rw.wrlock(), 0);
  EXPECT_EQ(rw.wrlock(), EDEADLK);
  EXPECT_EQ(rw.rdlock(), EDEADLK);
  EXPECT_EQ(rw.trywrlock(), EBUSY);
  EXPECT_EQ(rw.tryrdlock(), EBUSY);
  g = go([&] {
    EXPECT_EQ(rw.tryrdlock(), EBUSY);
    EXPECT_EQ(rw.unlock(), EPERM);  // the write lock is not its own
  });
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(rw.unlock(), 0);
  EXPECT_EQ(rw.state.load(), 0u);
  EXPECT_EQ(rw.destroy(), 0);
  EXPECT_EQ(rw.init(3), EINVAL);
}

TEST(RwLock, TimedLocksTimeOutNeverEarly) {
  for (clockid_t clk : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
    gh::RwLock rw{};
    ASSERT_EQ(rw.wrlock(), 0);
    int rd = -1, wr = -1;
    int64_t rd_end = 0, wr_end = 0;
    timespec ts = abs_after(clk, 20 * kMs);
    gh::GreenThread* r = go([&] {
      rd = rw.clockrdlock(clk, &ts);
      rd_end = gh::clock_ns(clk);
    });
    gh::GreenThread* w = go([&] {
      wr = rw.clockwrlock(clk, &ts);
      wr_end = gh::clock_ns(clk);
    });
    ASSERT_EQ(gh::join(r, nullptr), 0);
    ASSERT_EQ(gh::join(w, nullptr), 0);
    EXPECT_EQ(rd, ETIMEDOUT);
    EXPECT_EQ(wr, ETIMEDOUT);
    EXPECT_GE(rd_end, gh::timespec_ns(ts)) << "timed out early";
    EXPECT_GE(wr_end, gh::timespec_ns(ts)) << "timed out early";
    EXPECT_EQ(rw.writers_waiting.load(), 0u);
    EXPECT_EQ(rw.readers_waiting.load(), 0u);
    timespec bad{ts.tv_sec, 1'000'000'000};
    EXPECT_EQ(rw.timedrdlock(&bad), EINVAL);
    EXPECT_EQ(rw.timedwrlock(&bad), EINVAL);
    EXPECT_EQ(rw.unlock(), 0);
    // Available: acquired before the deadline.
    ts = abs_after(clk, 10'000 * kMs);
    EXPECT_EQ(rw.clockrdlock(clk, &ts), 0);
    EXPECT_EQ(rw.unlock(), 0);
    EXPECT_EQ(rw.clockwrlock(clk, &ts), 0);
    EXPECT_EQ(rw.unlock(), 0);
  }
}

TEST(RwLock, ReaderPreferringLetsReadersPassWaitingWriter) {
  gh::RwLock rw{};
  ASSERT_EQ(rw.rdlock(), 0);
  bool wrote = false;
  gh::GreenThread* w = go([&] {
    EXPECT_EQ(rw.wrlock(), 0);
    wrote = true;
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&rw.write_seq) == 1; }));
  // A writer waits, yet a new reader gets in.
  gh::GreenThread* r = go([&] {
    EXPECT_EQ(rw.tryrdlock(), 0);
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_EQ(gh::join(r, nullptr), 0);
  EXPECT_FALSE(wrote);
  EXPECT_EQ(rw.unlock(), 0);
  ASSERT_EQ(gh::join(w, nullptr), 0);
  EXPECT_TRUE(wrote);
}

TEST(RwLock, WriterPreferringHoldsNewReadersBack) {
  gh::RwLock rw{};
  ASSERT_EQ(rw.init(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), 0);
  ASSERT_EQ(rw.rdlock(), 0);
  std::vector<char> order;
  gh::GreenThread* w = go([&] {
    EXPECT_EQ(rw.wrlock(), 0);
    order.push_back('w');
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&rw.write_seq) == 1; }));
  gh::GreenThread* r = go([&] {
    EXPECT_EQ(rw.tryrdlock(), EBUSY);
    EXPECT_EQ(rw.rdlock(), 0);
    order.push_back('r');
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&rw.read_seq) == 1; }));
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(rw.unlock(), 0);
  ASSERT_EQ(gh::join(w, nullptr), 0);
  ASSERT_EQ(gh::join(r, nullptr), 0);
  EXPECT_EQ(order, (std::vector<char>{'w', 'r'}));
}

TEST(RwLock, WriterPreferringTimedOutWriterLetsReadersGo) {
  gh::RwLock rw{};
  ASSERT_EQ(rw.init(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), 0);
  ASSERT_EQ(rw.rdlock(), 0);
  int wr = -1;
  bool reader_in = false;
  gh::GreenThread* w = go([&] {
    timespec ts = abs_after(CLOCK_MONOTONIC, 30 * kMs);
    wr = rw.clockwrlock(CLOCK_MONOTONIC, &ts);
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&rw.write_seq) == 1; }));
  gh::GreenThread* r = go([&] {
    EXPECT_EQ(rw.rdlock(), 0);  // held back by the writer until it gives up
    reader_in = true;
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_EQ(gh::join(w, nullptr), 0);
  EXPECT_EQ(wr, ETIMEDOUT);
  ASSERT_TRUE(wait_until_true([&] { return reader_in; }));  // while we still read
  ASSERT_EQ(gh::join(r, nullptr), 0);
  EXPECT_EQ(rw.unlock(), 0);
}

TEST_P(SyncCarriers, RwLockReadersShareWritersExclude) {
  for (uint32_t kind : {0u, uint32_t{PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP}}) {
    gh::RwLock rw{};
    ASSERT_EQ(rw.init(kind), 0);
    std::atomic<int> readers{0}, writers{0}, max_readers{0};
    long data = 0;  // written under the write lock
    constexpr int kPer = 6, kIters = 600;
    run_on_carriers(carriers(), kPer, [&](int idx) {
      for (int i = 0; i < kIters; i++) {
        if ((idx + i) % 4 == 0) {
          ASSERT_EQ(rw.wrlock(), 0);
          EXPECT_EQ(writers.fetch_add(1), 0);
          EXPECT_EQ(readers.load(), 0);
          data++;
          if (i % 3 == 0) gh::yield();
          writers.fetch_sub(1);
          ASSERT_EQ(rw.unlock(), 0);
        } else {
          ASSERT_EQ(rw.rdlock(), 0);
          int n = readers.fetch_add(1) + 1;
          int m = max_readers.load();
          while (n > m && !max_readers.compare_exchange_weak(m, n)) {
          }
          EXPECT_EQ(writers.load(), 0);
          gh::yield();  // let other readers join in
          readers.fetch_sub(1);
          ASSERT_EQ(rw.unlock(), 0);
        }
      }
    });
    int n_writes = 0;
    for (int idx = 0; idx < carriers() * kPer; idx++)
      for (int i = 0; i < kIters; i++) n_writes += (idx + i) % 4 == 0;
    EXPECT_EQ(data, n_writes);
    EXPECT_GT(max_readers.load(), 1) << "readers never shared the lock";
    EXPECT_EQ(rw.state.load(), 0u);
  }
}

}  // namespace
