// SPDX-License-Identifier: MIT
#include "core/timer.h"

#include <utility>

namespace gh {

bool TimerHeap::less(size_t a, size_t b) const {
  const Timer* x = heap_[a];
  const Timer* y = heap_[b];
  if (x->deadline != y->deadline) return x->deadline < y->deadline;
  return x->seq < y->seq;
}

void TimerHeap::swap_nodes(size_t a, size_t b) {
  std::swap(heap_[a], heap_[b]);
  heap_[a]->index = a;
  heap_[b]->index = b;
}

void TimerHeap::sift_up(size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!less(i, parent)) break;
    swap_nodes(i, parent);
    i = parent;
  }
}

void TimerHeap::sift_down(size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_.size() && less(l, m)) m = l;
    if (r < heap_.size() && less(r, m)) m = r;
    if (m == i) return;
    swap_nodes(i, m);
    i = m;
  }
}

void TimerHeap::arm(Timer* t) {
  t->seq = next_seq_++;
  t->index = heap_.size();
  heap_.push_back(t);
  sift_up(t->index);
}

void TimerHeap::remove_at(size_t i) {
  Timer* t = heap_[i];
  size_t last = heap_.size() - 1;
  if (i != last) swap_nodes(i, last);
  heap_.pop_back();
  t->index = Timer::kNotArmed;
  if (i < heap_.size()) {
    sift_down(i);
    sift_up(i);
  }
}

bool TimerHeap::cancel(Timer* t) {
  if (!t->armed()) return false;
  remove_at(t->index);
  return true;
}

int TimerHeap::fire_due(int64_t now) {
  int n = 0;
  while (!heap_.empty() && heap_[0]->deadline <= now) {
    Timer* t = heap_[0];
    remove_at(0);
    t->fire(t);
    n++;
  }
  return n;
}

}  // namespace gh
