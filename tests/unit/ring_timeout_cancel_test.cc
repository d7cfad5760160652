// SPDX-License-Identifier: MIT
// Deadlines and cancellation in the io_uring backend (ioring/ops.h): reads,
// polls, accepts and arbitrary ops with a linked timeout return -ETIME never
// before their deadline and leave the fd usable; deadlines not hit return
// the data; io::timeout never wakes early; cancel_fd and cancel end parked
// operations with -ECANCELED and touch nothing else. Each test runs on a
// fresh carrier.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/green.h"
#include "ioring/ops.h"
#include "ioring/ring.h"
#include "ring_util.h"
#include "test_util.h"

namespace {

using gh::ioring::Request;
using gh::ioring::Ring;
using namespace gh_test;

// ---------------------------------------------------------- deadlines ------

TEST(Ring, ReadDeadlineOnIdlePipeIsEtimeNeverEarly) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    for (int64_t rel : {0 * kMs, 1 * kMs, 20 * kMs, 60 * kMs}) {
      char c;
      int64_t start = gh::mono_ns();
      int64_t deadline = start + rel;
      EXPECT_EQ(gh::io::read(p.r, &c, 1, -1, deadline), -ETIME) << rel;
      int64_t now = gh::mono_ns();
      EXPECT_GE(now, deadline) << rel;
      EXPECT_LT(now - start, rel + 5000 * kMs) << rel;
    }
    // The pipe still works afterwards, and data present beats the deadline.
    EXPECT_EQ(gh::io::write(p.w, "z", 1), 1);
    char c = 0;
    EXPECT_EQ(gh::io::read(p.r, &c, 1, -1, gh::deadline_after(10'000 * kMs)), 1);
    EXPECT_EQ(c, 'z');
  });
}

TEST(Ring, DeadlineNotHitReturnsData) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    SockPair s;
    char buf[8] = {};
    ssize_t got = -1;
    gh::GreenThread* rd =
        go([&] { got = gh::io::recv(s.a, buf, sizeof buf, 0, gh::deadline_after(10'000 * kMs)); });
    gh::yield();
    EXPECT_EQ(gh::io::send(s.b, "ok", 2, 0), 2);
    join(rd);
    EXPECT_EQ(got, 2);
    // The cancelled linked timeout's completion must not disturb later ops.
    for (int i = 0; i < 10; i++) {
      EXPECT_EQ(gh::io::send(s.b, "k", 1, 0), 1);
      EXPECT_EQ(gh::io::recv(s.a, buf, 1, 0, gh::deadline_after(10'000 * kMs)), 1);
    }
    EXPECT_EQ(r->inflight(), 0u);
  });
}

TEST(Ring, PollWithTimeout) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    int64_t deadline = gh::deadline_after(30 * kMs);
    EXPECT_EQ(gh::io::poll(p.r, POLLIN, deadline), -ETIME);
    EXPECT_GE(gh::mono_ns(), deadline);

    int ev = -1;
    gh::GreenThread* w =
        go([&] { ev = gh::io::poll(p.r, POLLIN, gh::deadline_after(10'000 * kMs)); });
    gh::yield();
    EXPECT_EQ(ev, -1);  // still waiting
    EXPECT_EQ(write(p.w, "x", 1), 1);
    join(w);
    EXPECT_EQ(ev & POLLIN, POLLIN);
    // Writable pipe: POLLOUT at once, no deadline needed.
    EXPECT_EQ(gh::io::poll(p.w, POLLOUT) & POLLOUT, POLLOUT);
    // Writer gone: POLLHUP.
    p.close_w();
    char c;
    EXPECT_EQ(read(p.r, &c, 1), 1);
    EXPECT_NE(gh::io::poll(p.r, POLLIN) & POLLHUP, 0);
  });
}

TEST(Ring, AcceptWithDeadlineTimesOut) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Listener l;
    int64_t deadline = gh::deadline_after(25 * kMs);
    EXPECT_EQ(gh::io::accept(l.fd, nullptr, nullptr, 0, deadline), -ETIME);
    EXPECT_GE(gh::mono_ns(), deadline);
    // The listener is intact: a later accept works.
    auto [c, s] = tcp_pair(l);
    EXPECT_GE(s, 0);
    close(c);
    close(s);
  });
}

TEST(Ring, AnyOpWithLinkedTimeout) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    SockPair s;
    char buf[4];
    int64_t deadline = gh::deadline_after(15 * kMs);
    int32_t rc = gh::io::submit_and_wait(
        [&](io_uring_sqe* sqe) { io_uring_prep_recv(sqe, s.a, buf, sizeof buf, 0); }, deadline);
    EXPECT_EQ(rc, -ETIME);
    EXPECT_GE(gh::mono_ns(), deadline);
    // A NOP completes long before its deadline.
    rc = gh::io::submit_and_wait([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); },
                                 gh::deadline_after(10'000 * kMs));
    EXPECT_EQ(rc, 0);
  });
}

TEST(Ring, TimeoutNeverEarly) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    for (int i = 0; i < 40; i++) {
      int64_t deadline = gh::mono_ns() + (i % 8) * 700'000 + i * 13'000;
      EXPECT_EQ(gh::io::timeout(deadline), 0);
      EXPECT_GE(gh::mono_ns(), deadline) << i;
    }
    // Past deadline: returns at once.
    int64_t t0 = gh::mono_ns();
    EXPECT_EQ(gh::io::timeout(t0 - 1000 * kMs), 0);
    EXPECT_LT(gh::mono_ns() - t0, 2000 * kMs);
    // Many green threads with staggered timeouts all wake, none early.
    constexpr int kN = 200;
    int early = 0, done = 0;
    std::vector<gh::GreenThread*> gs;
    int64_t base = gh::mono_ns();
    for (int i = 0; i < kN; i++) {
      gs.push_back(go([&, i] {
        int64_t d = base + (i % 20) * kMs;
        if (gh::io::timeout(d) != 0 || gh::mono_ns() < d) early++;
        done++;
      }));
    }
    for (auto* g : gs) join(g);
    EXPECT_EQ(done, kN);
    EXPECT_EQ(early, 0);
  });
}

// ------------------------------------------------------- cancellation ------

TEST(Ring, CancelFdWakesParkedReaderWithEcanceled) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    SockPair other;
    ssize_t got = 1, other_got = -99;
    bool started = false;
    char c, d;
    gh::GreenThread* rd = go([&] {
      started = true;
      got = gh::io::read(p.r, &c, 1);
    });
    gh::GreenThread* rd2 = go([&] { other_got = gh::io::recv(other.a, &d, 1, 0); });
    ASSERT_TRUE(yield_until([&] { return started; }));
    int n = gh::io::cancel_fd(p.r);
    if (n == -EINVAL) GTEST_SKIP() << "IORING_ASYNC_CANCEL_FD needs Linux 5.19";
    EXPECT_EQ(n, 1);
    join(rd);
    EXPECT_EQ(got, -ECANCELED);
    // Nothing left to cancel: 0, and the other fd's reader is untouched.
    EXPECT_EQ(gh::io::cancel_fd(p.r), 0);
    EXPECT_EQ(other_got, -99);
    EXPECT_EQ(send(other.b, "y", 1, 0), 1);
    join(rd2);
    EXPECT_EQ(other_got, 1);
    EXPECT_EQ(d, 'y');
  });
}

TEST(Ring, CancelFdCancelsEveryWaiterOnTheFd) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    SockPair s;
    constexpr int kN = 10;
    int cancelled = 0;
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < kN; i++)
      gs.push_back(go([&] {
        char c;
        if (gh::io::recv(s.a, &c, 1, 0) == -ECANCELED) cancelled++;
      }));
    gh::yield();
    int n = gh::io::cancel_fd(s.a);
    if (n == -EINVAL) GTEST_SKIP() << "IORING_ASYNC_CANCEL_FD needs Linux 5.19";
    EXPECT_EQ(n, kN);
    for (auto* g : gs) join(g);
    EXPECT_EQ(cancelled, kN);
  });
}

TEST(Ring, CancelRequest) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    Request* target = nullptr;
    int32_t got = 1;
    char c;
    gh::GreenThread* rd = go([&] {
      Ring* ring = Ring::current();
      Request req;
      io_uring_sqe* sqe = ring->sqe();
      io_uring_prep_read(sqe, p.r, &c, 1, -1);
      target = &req;
      got = gh::io::wait_tracked(ring, &req, sqe, gh::kNoDeadline);
      target = nullptr;
    });
    ASSERT_TRUE(yield_until([&] { return target != nullptr; }));
    EXPECT_EQ(gh::io::cancel(target), 0);
    join(rd);
    EXPECT_EQ(got, -ECANCELED);

    // A request that is not (or no longer) in flight: -ENOENT.
    Request gone;
    EXPECT_EQ(gh::io::cancel(&gone), -ENOENT);
  });
}

}  // namespace
