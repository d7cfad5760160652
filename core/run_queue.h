// SPDX-License-Identifier: MIT
// A carrier's run queue: a bounded FIFO of runnable green threads that its
// owner pushes to and pops from without locks, and that other carriers of
// the same pool steal from (half at a time). The owner is the only producer;
// consumers (the owner's pop, thieves' steal) claim entries by advancing
// `head_` with a compare-and-swap, so an entry is taken exactly once.
//
// The scheme is the one of Go's per-P run queue (runtime/proc.go, runqput /
// runqget / runqgrab): a power-of-two ring of slots, `tail_` written only by
// the owner (release), `head_` advanced by whoever consumes. Unlike Go's,
// the owner may also put an entry first (push_front, which moves head_
// back), so head_ carries a count of its changes beside the position: a
// thief that read the slots at one head and compares-and-swaps after a pop
// and a push_front have brought the position back would otherwise succeed,
// and take the popped thread (running on its owner already) in place of the
// one put first, which would be lost.
#pragma once

#include <atomic>
#include <cstdint>

namespace gh {

struct GreenThread;

class RunQueue {
 public:
  static constexpr uint32_t kSize = 256;

  // Owner only. Returns false when full (the caller puts g elsewhere).
  bool push(GreenThread* g) {
    uint32_t h = pos(head_.load(std::memory_order_acquire));
    uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t - h >= kSize) return false;
    slots_[t % kSize].store(g, std::memory_order_relaxed);
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Owner only: puts g first, to be popped before everything queued.
  // Returns false when full.
  bool push_front(GreenThread* g) {
    for (;;) {
      uint64_t h = head_.load(std::memory_order_acquire);
      uint32_t t = tail_.load(std::memory_order_relaxed);
      if (t - pos(h) >= kSize) return false;
      slots_[(pos(h) - 1) % kSize].store(g, std::memory_order_relaxed);
      // A consumer that took entries meanwhile moved head: write again.
      if (head_.compare_exchange_weak(h, moved(h, pos(h) - 1), std::memory_order_acq_rel))
        return true;
    }
  }

  // Owner only. The oldest entry, or nullptr when empty.
  GreenThread* pop() {
    for (;;) {
      uint64_t h = head_.load(std::memory_order_acquire);
      uint32_t t = tail_.load(std::memory_order_relaxed);
      if (t == pos(h)) return nullptr;
      GreenThread* g = slots_[pos(h) % kSize].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, moved(h, pos(h) + 1), std::memory_order_acq_rel)) return g;
    }
  }

  // Any thread but the owner: moves up to half of the entries (at least one
  // when there is one, at most `max`) into out[]. Returns how many.
  uint32_t steal(GreenThread** out, uint32_t max) {
    for (;;) {
      uint64_t h = head_.load(std::memory_order_acquire);
      uint32_t t = tail_.load(std::memory_order_acquire);
      uint32_t n = t - pos(h);
      n -= n / 2;
      if (n == 0) return 0;
      if (n > kSize / 2) continue;  // read h and t at different times; retry
      if (n > max) n = max;
      for (uint32_t i = 0; i < n; i++)
        out[i] = slots_[(pos(h) + i) % kSize].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, moved(h, pos(h) + n), std::memory_order_acq_rel)) return n;
    }
  }

  // Positions in the queue's sequence: entries ever consumed, ever pushed.
  uint32_t head() const { return pos(head_.load(std::memory_order_acquire)); }
  uint32_t tail() const { return tail_.load(std::memory_order_relaxed); }

  // Any thread; a snapshot.
  uint32_t size() const {
    uint32_t h = pos(head_.load(std::memory_order_acquire));
    uint32_t t = tail_.load(std::memory_order_acquire);
    return t - h;
  }
  bool empty() const { return size() == 0; }

 private:
  // head_: the position (low 32 bits) and a count of its changes (high).
  static uint32_t pos(uint64_t h) { return static_cast<uint32_t>(h); }
  static uint64_t moved(uint64_t h, uint32_t to) { return ((h >> 32) + 1) << 32 | to; }

  alignas(64) std::atomic<uint64_t> head_{0};  // consumers advance it (CAS)
  alignas(64) std::atomic<uint32_t> tail_{0};  // [owner]
  std::atomic<GreenThread*> slots_[kSize] = {};
};

}  // namespace gh
