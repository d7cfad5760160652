// SPDX-License-Identifier: MIT
// The green futex: a process-wide parking lot that every green
// synchronisation primitive (mutex, cond, rwlock, semaphore, barrier, once)
// parks on.
//
// A fixed table of hashed buckets, each a gh::SpinLock and an intrusive FIFO
// of waiter nodes. A node lives on the stack of the parked green thread and
// holds the address waited on and a gh::Waiter. futex_wait() checks the word
// and enqueues under the bucket lock, so a waker that changes the word and
// then calls futex_wake() can never slip in between (no lost wake-ups).
// Wakers and timeouts race through the Waiter CAS (core/green.h): a node
// whose CAS went to the timeout is skipped, and the wake-up goes to the next
// waiter instead of being lost.
//
// Addresses are only compared, never dereferenced, by futex_wake(): waking
// an address whose memory was just freed is harmless (primitives rely on this
// to make destroy-after-wake safe).
//
// Also here: AtomicCell, the trivial atomic the primitives store in glibc's
// zero-initialised pthread storage, and ClockDeadline, the (clock, absolute
// timespec) deadlines of the pthread *timed/*clock calls.
#pragma once

#include <time.h>

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/clock.h"

namespace gh {

struct GreenThread;

// An integer accessed only atomically (std::atomic_ref). Unlike std::atomic
// it is trivially default-constructible, so objects holding it may live in
// zero-filled storage that no constructor ever ran on.
template <class T>
struct AtomicCell {
  static_assert(std::is_integral_v<T>);
  T raw;

  T load(std::memory_order o = std::memory_order_seq_cst) const { return ref().load(o); }
  void store(T v, std::memory_order o = std::memory_order_seq_cst) { ref().store(v, o); }
  T exchange(T v, std::memory_order o = std::memory_order_seq_cst) { return ref().exchange(v, o); }
  bool cas(T& expected, T desired, std::memory_order o = std::memory_order_seq_cst) {
    return ref().compare_exchange_strong(expected, desired, o);
  }
  T fetch_add(T v, std::memory_order o = std::memory_order_seq_cst) {
    return ref().fetch_add(v, o);
  }
  T fetch_sub(T v, std::memory_order o = std::memory_order_seq_cst) {
    return ref().fetch_sub(v, o);
  }
  T fetch_or(T v, std::memory_order o = std::memory_order_seq_cst) { return ref().fetch_or(v, o); }
  T fetch_and(T v, std::memory_order o = std::memory_order_seq_cst) {
    return ref().fetch_and(v, o);
  }

 private:
  std::atomic_ref<T> ref() const { return std::atomic_ref<T>(const_cast<T&>(raw)); }
};
static_assert(std::is_trivial_v<AtomicCell<uint32_t>> &&
              std::is_standard_layout_v<AtomicCell<uint32_t>>);
static_assert(sizeof(AtomicCell<uint64_t>) == 8 && alignof(AtomicCell<uint64_t>) == 8);

// ---- The parking lot ----

// Parks the calling green thread on addr (a 32-bit word) if *addr == expected,
// until futex_wake(addr) or the CLOCK_MONOTONIC deadline (ns, < 0: none).
// Returns 0 (woken), kFutexHandedOff (woken by futex_hand_off), -EAGAIN
// (*addr != expected) or -ETIMEDOUT. Never early.
// Without a carrier (none can be made) it sleeps briefly and returns 0.
// With `first` it parks ahead of every thread parked on addr (a waiter that
// was woken and lost the race keeps its turn).
int futex_wait(const void* addr, uint32_t expected, int64_t deadline_ns, const char* what = "futex",
               bool first = false);
// futex_wait() that a signal handler running for the thread meanwhile ends
// with -EINTR, as it ends the kernel's FUTEX_WAIT: unless the handler has
// SA_RESTART and the wait is `restartable` (the kernel restarts a FUTEX_WAIT
// without a timeout, never one with). A wake-up that races with the handler
// goes to another waiter, as the kernel's would to a thread that already
// left.
int futex_wait_interruptible(const void* addr, uint32_t expected, int64_t deadline_ns,
                             bool restartable, const char* what = "futex");
// futex_wait() that, inside a cancellation point (GreenThread::cancel_point),
// a pthread_cancel of the thread ends with -EINTR (futex_cancel); signal
// handlers do not. Costs the wait two stores and a load, no lock.
int futex_wait_cancellable(const void* addr, uint32_t expected, int64_t deadline_ns,
                           const char* what = "futex");
// Any thread, after setting g->cancel_requested: ends g's
// futex_wait_cancellable() if it is parked in one. Returns whether it did.
bool futex_cancel(GreenThread* g);
// Any thread, after setting g->cancel_requested: ends g's wait if a
// cancellation ends it (Carrier::cancel_wait, futex_cancel). Returns whether
// it did; if not, g sees the request at its next cancellation point.
bool cancel_wait(GreenThread* g);
inline int futex_wait(const std::atomic<uint32_t>* addr, uint32_t expected, int64_t deadline_ns,
                      const char* what = "futex") {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  return futex_wait(static_cast<const void*>(addr), expected, deadline_ns, what);
}

// Any thread. Wakes up to n (> 0; INT_MAX: all) green threads parked on addr,
// oldest first. Returns how many it woke. Never dereferences addr.
int futex_wake(const void* addr, int n);

// What futex_wait() returns to the waiter woken by futex_hand_off(): the
// waker handed it what it waited for (a mutex's ownership), not a chance to
// compete for it.
constexpr int kFutexHandedOff = 1;

// Any thread. Wakes the oldest green thread parked on addr with
// kFutexHandedOff. Returns 1, or 0 if none is parked there.
int futex_hand_off(const void* addr);

// Any thread. Moves parked waiters from `from` to `to`: wakes up to n_wake of
// them and requeues up to n_requeue of the rest onto `to` (they then wait for
// futex_wake(to)). Returns the number woken plus requeued.
int futex_requeue(const void* from, const void* to, int n_wake, int n_requeue);

// Any thread. Green threads parked on addr right now (diagnostics, tests).
int futex_parked(const void* addr);

// ---- Drain before destroy ----
//
// A count of threads inside an object's wait (cond, barrier), whose top bit
// destroy() sets: destroy then waits until every thread has left, as
// glibc's destroy waits for woken waiters, so the caller may free the
// object's memory as soon as destroy returns.
constexpr uint32_t kDraining = 0x80000000u;

// A thread leaves; the last one out wakes a waiting destroy. Touches no
// memory of the object after the decrement (it may be freed then).
inline void drain_leave(AtomicCell<uint32_t>* inside) {
  if (inside->fetch_sub(1, std::memory_order_acq_rel) == (kDraining | 1))
    futex_wake(inside, INT_MAX);
}

// destroy()'s side: marks the count and parks until it is empty, then
// leaves it zero.
void drain_wait(AtomicCell<uint32_t>* inside, const char* what);

// ---- Deadlines of the pthread *timedlock / *clockwait calls ----

// An absolute deadline on CLOCK_REALTIME or CLOCK_MONOTONIC. A REALTIME one
// is waited for on the monotonic clock and re-checked on its own clock before
// a timeout is reported, so it never expires early if the wall clock jumps.
class ClockDeadline {
 public:
  // No deadline.
  ClockDeadline() = default;
  // abs on clk (clk and abs must be valid; see valid_clock/valid_timespec).
  ClockDeadline(clockid_t clk, const timespec& abs);

  bool none() const { return none_; }
  // The CLOCK_MONOTONIC ns deadline to park until (< 0: none), recomputed
  // from the deadline's own clock at each call.
  int64_t mono() const;
  // True once the deadline has passed on its own clock.
  bool passed() const;

 private:
  bool none_ = true;
  clockid_t clk_ = CLOCK_MONOTONIC;
  int64_t abs_ns_ = 0;  // saturated; may be negative (a time before the epoch)
};

// futex_wait() with a ClockDeadline (nullptr: none). Returns 0 (woken, or a
// REALTIME deadline that moved: the caller re-checks and waits again),
// kFutexHandedOff, -EAGAIN or -ETIMEDOUT (only once dl->passed()); with
// `cancellable`, as futex_wait_cancellable, also -EINTR.
int futex_wait_until(const void* addr, uint32_t expected, const ClockDeadline* dl,
                     const char* what = "futex", bool first = false, bool cancellable = false);

}  // namespace gh
