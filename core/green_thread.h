// SPDX-License-Identifier: MIT
// A green thread: a stackful coroutine. It runs on one carrier at a time;
// between runs it may move to another carrier of its pool (unless pinned).
// Field comments say who may touch each field:
//   [running]  the carrier running the thread (at most one at a time: the
//              hand-over from one carrier to the next is ordered by on_cpu)
//   [lock]     under `lock`, from any thread
//   [const]    set at creation, read-only afterwards
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/arena.h"
#include "core/spinlock.h"
#include "core/stack.h"

namespace gh {

class Carrier;
class Pool;
struct Waiter;

enum class GreenState : uint8_t {
  kRunnable,  // in a run queue, or about to be
  kRunning,   // some carrier's current thread
  kParked,    // waiting for ready()
  kExited,    // finished; waiting to be joined (unless detached)
};

// What a parked green thread waits on, for diagnostics and debugging.
struct WaitInfo {
  const char* what = nullptr;  // "read", "mutex", "sleep", ...
  int fd = -1;
  const void* object = nullptr;
  int64_t since_ns = 0;  // coarse_ns() when the wait began (0: unknown)
};

using GreenEntry = void* (*)(void* arg);

// Set by a green thread for the length of a wait that a signal handler may
// interrupt (sleep, poll, a ring operation, ...). The carrier calls fire()
// on its own thread, after the handler ran, to end the wait early.
// Only a handler that ran after the wait began ends it: one that ran before
// (the thread was running, natively not yet in the call) leaves it alone.
struct InterruptHook {
  void (*fire)(InterruptHook* self) = nullptr;
  bool restartable = false;  // SA_RESTART handlers leave this wait alone
  bool by_signal = true;     // false: only a cancellation ends it (a cond or join wait)
  // Set by Carrier::set_interrupt from GreenThread::cancel_point: a
  // pthread_cancel of the thread ends this wait (Carrier::cancel_wait).
  bool by_cancel = false;
  // GreenThread::handlers_ran when the wait began: set_interrupt() reads it
  // unless the caller gives an earlier count (since_given; sigsuspend's,
  // taken before its mask change may run a pending signal's handler).
  uint32_t since = 0;
  bool since_given = false;
};

struct GreenThread : ArenaObject {
  // First, in two cache lines, the fields that readying, picking and
  // switching to a thread read and write: a switch-in touches these two
  // lines of the thread's record and nothing else of it
  // (docs/design.md, "Picking and stealing").
  void* sp = nullptr;                      // [running] saved context when not running
  std::atomic<Carrier*> carrier{nullptr};  // the carrier running it, or that ran it last
  Pool* pool = nullptr;                    // [const] the carriers it may run on
  Carrier* home = nullptr;                 // [const] a root's or scheduler context's own carrier
  void* tp = nullptr;    // [const] thread pointer; nullptr: the carrier's (core/thread_pointer.h)
  uint64_t tls_gen = 0;  // [running] TLS generation its block is up to date with
  uint64_t sigmask = 0;  // [running] blocked signals (kernel sigset, 64 bits)
  // CPU time (core/cpu_time.h). cpu_ticks: ticks it ran before its
  // current run [written by the carrier switching it out, read by any];
  // cpu_since: the tick its current run began at, 0 while it does not run
  // [written by its carrier, read by any].
  std::atomic<uint64_t> cpu_ticks{0};
  std::atomic<uint64_t> cpu_since{0};
  GreenThread* next = nullptr;  // link in a FIFO (remote or global queue; its lock)
  std::atomic<GreenState> state{GreenState::kRunnable};
  // True while some carrier executes on its stack: from the switch to it
  // until the next switch away is complete. A carrier about to resume it
  // waits for false (it may have been readied before its park finished).
  std::atomic<bool> on_cpu{false};
  // Signal frames (docs/design.md, "Handlers on the thread's own stack").
  // held: 1 while a frame context runs on this thread's stack below its
  // saved frame, so the thread itself must not run; 2: and it was picked to
  // run meanwhile (the frame's end queues it again). frame_top: that frame.
  // Both [on_cpu]: changed only by whoever holds on_cpu.
  uint8_t held = 0;
  // [any] Set when a signal handler ended the thread's wait: queued on its
  // carrier, it goes first, as a thread goes on at once when its handler
  // returns. Cleared when it runs. Beside `state`, which a switch writes.
  std::atomic<bool> run_next{false};
  // Runs on `home` only (a carrier's scheduler contexts; a root that must be
  // on its own OS thread, e.g. to exit it). Read by wakers on any thread.
  std::atomic<bool> pinned{false};
  bool internal = false;     // [const] a scheduler context, not a program thread
  bool errno_saved = false;  // [running] saved_errno holds a value to restore
  uint32_t ready_seq = 0;    // [home] pinned and queued: run-queue position it follows
  Stack stack;               // [const] empty for a carrier's root thread

  uint64_t id = 0;  // [const] process-unique, never reused
  GreenThread* frame_top = nullptr;
  // [const] For a frame context: the thread (or frame) on whose stack it
  // runs and as which it runs (same thread pointer, same `user`).
  GreenThread* frame_of = nullptr;
  int saved_errno = 0;         // [running] errno while switched out, when its TLS is shared
  Stack os_stack;              // [const] a root's: its OS thread's stack (sanitizer use)
  bool pooled_stack = true;    // [const] stack came from a carrier's pool
  GreenEntry entry = nullptr;  // [const]
  void* arg = nullptr;         // [const]
  char name[16] = {};          // [running] NUL-terminated, like pthread names
  WaitInfo wait;               // [running]
  void* user = nullptr;        // [any] owned by the embedder (the shim)

  SpinLock lock;  // guards the fields below
  bool detached GH_GUARDED_BY(lock) = false;
  bool exited GH_GUARDED_BY(lock) = false;
  void* result GH_GUARDED_BY(lock) = nullptr;    // valid once exited
  Waiter* joiner GH_GUARDED_BY(lock) = nullptr;  // the one thread waiting in join

  // While in an interruptible wait: the hook, and the carrier on whose list
  // of interruptible threads it is (that carrier's intr_lock_ guards these).
  InterruptHook* interrupt = nullptr;
  std::atomic<Carrier*> intr_owner{nullptr};
  // [any] Bumped by Carrier::signal_arrived after each handler that ran as
  // this thread; compared with InterruptHook::since.
  std::atomic<uint32_t> handlers_ran{0};
  GreenThread* intr_prev = nullptr;
  GreenThread* intr_next = nullptr;
  bool io_restartable = true;  // [running] ring waits survive SA_RESTART handlers
  // [running] The deadline of the ring waits is the caller's slice (it looks
  // at something else in between), not a timeout: they stay restartable.
  bool io_slice = false;
  bool io_interruptible = true;  // [running] signal handlers may end ring waits at all
  // Deferred cancellation (pthread_cancel; docs/design.md, "Cancellation").
  // cancel_requested: set once, by any thread; read by the thread at its
  // cancellation points. The rest is the thread's own state.
  std::atomic<bool> cancel_requested{false};
  std::atomic<bool> cancel_disabled{
      false};  // [running; read by a canceller] PTHREAD_CANCEL_DISABLE
  // [running; read by a canceller] PTHREAD_CANCEL_ASYNCHRONOUS
  std::atomic<bool> cancel_async{false};
  bool exiting = false;  // [running] in pthread_exit or acting on a cancel
  // [running] Inside a cancellation point with cancellation enabled: its
  // interruptible waits, and cond and join waits, end on a cancel.
  bool cancel_point = false;
  // [running] In a lock or barrier wait that an asynchronous cancellation
  // may end (futex waits then behave as futex_wait_cancellable).
  bool async_wait = false;
  // [running, read by any thread] The futex word it is parked on in a
  // futex_wait_cancellable (a condition variable's), for futex_cancel.
  std::atomic<const void*> cancel_futex{nullptr};
  // [running] The earliest deadline (CLOCK_MONOTONIC ns, < 0 none) of the
  // thread's open gh_timeout scopes (greenhouse.h): its waits that honour
  // one end with ETIMEDOUT then (docs/api.md, "Timeout").
  int64_t deadline = -1;
  // More CPU time: cpu_base_ns: a root's OS thread CPU time before it
  // became green [const]; cpu_reported: the largest value
  // cpu_time::thread_ns returned for it [any].
  int64_t cpu_base_ns = 0;
  std::atomic<int64_t> cpu_reported{0};
  void* asan_fake_stack = nullptr;  // [running] sanitizer bookkeeping
  void* tsan_fiber = nullptr;       // [const] TSan's fiber for it (TSan builds)
  bool is_root() const { return stack.lo == nullptr; }
  // The program thread this context is: itself, or for a frame context the
  // thread it runs as.
  GreenThread* thread() {
    GreenThread* g = this;
    while (g->frame_of) g = g->frame_of;
    return g;
  }
  Carrier* current_carrier() const { return carrier.load(std::memory_order_relaxed); }
};

// The hot fields above fit the record's first two cache lines; the arena
// aligns a block to its power-of-two size class.
static_assert(offsetof(GreenThread, stack) + sizeof(Stack) <= 128, "GreenThread's hot fields");

}  // namespace gh
