// SPDX-License-Identifier: MIT
// An intrusive FIFO: a singly linked list through the `Next` member of its
// elements, which it neither allocates nor owns. Not thread-safe: its owner
// says which lock or thread guards it. Zero-initialised storage is empty.
#pragma once

namespace gh {

template <class T, T* T::*Next>
class IntrusiveFifo {
 public:
  bool empty() const { return head_ == nullptr; }
  T* front() const { return head_; }

  void push(T* x) {
    x->*Next = nullptr;
    if (tail_)
      tail_->*Next = x;
    else
      head_ = x;
    tail_ = x;
  }

  // Removes and returns the oldest element, or nullptr when empty.
  T* pop() {
    T* x = head_;
    if (!x) return nullptr;
    head_ = x->*Next;
    if (!head_) tail_ = nullptr;
    x->*Next = nullptr;
    return x;
  }

  // Moves every element of `other` to the back of this one, in order.
  void append(IntrusiveFifo& other) {
    if (!other.head_) return;
    if (tail_)
      tail_->*Next = other.head_;
    else
      head_ = other.head_;
    tail_ = other.tail_;
    other.head_ = other.tail_ = nullptr;
  }

  // Unlinks x if it is queued. Returns whether it was. O(length).
  bool remove(T* x) {
    T* prev = nullptr;
    for (T* p = head_; p; prev = p, p = p->*Next) {
      if (p != x) continue;
      if (prev)
        prev->*Next = x->*Next;
      else
        head_ = x->*Next;
      if (tail_ == x) tail_ = prev;
      x->*Next = nullptr;
      return true;
    }
    return false;
  }

  void clear() { head_ = tail_ = nullptr; }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
};

}  // namespace gh
