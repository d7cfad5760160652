// SPDX-License-Identifier: MIT
// Green channels: typed-by-size message queues between green threads on any
// carriers, buffered or unbuffered (rendezvous), closable, with select over
// several of them and CLOCK_MONOTONIC deadlines. The public API
// (greenhouse.h: gh_chan_*, gh_select, gh_queue_*) is a thin layer on this
// (docs/api.md; internals in docs/design.md, "Channels").
//
// Each channel has a SpinLock, a ring buffer of `capacity` elements
// (growing on demand when unbounded) and two wait queues of ChanCase nodes,
// one per parked sender and receiver. A node lives on the parked thread's
// stack. A blocked select enqueues one node per case, all sharing one
// SelectWait; whoever completes a case first claims the whole select with
// the CAS on its Waiter (kWaiting -> kWoken), moves the data while holding
// the channel's lock, and readies the thread after unlocking. A deadline
// claims it with kTimedOut instead (core/green.h). A node whose select was
// claimed elsewhere is skipped and dropped; its owner unlinks the rest of
// its nodes after it wakes, holding every involved channel's lock (taken in
// address order, so two selects never deadlock).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/arena.h"
#include "core/green.h"
#include "core/spinlock.h"
#include "core/tsa.h"

namespace gh {

class Channel;

// One case of a select: send *value into chan, or receive from chan into
// *value (nullptr: the message is dropped). status on return: 0, EPIPE
// (the channel is closed: a send failed; a receive found it drained, and
// *value was zero-filled) or ENOMEM (a send could not grow an unbounded
// buffer).
struct SelectCase {
  Channel* chan = nullptr;
  bool send = false;
  void* value = nullptr;
  int status = 0;
};

struct SelectWait;

// A parked case: on the parked thread's stack, linked in its channel's
// send or receive queue (that channel's lock guards next/prev/linked).
struct ChanCase {
  ChanCase* next = nullptr;
  ChanCase* prev = nullptr;
  bool linked = false;
  SelectWait* sel = nullptr;      // [const]
  SelectCase* user = nullptr;     // [const] the case it stands for
  int index = 0;                  // [const] its position in the select
  ChanCase* wake_next = nullptr;  // [the claimer] a close()'s list to ready
};

// A doubly linked FIFO of ChanCase nodes.
struct ChanQueue {
  ChanCase* head = nullptr;
  ChanCase* tail = nullptr;
  void push(ChanCase* c);
  void unlink(ChanCase* c);
  ChanCase* pop() {
    ChanCase* c = head;
    if (c) unlink(c);
    return c;
  }
};

class Channel : public ArenaObject {
 public:
  // Unbounded: a buffer that grows as needed (send never waits).
  static constexpr size_t kUnbounded = SIZE_MAX;
  static constexpr size_t kMaxElemSize = 1 << 16;

  // Returns a channel of elements of elem_size bytes (1..kMaxElemSize) and
  // room for `capacity` of them (0: unbuffered; kUnbounded), or nullptr
  // (out of memory, or a size out of range).
  static Channel* create(size_t elem_size, size_t capacity);
  // Frees it. No thread may be using it (pending senders and receivers
  // would be left parked: close it first and let them leave).
  void destroy();

  // Sends a copy of elem_size bytes at value. Returns 0, EPIPE (closed),
  // ETIMEDOUT (deadline passed; CLOCK_MONOTONIC ns, < 0 none, 0 or past:
  // do not wait) or ENOMEM (an unbounded buffer could not grow).
  int send(const void* value, int64_t deadline_ns);
  // Receives into value (nullptr: drop). Returns 0, EPIPE (closed and
  // drained; value zero-filled) or ETIMEDOUT.
  int recv(void* value, int64_t deadline_ns);
  // Closes it: waiting receivers get EPIPE once the buffer is drained,
  // waiting and later senders EPIPE at once. Returns 0, or EPIPE if it was
  // already closed.
  int close();

  // Elements buffered now (a snapshot).
  size_t size();
  size_t capacity() const { return cap_; }
  size_t elem_size() const { return elem_; }
  bool closed();

  // Waits until one of n cases can proceed, completes it and returns its
  // index; the others are left untouched. Cases that are ready at the same
  // time are chosen uniformly at random. Returns -ETIMEDOUT when the
  // deadline passes first (0 or past: only cases ready now), -EINVAL for n
  // == 0 or n > kMaxSelect or a case without a channel. A case on a closed
  // channel is ready: it is chosen with status EPIPE.
  static constexpr size_t kMaxSelect = 64;
  static int select(SelectCase* cases, size_t n, int64_t deadline_ns);

 private:
  Channel() = default;
  friend struct ChannelSelect;
  // With lock_ held: completes c now if it can (returns true, c.status set;
  // a node it claimed goes on *wake, to be readied after unlocking), else
  // false.
  bool try_case(SelectCase& c, ChanCase** wake) GH_REQUIRES(lock_);
  // Claims the oldest node of q whose select is still waiting; drops the
  // others. nullptr if none.
  static ChanCase* claim(ChanQueue& q);
  bool grow() GH_REQUIRES(lock_);
  unsigned char* slot(size_t i) GH_REQUIRES(lock_) { return buf_ + ((head_ + i) % room_) * elem_; }

  SpinLock lock_;
  size_t elem_ = 0;  // [const]
  size_t cap_ = 0;   // [const] kUnbounded: grows
  unsigned char* buf_ GH_GUARDED_BY(lock_) = nullptr;
  size_t room_ GH_GUARDED_BY(lock_) = 0;  // elements buf_ holds
  size_t head_ GH_GUARDED_BY(lock_) = 0;
  size_t count_ GH_GUARDED_BY(lock_) = 0;
  bool closed_ GH_GUARDED_BY(lock_) = false;
  ChanQueue recvq_ GH_GUARDED_BY(lock_);
  ChanQueue sendq_ GH_GUARDED_BY(lock_);
};

}  // namespace gh
