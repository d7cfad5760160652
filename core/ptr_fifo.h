// SPDX-License-Identifier: MIT
// A FIFO of pointers in a ring buffer that grows by doubling (arena memory,
// core/arena.h): pushing and popping touch only the buffer, never the
// elements, whose memory may be cold (a carrier's overflow of runnable
// threads, thousands long: an intrusive list would miss the cache on each
// element's link, twice). If the buffer cannot grow, elements go on an
// intrusive list through `Next` behind it, in order: a push never fails.
// Not thread-safe: its owner says which lock or thread guards it.
#pragma once

#include <cstddef>

#include "core/arena.h"
#include "core/fifo.h"

namespace gh {

template <class T, T* T::*Next>
class PtrFifo {
 public:
  PtrFifo() = default;
  ~PtrFifo() { arena_free_array(buf_, cap_); }
  PtrFifo(const PtrFifo&) = delete;
  PtrFifo& operator=(const PtrFifo&) = delete;

  bool empty() const { return n_ == 0 && spill_.empty(); }

  void push(T* x) {
    // Behind what spilled, or the order would change.
    if (spill_.empty() && (n_ < cap_ || grow())) {
      buf_[(head_ + n_) & (cap_ - 1)] = x;
      n_++;
      return;
    }
    spill_.push(x);
  }

  // Removes and returns the oldest element, or nullptr when empty.
  T* pop() {
    if (n_ == 0) return spill_.pop();
    T* x = buf_[head_];
    head_ = (head_ + 1) & (cap_ - 1);
    n_--;
    return x;
  }

 private:
  static constexpr size_t kFirstCapacity = 64;

  bool grow() {
    size_t cap = cap_ ? cap_ * 2 : kFirstCapacity;
    T** b = arena_alloc_array<T*>(cap);
    if (!b) return false;
    for (size_t i = 0; i < n_; i++) b[i] = buf_[(head_ + i) & (cap_ - 1)];
    arena_free_array(buf_, cap_);
    buf_ = b;
    cap_ = cap;
    head_ = 0;
    return true;
  }

  T** buf_ = nullptr;  // cap_ slots, a power of two
  size_t cap_ = 0;
  size_t head_ = 0;  // the oldest element's slot
  size_t n_ = 0;     // elements in buf_
  IntrusiveFifo<T, Next> spill_;
};

}  // namespace gh
