// SPDX-License-Identifier: MIT
// core/ptr_fifo.h: first in, first out across growth and wrap-around.
#include "core/ptr_fifo.h"

#include <gtest/gtest.h>

#include <deque>
#include <vector>

namespace {

struct Item {
  Item* next = nullptr;
  int value = 0;
};

TEST(PtrFifo, KeepsOrderWhileItGrowsAndWraps) {
  std::vector<Item> items(5000);
  for (size_t i = 0; i < items.size(); i++) items[i].value = static_cast<int>(i);
  gh::PtrFifo<Item, &Item::next> q;
  std::deque<Item*> model;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pop(), nullptr);
  // Push three, pop two, again and again: the contents wrap around the
  // buffer's end while it doubles.
  size_t next = 0;
  while (next < items.size()) {
    for (int k = 0; k < 3 && next < items.size(); k++) {
      q.push(&items[next]);
      model.push_back(&items[next++]);
    }
    for (int k = 0; k < 2; k++) {
      Item* got = q.pop();
      ASSERT_EQ(got, model.front()) << "after " << next << " pushes";
      model.pop_front();
    }
  }
  while (!model.empty()) {
    ASSERT_FALSE(q.empty());
    ASSERT_EQ(q.pop(), model.front());
    model.pop_front();
  }
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pop(), nullptr);
  // Empty again, it takes new elements from where it stopped.
  q.push(&items[7]);
  q.push(&items[8]);
  EXPECT_EQ(q.pop(), &items[7]);
  EXPECT_EQ(q.pop(), &items[8]);
  EXPECT_TRUE(q.empty());
}

}  // namespace
