// SPDX-License-Identifier: MIT
// core/run_queue.h: order, push_front, half-steals, and that every entry is
// taken exactly once while the owner pops and puts first and thieves steal.
#include "core/run_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace {

// Stands in for a GreenThread: the queue only stores the pointer.
struct Item {
  std::atomic<int> taken{0};  // 0: queued; 1: held by whoever took it
};

gh::GreenThread* as_thread(Item* i) { return reinterpret_cast<gh::GreenThread*>(i); }
Item* as_item(gh::GreenThread* g) { return reinterpret_cast<Item*>(g); }

TEST(RunQueue, PopsInOrderAndPutsFirstAheadOfAll) {
  std::vector<Item> items(4);
  gh::RunQueue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pop(), nullptr);
  ASSERT_TRUE(q.push(as_thread(&items[0])));
  ASSERT_TRUE(q.push(as_thread(&items[1])));
  ASSERT_TRUE(q.push_front(as_thread(&items[2])));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.pop(), as_thread(&items[2]));
  EXPECT_EQ(q.pop(), as_thread(&items[0]));
  EXPECT_EQ(q.pop(), as_thread(&items[1]));
  EXPECT_EQ(q.pop(), nullptr);
}

TEST(RunQueue, RefusesPastItsSizeAndStealsHalf) {
  std::vector<Item> items(gh::RunQueue::kSize + 1);
  gh::RunQueue q;
  for (uint32_t i = 0; i < gh::RunQueue::kSize; i++) ASSERT_TRUE(q.push(as_thread(&items[i])));
  EXPECT_FALSE(q.push(as_thread(&items[gh::RunQueue::kSize])));
  EXPECT_FALSE(q.push_front(as_thread(&items[gh::RunQueue::kSize])));
  gh::GreenThread* out[gh::RunQueue::kSize];
  uint32_t n = q.steal(out, gh::RunQueue::kSize);
  EXPECT_EQ(n, gh::RunQueue::kSize / 2);
  for (uint32_t i = 0; i < n; i++) EXPECT_EQ(out[i], as_thread(&items[i])) << i;
  EXPECT_EQ(q.steal(out, 3), 3u);  // at most max
  EXPECT_EQ(q.pop(), as_thread(&items[n + 3]));
}

// The owner pops and puts threads first again and again on a queue that is
// nearly empty (a thread woken by its signal handler goes first), while two
// thieves steal: a thief whose compare-and-swap of the head finds the
// position it read, restored by a pop and a push_front meanwhile, took the
// popped entry a second time and lost the one put first.
TEST(RunQueue, EveryEntryIsTakenOnceWhileTheOwnerPutsFirstAndThievesSteal) {
  constexpr int kItems = 8;
  constexpr int kRounds = 400000;
  std::vector<Item> items(kItems);
  gh::RunQueue q;
  std::atomic<int> twice{0};
  std::atomic<bool> stop{false};
  std::mutex back_lock;
  std::vector<Item*> back;  // thieves hand what they took back to the owner
  auto take = [&](gh::GreenThread* g) {
    int was = 0;
    if (!as_item(g)->taken.compare_exchange_strong(was, 1)) twice.fetch_add(1);
  };
  auto thief = [&] {
    gh::GreenThread* out[8];
    while (!stop.load(std::memory_order_relaxed)) {
      uint32_t n = q.steal(out, 8);
      for (uint32_t i = 0; i < n; i++) take(out[i]);
      if (n) {
        std::lock_guard<std::mutex> guard(back_lock);
        for (uint32_t i = 0; i < n; i++) back.push_back(as_item(out[i]));
      }
    }
  };
  std::thread t1(thief), t2(thief);
  std::vector<Item*> mine;
  for (auto& i : items) i.taken.store(1), mine.push_back(&i);
  for (int r = 0; r < kRounds && twice.load() == 0; r++) {
    {
      std::lock_guard<std::mutex> guard(back_lock);
      mine.insert(mine.end(), back.begin(), back.end());
      back.clear();
    }
    if (!mine.empty()) {  // one queued at the back, one first
      Item* a = mine.back();
      mine.pop_back();
      a->taken.store(0);
      ASSERT_TRUE(q.push(as_thread(a)));
    }
    if (gh::GreenThread* g = q.pop()) {
      take(g);
      mine.push_back(as_item(g));
    }
    if (!mine.empty()) {
      Item* b = mine.back();
      mine.pop_back();
      b->taken.store(0);
      ASSERT_TRUE(q.push_front(as_thread(b)));
    }
    if (gh::GreenThread* g = q.pop()) {
      take(g);
      mine.push_back(as_item(g));
    }
  }
  stop.store(true);
  t1.join();
  t2.join();
  while (gh::GreenThread* g = q.pop()) {
    take(g);
    mine.push_back(as_item(g));
  }
  mine.insert(mine.end(), back.begin(), back.end());
  EXPECT_EQ(twice.load(), 0) << "an entry was taken twice";
  EXPECT_EQ(mine.size(), items.size()) << "entries were lost or duplicated";
}

}  // namespace
