// SPDX-License-Identifier: MIT
// Green channels and select (core/channel.h): FIFO order, rendezvous of an
// unbuffered channel, close semantics, deadlines (never early, and a timed
// out case leaves nothing behind), select choosing ready cases uniformly,
// a blocked select completing exactly one case, unbounded growth, and
// producers and consumers on 1, 2 and 4 carriers (SyncCarriers).
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "core/channel.h"
#include "core/green.h"
#include "test_util.h"

namespace {

using namespace gh_test;

struct ChanPtr {
  gh::Channel* c;
  explicit ChanPtr(size_t elem, size_t cap) : c(gh::Channel::create(elem, cap)) {}
  ~ChanPtr() {
    if (c) c->destroy();
  }
  gh::Channel* operator->() const { return c; }
};

TEST(Channel, CreateRejectsBadSizes) {
  EXPECT_EQ(gh::Channel::create(0, 1), nullptr);
  EXPECT_EQ(gh::Channel::create(gh::Channel::kMaxElemSize + 1, 1), nullptr);
  EXPECT_EQ(gh::Channel::create(8, SIZE_MAX / 4), nullptr);
  gh::SelectCase none[1];
  EXPECT_EQ(gh::Channel::select(none, 0, gh::kNoDeadline), -EINVAL);
  EXPECT_EQ(gh::Channel::select(none, 1, gh::kNoDeadline), -EINVAL);  // no channel
}

TEST(Channel, BufferedKeepsOrderAndCapacity) {
  ChanPtr ch(sizeof(int), 3);
  ASSERT_NE(ch.c, nullptr);
  EXPECT_EQ(ch->capacity(), 3u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(ch->send(&i, gh::kNoDeadline), 0);
  EXPECT_EQ(ch->size(), 3u);
  int x = 99;
  EXPECT_EQ(ch->send(&x, 0), ETIMEDOUT);  // full: a try fails at once
  for (int i = 0; i < 3; i++) {
    int v = -1;
    EXPECT_EQ(ch->recv(&v, gh::kNoDeadline), 0);
    EXPECT_EQ(v, i);
  }
  EXPECT_EQ(ch->recv(&x, 0), ETIMEDOUT);  // empty
  // Wrapping around the ring keeps the order.
  for (int round = 0; round < 10; round++) {
    for (int i = 0; i < 2; i++) ASSERT_EQ(ch->send(&i, 0), 0);
    for (int i = 0; i < 2; i++) {
      int v = -1;
      ASSERT_EQ(ch->recv(&v, 0), 0);
      ASSERT_EQ(v, i);
    }
  }
}

TEST(Channel, UnbufferedSendWaitsForAReceiver) {
  ChanPtr ch(sizeof(int), 0);
  std::atomic<bool> sent{false};
  gh::GreenThread* g = go([&] {
    int v = 7;
    EXPECT_EQ(ch->send(&v, gh::kNoDeadline), 0);
    sent = true;
  });
  yield_n(20);  // the sender runs and parks: no receiver yet
  EXPECT_FALSE(sent);
  EXPECT_EQ(ch->size(), 0u);
  int v = 0;
  EXPECT_EQ(ch->recv(&v, gh::kNoDeadline), 0);
  EXPECT_EQ(v, 7);
  join(g);
  EXPECT_TRUE(sent);
  // Nobody receiving: a try fails, and no stale node matches a later send.
  EXPECT_EQ(ch->send(&v, 0), ETIMEDOUT);
  EXPECT_EQ(ch->recv(&v, 0), ETIMEDOUT);
}

TEST(Channel, RecvWaitsForASender) {
  ChanPtr ch(sizeof(long), 2);
  long got = 0;
  gh::GreenThread* g = go([&] { EXPECT_EQ(ch->recv(&got, gh::kNoDeadline), 0); });
  yield_n(20);
  EXPECT_EQ(got, 0);
  long v = 1234567890123;
  EXPECT_EQ(ch->send(&v, gh::kNoDeadline), 0);
  join(g);
  EXPECT_EQ(got, v);
  EXPECT_EQ(ch->size(), 0u);  // it went straight to the receiver
}

TEST(Channel, CloseDrainsThenFails) {
  ChanPtr ch(sizeof(int), 4);
  for (int i = 1; i <= 2; i++) ASSERT_EQ(ch->send(&i, 0), 0);
  EXPECT_EQ(ch->close(), 0);
  EXPECT_EQ(ch->close(), EPIPE);  // twice
  EXPECT_TRUE(ch->closed());
  int v = 5;
  EXPECT_EQ(ch->send(&v, gh::kNoDeadline), EPIPE);
  for (int i = 1; i <= 2; i++) {
    ASSERT_EQ(ch->recv(&v, gh::kNoDeadline), 0);  // what was sent before close
    EXPECT_EQ(v, i);
  }
  v = 5;
  EXPECT_EQ(ch->recv(&v, gh::kNoDeadline), EPIPE);
  EXPECT_EQ(v, 0);  // zero-filled, as Go's zero value
}

TEST(Channel, CloseWakesWaitingReceiversAndSenders) {
  ChanPtr rx(sizeof(int), 0);
  ChanPtr tx(sizeof(int), 0);
  std::atomic<int> failed{0};
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < 5; i++) {
    gs.push_back(go([&] {
      int v = 9;
      if (rx->recv(&v, gh::kNoDeadline) == EPIPE && v == 0) failed++;
    }));
    gs.push_back(go([&] {
      int v = 9;
      if (tx->send(&v, gh::kNoDeadline) == EPIPE) failed++;
    }));
  }
  yield_n(20);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(rx->close(), 0);
  EXPECT_EQ(tx->close(), 0);
  join_all(gs);
  EXPECT_EQ(failed, 10);
}

TEST(Channel, DeadlinesAreNeverEarlyAndLeaveNothingBehind) {
  ChanPtr ch(sizeof(int), 0);
  int v = 1;
  int64_t t0 = gh::mono_ns();
  EXPECT_EQ(ch->recv(&v, gh::deadline_after(5 * kMs)), ETIMEDOUT);
  EXPECT_GE(gh::mono_ns() - t0, 5 * kMs);
  t0 = gh::mono_ns();
  EXPECT_EQ(ch->send(&v, gh::deadline_after(5 * kMs)), ETIMEDOUT);
  EXPECT_GE(gh::mono_ns() - t0, 5 * kMs);
  // The timed-out sender's node is gone: a receiver now finds no one.
  EXPECT_EQ(ch->recv(&v, 0), ETIMEDOUT);
  // And a value sent later reaches a receiver that waits for it.
  int got = 0;
  gh::GreenThread* g = go([&] { EXPECT_EQ(ch->recv(&got, gh::deadline_after(kPatience)), 0); });
  yield_n(5);
  v = 42;
  EXPECT_EQ(ch->send(&v, gh::kNoDeadline), 0);
  join(g);
  EXPECT_EQ(got, 42);
}

TEST(Channel, UnboundedGrowsAndKeepsOrder) {
  ChanPtr ch(sizeof(uint64_t), gh::Channel::kUnbounded);
  constexpr uint64_t kN = 100000;
  for (uint64_t i = 0; i < kN; i++) ASSERT_EQ(ch->send(&i, 0), 0);
  EXPECT_EQ(ch->size(), kN);
  for (uint64_t i = 0; i < kN; i++) {
    uint64_t v = 0;
    ASSERT_EQ(ch->recv(&v, 0), 0);
    ASSERT_EQ(v, i);
  }
}

TEST(Select, ChoosesTheReadyCase) {
  ChanPtr a(sizeof(int), 1), b(sizeof(int), 1), c(sizeof(int), 1);
  int two = 2;
  ASSERT_EQ(b->send(&two, 0), 0);
  int va = 0, vb = 0, out = 5;
  gh::SelectCase cases[3];
  cases[0] = {a.c, false, &va, -1};
  cases[1] = {b.c, false, &vb, -1};
  cases[2] = {c.c, true, &out, -1};  // room in c: also ready
  std::vector<int> seen(3);
  for (int i = 0; i < 200; i++) {
    int r = gh::Channel::select(cases, 3, gh::kNoDeadline);
    ASSERT_TRUE(r == 1 || r == 2) << r;
    EXPECT_EQ(cases[r].status, 0);
    seen[r]++;
    if (r == 1) {
      EXPECT_EQ(vb, 2);
      ASSERT_EQ(b->send(&two, 0), 0);
    } else {
      int drop;
      ASSERT_EQ(c->recv(&drop, 0), 0);
      EXPECT_EQ(drop, 5);
    }
  }
  EXPECT_GT(seen[1], 0);
  EXPECT_GT(seen[2], 0);
  EXPECT_EQ(seen[0], 0);
  // Nothing ready, no wait: -ETIMEDOUT, and no case touched.
  int d;
  ASSERT_EQ(b->recv(&d, 0), 0);
  ASSERT_EQ(c->send(&out, 0), 0);
  cases[2] = {c.c, true, &out, -1};
  cases[0].status = cases[1].status = cases[2].status = -1;
  EXPECT_EQ(gh::Channel::select(cases, 3, 0), -ETIMEDOUT);
  EXPECT_EQ(c->size(), 1u);
}

// Two cases ready every time: each is chosen about half the time (the
// chance of falling outside 40-60% in 10,000 fair draws is below 1e-80).
TEST(Select, IsFairBetweenReadyCases) {
  ChanPtr a(sizeof(int), 1), b(sizeof(int), 1);
  int x = 1;
  ASSERT_EQ(a->send(&x, 0), 0);
  ASSERT_EQ(b->send(&x, 0), 0);
  int v;
  gh::SelectCase cases[2] = {{a.c, false, &v, 0}, {b.c, false, &v, 0}};
  int count[2] = {0, 0};
  constexpr int kDraws = 10000;
  for (int i = 0; i < kDraws; i++) {
    int r = gh::Channel::select(cases, 2, 0);
    ASSERT_GE(r, 0);
    count[r]++;
    ASSERT_EQ(cases[r].chan->send(&x, 0), 0);  // ready again
  }
  EXPECT_GT(count[0], kDraws * 4 / 10);
  EXPECT_GT(count[1], kDraws * 4 / 10);
}

TEST(Select, BlockedSelectCompletesExactlyOneCase) {
  ChanPtr a(sizeof(int), 0), b(sizeof(int), 0), c(sizeof(int), 0);
  int va = -1, vb = -1, vc = -1;
  int which = -1;
  gh::SelectCase cases[3] = {{a.c, false, &va, 0}, {b.c, false, &vb, 0}, {c.c, false, &vc, 0}};
  gh::GreenThread* g = go([&] { which = gh::Channel::select(cases, 3, gh::kNoDeadline); });
  yield_n(20);
  EXPECT_EQ(which, -1);
  int v = 77;
  EXPECT_EQ(b->send(&v, gh::kNoDeadline), 0);
  join(g);
  EXPECT_EQ(which, 1);
  EXPECT_EQ(vb, 77);
  EXPECT_EQ(va, -1);
  EXPECT_EQ(vc, -1);
  // Its other cases left the queues: nobody receives on a or c now.
  EXPECT_EQ(a->send(&v, 0), ETIMEDOUT);
  EXPECT_EQ(c->send(&v, 0), ETIMEDOUT);
}

TEST(Select, SendAndReceiveCasesAndClose) {
  ChanPtr in(sizeof(int), 0), out(sizeof(int), 0);
  int got = 0, give = 3;
  gh::SelectCase cases[2] = {{in.c, false, &got, 0}, {out.c, true, &give, 0}};
  int which = -1;
  gh::GreenThread* g = go([&] { which = gh::Channel::select(cases, 2, gh::kNoDeadline); });
  yield_n(20);
  int v = 0;
  EXPECT_EQ(out->recv(&v, gh::kNoDeadline), 0);  // takes the select's send
  join(g);
  EXPECT_EQ(which, 1);
  EXPECT_EQ(v, 3);
  // A closed channel is a ready case, with EPIPE.
  g = go([&] { which = gh::Channel::select(cases, 2, gh::kNoDeadline); });
  yield_n(20);
  EXPECT_EQ(in->close(), 0);
  join(g);
  EXPECT_EQ(which, 0);
  EXPECT_EQ(cases[0].status, EPIPE);
}

TEST(Select, TimesOut) {
  ChanPtr a(sizeof(int), 0), b(sizeof(int), 0);
  int v;
  gh::SelectCase cases[2] = {{a.c, false, &v, 0}, {b.c, true, &v, 0}};
  int64_t t0 = gh::mono_ns();
  EXPECT_EQ(gh::Channel::select(cases, 2, gh::deadline_after(5 * kMs)), -ETIMEDOUT);
  EXPECT_GE(gh::mono_ns() - t0, 5 * kMs);
  EXPECT_EQ(a->send(&v, 0), ETIMEDOUT);
  EXPECT_EQ(b->recv(&v, 0), ETIMEDOUT);
}

// Producers and consumers on every carrier; each value arrives exactly once.
TEST_P(SyncCarriers, ChannelDeliversEveryValueOnce) {
  ChanPtr ch(sizeof(uint32_t), 8);
  constexpr int kPer = 2;
  constexpr uint32_t kEach = 2000;
  const int producers = carriers() * kPer;
  std::vector<std::atomic<uint8_t>> seen(producers * kEach);
  std::atomic<int> done_producers{0};
  run_on_carriers(carriers(), kPer * 2, [&](int i) {
    if (i % 2 == 0) {
      uint32_t base = static_cast<uint32_t>(i / 2) * kEach;
      for (uint32_t k = 0; k < kEach; k++) {
        uint32_t v = base + k;
        ASSERT_EQ(ch->send(&v, gh::kNoDeadline), 0);
      }
      if (++done_producers == producers) ch->close();
    } else {
      uint32_t v;
      while (ch->recv(&v, gh::kNoDeadline) == 0) seen[v]++;
    }
  });
  for (size_t k = 0; k < seen.size(); k++) ASSERT_EQ(seen[k], 1) << k;
}

// Ping-pong through two unbuffered channels with select on both sides.
TEST_P(SyncCarriers, SelectPingPong) {
  ChanPtr ping(sizeof(int), 0), pong(sizeof(int), 0), quit(sizeof(int), 0);
  constexpr int kRounds = 2000;
  std::atomic<int> rounds{0};
  run_on_carriers(carriers() > 1 ? 2 : 1, carriers() > 1 ? 1 : 2, [&](int i) {
    if (i == 0) {
      for (int k = 0; k < kRounds; k++) {
        ASSERT_EQ(ping->send(&k, gh::kNoDeadline), 0);
        int back = -1;
        ASSERT_EQ(pong->recv(&back, gh::kNoDeadline), 0);
        ASSERT_EQ(back, k + 1);
      }
      ASSERT_EQ(quit->close(), 0);
    } else {
      for (;;) {
        int v = 0, q;
        gh::SelectCase cases[2] = {{ping.c, false, &v, 0}, {quit.c, false, &q, 0}};
        int r = gh::Channel::select(cases, 2, gh::kNoDeadline);
        if (r == 1) break;
        ASSERT_EQ(r, 0);
        v++;
        ASSERT_EQ(pong->send(&v, gh::kNoDeadline), 0);
        rounds++;
      }
    }
  });
  EXPECT_EQ(rounds, kRounds);
}

}  // namespace
