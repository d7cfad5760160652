// SPDX-License-Identifier: MIT
#include "core/parking_lot.h"

#include <sched.h>

#include <cerrno>
#include <climits>

#include "core/green.h"
#include "core/spinlock.h"
#include "core/tsa.h"

namespace gh {

namespace {

// One parked green thread. Lives on its stack, in futex_wait().
struct ParkNode {
  std::atomic<const void*> addr{nullptr};  // written under the bucket lock(s) of
                                           // old and new address (requeue)
  ParkNode* prev = nullptr;                // [bucket lock]
  ParkNode* next = nullptr;                // [bucket lock]
  ParkNode* wake_next = nullptr;           // [waker] its private list of nodes to ready
  bool queued = false;                     // [bucket lock] linked in a bucket
  bool handed = false;                     // [waker, before ready] woken by futex_hand_off
  Waiter w;
};

// Guards head/tail and the links and `queued` of every node hashed here.
struct alignas(64) Bucket {
  SpinLock lock;
  ParkNode* head GH_GUARDED_BY(lock) = nullptr;  // FIFO: oldest first
  ParkNode* tail GH_GUARDED_BY(lock) = nullptr;
};

constexpr unsigned kBucketBits = 10;
constinit Bucket g_buckets[1u << kBucketBits];

Bucket& bucket_of(const void* addr) {
  uint64_t h = reinterpret_cast<uintptr_t>(addr) * 0x9E3779B97F4A7C15ull;
  return g_buckets[h >> (64 - kBucketBits)];
}

void link_tail(Bucket& b, ParkNode* n) GH_REQUIRES(b.lock) {
  n->next = nullptr;
  n->prev = b.tail;
  if (b.tail)
    b.tail->next = n;
  else
    b.head = n;
  b.tail = n;
  n->queued = true;
}

void link_head(Bucket& b, ParkNode* n) GH_REQUIRES(b.lock) {
  n->prev = nullptr;
  n->next = b.head;
  if (b.head)
    b.head->prev = n;
  else
    b.tail = n;
  b.head = n;
  n->queued = true;
}

void unlink(Bucket& b, ParkNode* n) GH_REQUIRES(b.lock) {
  if (n->prev)
    n->prev->next = n->next;
  else
    b.head = n->next;
  if (n->next)
    n->next->prev = n->prev;
  else
    b.tail = n->prev;
  n->prev = n->next = nullptr;
  n->queued = false;
}

// Under b.lock: unlinks n and claims its wake-up. Returns true if the claim
// won (the waiter stays parked until ready(), so n stays valid until then);
// false if its timeout won (the waiter is readied already and will find
// itself unlinked).
bool claim(Bucket& b, ParkNode* n) GH_REQUIRES(b.lock) {
  unlink(b, n);
  int expected = Waiter::kWaiting;
  return n->w.state.compare_exchange_strong(expected, Waiter::kWoken, std::memory_order_acq_rel);
}

// Outside any bucket lock: readies the claimed nodes. A node may vanish as
// soon as its thread is readied, so read it first.
void ready_all(ParkNode* list) {
  while (list) {
    ParkNode* next = list->wake_next;
    GreenThread* g = list->w.g;
    Carrier::ready(g);
    list = next;
  }
}

// Locks the bucket that n is queued in (its addr may move under requeue).
// Which lock is only known at run time: callers are exempt from the
// analysis (GH_NO_TSA) and pair the lock by hand.
Bucket& lock_bucket_of_node(ParkNode* n) GH_NO_TSA {
  for (;;) {
    const void* a = n->addr.load(std::memory_order_acquire);
    Bucket& b = bucket_of(a);
    b.lock.lock();
    if (n->addr.load(std::memory_order_relaxed) == a) return b;
    b.lock.unlock();
  }
}

uint32_t load_word(const void* addr) {
  return std::atomic_ref<uint32_t>(*const_cast<uint32_t*>(static_cast<const uint32_t*>(addr)))
      .load(std::memory_order_seq_cst);
}

}  // namespace

// GH_NO_TSA: the bucket left after a requeue is found at run time.
namespace {
// How a park may end early: never, by a cancellation only (cond waits), or
// by signal handlers (and cancellation), restarted under SA_RESTART or not.
enum class Ends : uint8_t { kNever, kCancel, kSignal, kSignalUnlessRestart };

int futex_park(const void* addr, uint32_t expected, int64_t deadline_ns, const char* what,
               bool first, Ends ends) GH_NO_TSA {
  GreenThread* me = self();
  if (!me) {
    // No carrier can be made: degrade to polling. Callers re-check.
    if (load_word(addr) != expected) return -EAGAIN;
    if (deadline_ns >= 0 && mono_ns() >= deadline_ns) return -ETIMEDOUT;
    sched_yield();
    return 0;
  }
  ParkNode node;
  node.addr.store(addr, std::memory_order_relaxed);
  node.w.g = me;
  // A cancellable wait publishes its address before it links its node, and
  // looks for a request after: either futex_cancel() finds the node or we
  // see the request (the store and the load here, the request's store and
  // the address's load there, are sequentially consistent).
  const bool cancellable =
      (ends == Ends::kCancel && me->cancel_point) || (ends == Ends::kNever && me->async_wait);
  if (cancellable) me->cancel_futex.store(addr, std::memory_order_seq_cst);
  Bucket& b = bucket_of(addr);
  b.lock.lock();
  if (load_word(addr) != expected) {
    b.lock.unlock();
    if (cancellable) me->cancel_futex.store(nullptr, std::memory_order_relaxed);
    return -EAGAIN;
  }
  if (first)
    link_head(b, &node);
  else
    link_tail(b, &node);
  b.lock.unlock();

  int r;
  int waiting = Waiter::kWaiting;
  if (ends == Ends::kNever || ends == Ends::kCancel) {
    if (cancellable && me->cancel_requested.load(std::memory_order_seq_cst) &&
        node.w.state.compare_exchange_strong(waiting, Waiter::kInterrupted,
                                             std::memory_order_acq_rel))
      r = Waiter::kInterrupted;  // requested already: no wait
    else
      r = park_waiter(node.w, deadline_ns, what, addr);
  } else {
    r = park_waiter_interruptible(node.w, deadline_ns, ends == Ends::kSignalUnlessRestart, what);
  }
  if (cancellable) me->cancel_futex.store(nullptr, std::memory_order_relaxed);
  if (r == Waiter::kWoken) return node.handed ? kFutexHandedOff : 0;  // the waker unlinked us
  // Timed out or interrupted: nobody can claim us any more, but a waker may
  // be walking the list. Unlink under the lock unless a waker already did.
  Bucket& nb = lock_bucket_of_node(&node);
  if (node.queued) unlink(nb, &node);
  nb.lock.unlock();
  return r == Waiter::kInterrupted ? -EINTR : -ETIMEDOUT;
}
}  // namespace

int futex_wait(const void* addr, uint32_t expected, int64_t deadline_ns, const char* what,
               bool first) {
  return futex_park(addr, expected, deadline_ns, what, first, Ends::kNever);
}

int futex_wait_interruptible(const void* addr, uint32_t expected, int64_t deadline_ns,
                             bool restartable, const char* what) {
  return futex_park(addr, expected, deadline_ns, what, false,
                    restartable ? Ends::kSignalUnlessRestart : Ends::kSignal);
}

int futex_wait_cancellable(const void* addr, uint32_t expected, int64_t deadline_ns,
                           const char* what) {
  return futex_park(addr, expected, deadline_ns, what, false, Ends::kCancel);
}

bool futex_cancel(GreenThread* g) {
  const void* addr = g->cancel_futex.load(std::memory_order_seq_cst);
  if (!addr) return false;
  Bucket& b = bucket_of(addr);
  bool ended = false;
  b.lock.lock();
  for (ParkNode* p = b.head; p; p = p->next) {
    if (p->w.g != g || p->addr.load(std::memory_order_relaxed) != addr) continue;
    // Left linked: the waiter unlinks itself, as after a timeout. Winning
    // the state keeps it parked (and p valid) until the ready() below.
    int waiting = Waiter::kWaiting;
    ended = p->w.state.compare_exchange_strong(waiting, Waiter::kInterrupted,
                                               std::memory_order_acq_rel);
    break;
  }
  b.lock.unlock();
  if (ended) Carrier::ready(g);
  return ended;
}

bool cancel_wait(GreenThread* g) { return Carrier::cancel_wait(g) || futex_cancel(g); }

int futex_wake(const void* addr, int n) {
  if (n <= 0) return 0;
  Bucket& b = bucket_of(addr);
  ParkNode* list = nullptr;
  ParkNode** tail = &list;
  int woken = 0;
  b.lock.lock();
  for (ParkNode* p = b.head; p && woken < n;) {
    ParkNode* next = p->next;
    if (p->addr.load(std::memory_order_relaxed) == addr && claim(b, p)) {
      p->wake_next = nullptr;
      *tail = p;
      tail = &p->wake_next;
      woken++;
    }
    p = next;
  }
  b.lock.unlock();
  ready_all(list);
  return woken;
}

int futex_hand_off(const void* addr) {
  Bucket& b = bucket_of(addr);
  ParkNode* got = nullptr;
  b.lock.lock();
  for (ParkNode *p = b.head, *next; p && !got; p = next) {
    next = p->next;  // claim() unlinks p, also when its timeout won
    if (p->addr.load(std::memory_order_relaxed) == addr && claim(b, p)) got = p;
  }
  if (got) {
    got->handed = true;
    got->wake_next = nullptr;
  }
  b.lock.unlock();
  ready_all(got);
  return got ? 1 : 0;
}

// GH_NO_TSA: one or two bucket locks, taken in address order.
int futex_requeue(const void* from, const void* to, int n_wake, int n_requeue) GH_NO_TSA {
  Bucket& bf = bucket_of(from);
  Bucket& bt = bucket_of(to);
  // Lock order: by bucket address.
  if (&bf == &bt) {
    bf.lock.lock();
  } else if (&bf < &bt) {
    bf.lock.lock();
    bt.lock.lock();
  } else {
    bt.lock.lock();
    bf.lock.lock();
  }
  ParkNode* list = nullptr;
  ParkNode** tail = &list;
  int woken = 0, moved = 0;
  for (ParkNode* p = bf.head; p && (woken < n_wake || moved < n_requeue);) {
    ParkNode* next = p->next;
    if (p->addr.load(std::memory_order_relaxed) == from) {
      if (woken < n_wake) {
        if (claim(bf, p)) {
          p->wake_next = nullptr;
          *tail = p;
          tail = &p->wake_next;
          woken++;
        }
      } else if (p->w.state.load(std::memory_order_acquire) == Waiter::kWaiting) {
        // Timed-out nodes are left for their owners to unlink.
        unlink(bf, p);
        p->addr.store(to, std::memory_order_release);
        link_tail(bt, p);
        moved++;
      }
    }
    p = next;
  }
  if (&bf != &bt) bt.lock.unlock();
  bf.lock.unlock();
  ready_all(list);
  return woken + moved;
}

int futex_parked(const void* addr) {
  Bucket& b = bucket_of(addr);
  int n = 0;
  SpinGuard guard(b.lock);
  for (ParkNode* p = b.head; p; p = p->next)
    if (p->addr.load(std::memory_order_relaxed) == addr) n++;
  return n;
}

// ---- ClockDeadline ----

ClockDeadline::ClockDeadline(clockid_t clk, const timespec& abs) : none_(false), clk_(clk) {
  if (abs.tv_sec > INT64_MAX / kNsPerSec - 1)
    abs_ns_ = INT64_MAX;
  else if (abs.tv_sec < INT64_MIN / kNsPerSec + 1)
    abs_ns_ = INT64_MIN;
  else
    abs_ns_ = int64_t{abs.tv_sec} * kNsPerSec + abs.tv_nsec;
}

int64_t ClockDeadline::mono() const {
  if (none_) return kNoDeadline;
  if (abs_ns_ <= 0) return 0;  // long past (or the epoch): expire now
  if (clk_ == CLOCK_MONOTONIC) return abs_ns_;
  int64_t now = clock_ns(clk_);
  int64_t rel = abs_ns_ - now;  // no overflow: now >= 0, abs_ns_ > 0
  if (rel <= 0) return 0;
  return deadline_after(rel);
}

bool ClockDeadline::passed() const {
  if (none_) return false;
  return clock_ns(clk_) >= abs_ns_;
}

int futex_wait_until(const void* addr, uint32_t expected, const ClockDeadline* dl, const char* what,
                     bool first, bool cancellable) {
  int64_t deadline = dl ? dl->mono() : kNoDeadline;
  int r = cancellable ? futex_wait_cancellable(addr, expected, deadline, what)
                      : futex_wait(addr, expected, deadline, what, first);
  if (r != -ETIMEDOUT) return r;
  if (!dl) return 0;  // not woken, and no deadline: a spurious return
  if (dl->passed()) return -ETIMEDOUT;
  return 0;  // the wall clock went back: not yet expired on its own clock
}

void drain_wait(AtomicCell<uint32_t>* inside, const char* what) {
  uint32_t in = inside->fetch_or(kDraining, std::memory_order_acq_rel) | kDraining;
  while (in != kDraining) {
    futex_wait(inside, in, kNoDeadline, what);
    in = inside->load(std::memory_order_acquire);
  }
  inside->store(0, std::memory_order_relaxed);
}

}  // namespace gh
