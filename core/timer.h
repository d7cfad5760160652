// SPDX-License-Identifier: MIT
// Per-carrier timers: a binary min-heap of intrusive Timer nodes ordered by
// (deadline, arming order). Nodes usually live on the stack of the green
// thread that waits on them. Owner: the carrier's OS thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/arena.h"

namespace gh {

struct Timer {
  int64_t deadline = 0;            // CLOCK_MONOTONIC ns
  uint64_t seq = 0;                // tie-break: FIFO among equal deadlines
  void (*fire)(Timer*) = nullptr;  // called on the carrier when due
  size_t index = kNotArmed;        // position in the heap
  void* owner = nullptr;           // the carrier whose heap it was armed in
  static constexpr size_t kNotArmed = ~size_t{0};
  bool armed() const { return index != kNotArmed; }
};

class TimerHeap {
 public:
  void arm(Timer* t);
  // Removes t if armed. Returns true if it was armed.
  bool cancel(Timer* t);
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // Earliest deadline, or -1 when empty.
  int64_t next_deadline() const { return heap_.empty() ? -1 : heap_[0]->deadline; }
  // Disarms and fires, in order, every timer with deadline <= now.
  // Returns how many fired.
  int fire_due(int64_t now);

 private:
  bool less(size_t a, size_t b) const;
  void swap_nodes(size_t a, size_t b);
  void sift_up(size_t i);
  void sift_down(size_t i);
  void remove_at(size_t i);

  std::vector<Timer*, ArenaAllocator<Timer*>> heap_;
  uint64_t next_seq_ = 0;
};

}  // namespace gh
