// SPDX-License-Identifier: MIT
// Green-thread operations for code running on a carrier: spawn, join, detach,
// yield, sleep, and the Waiter protocol every blocking primitive builds on.
//
// Error convention (as liburing): functions return 0 or a positive result on
// success and -errno on failure, except where pthread-style codes are noted.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/green_thread.h"

namespace gh {

// ---- Waiter: one park, one wake-up, races between wakers settled by CAS ----
//
// A parked green thread may be woken by several parties at once (a futex wake
// from another carrier and its own timeout, say). Each party calls wake() or
// the timer's fire; only the first transition out of kWaiting calls ready().
struct Waiter {
  enum : int { kWaiting = 0, kWoken = 1, kTimedOut = 2, kInterrupted = 3 };
  GreenThread* g = nullptr;
  std::atomic<int> state{kWaiting};
};

// Any thread. Returns true if this call woke the waiter (and readied it).
bool wake(Waiter* w);

// Parks the running green thread until wake(&w) or the CLOCK_MONOTONIC
// deadline (ns, < 0 none). w.g must be the running thread. Returns
// Waiter::kWoken or Waiter::kTimedOut.
int park_waiter(Waiter& w, int64_t deadline_ns, const char* what = nullptr,
                const void* object = nullptr);

// Like park_waiter, but a signal handler running on the carrier meanwhile
// (Carrier::signal_arrived) ends the wait with Waiter::kInterrupted, unless
// the handler has SA_RESTART and the wait is `restartable`. Only a handler
// that ran after the wait began counts; with handlers_since, after the
// thread's GreenThread::handlers_ran was that value (one since then ends
// the wait at once).
int park_waiter_interruptible(Waiter& w, int64_t deadline_ns, bool restartable,
                              const char* what = nullptr, const uint32_t* handlers_since = nullptr);

// Like park_waiter, but inside a cancellation point (GreenThread::
// cancel_point) a pthread_cancel of the thread (Carrier::cancel_wait) ends
// the wait with Waiter::kInterrupted; signal handlers never do.
int park_waiter_cancellable(Waiter& w, int64_t deadline_ns, const char* what = nullptr,
                            const void* object = nullptr);

// ---- Green threads ----

struct SpawnOptions {
  size_t stack_size = 0;       // 0: default_stack_size()
  void* stack_addr = nullptr;  // caller-provided stack [stack_addr, +stack_size)
  bool detached = false;
  const char* name = nullptr;
  void* user = nullptr;    // GreenThread::user, set before the thread can run
  bool suspended = false;  // not runnable until start(): the caller finishes setting it up
};

// Default stack size for spawn (kDefaultStackSize, core/stack.h, unless
// set). Process-wide.
size_t default_stack_size();
void set_default_stack_size(size_t bytes);

// Spawns on the calling OS thread's carrier (created if needed).
// Returns 0 and *out, or -errno (-EAGAIN: no stack or no carrier).
int spawn(GreenEntry entry, void* arg, const SpawnOptions& opts, GreenThread** out);
// Makes a thread spawned `suspended` runnable. Once the thread may run (on
// any carrier of the pool), the spawner no longer owns its fields.
void start(GreenThread* g);

// The running green thread; makes the OS thread a carrier if it is not one.
// nullptr only if no carrier can be created.
inline GreenThread* self() {
  Carrier* c = Carrier::get();
  return c ? c->running() : nullptr;
}

// Waits for g to exit, stores its result and frees it. pthread codes:
// 0, EDEADLK (g is the caller), EINVAL (detached or already being joined),
// ETIMEDOUT (CLOCK_MONOTONIC deadline passed), EBUSY (try_join, still running),
// EINTR (join only: the caller's cancellation ended the wait; g is still
// joinable).
int join(GreenThread* g, void** result, int64_t deadline_ns = kNoDeadline);
int try_join(GreenThread* g, void** result);
// Marks g detached (freed at exit). pthread codes: 0 or EINVAL.
int detach(GreenThread* g);

// Moves the caller to the back of its carrier's ready queue.
void yield();

// Sleeps until the CLOCK_MONOTONIC deadline; never returns early.
void sleep_until(int64_t deadline_ns);
// The same, but a signal handler ends it early: returns -EINTR, else 0.
// handlers_since: as for park_waiter_interruptible.
int sleep_until_interruptible(int64_t deadline_ns, const uint32_t* handlers_since = nullptr);
inline void sleep_for(int64_t ns) { sleep_until(deadline_after(ns)); }

}  // namespace gh
