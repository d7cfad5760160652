// SPDX-License-Identifier: MIT
// A carrier: the scheduler of one OS thread. It runs that thread's green
// threads one at a time, FIFO, and blocks only in its backend's wait() when
// none is runnable. Created lazily for the OS thread that first needs one
// (Carrier::get()); the code the OS thread was running becomes its root green
// thread. Destroyed at OS-thread exit after its other green threads finish.
//
// Everything here runs on the carrier's own OS thread except where a comment
// says "any thread".
#pragma once

#include <atomic>
#include <cstdint>

#include "core/arena.h"
#include "core/backend.h"
#include "core/compiler.h"
#include "core/fifo.h"
#include "core/green_thread.h"
#include "core/spinlock.h"
#include "core/stack.h"
#include "core/timer.h"

namespace gh {

struct CarrierStats {
  uint64_t switches = 0;  // context switches performed
  uint64_t waits = 0;     // times the carrier blocked in Backend::wait
  uint64_t polls = 0;     // non-blocking backend polls
  uint64_t remote_wakeups = 0;
};

class Carrier : public ArenaObject {
 public:
  // The calling OS thread's carrier, created on first use. Returns nullptr
  // (errno set) if the backend cannot be created.
  static Carrier* get();
  // The calling OS thread's carrier if it has one, else nullptr. Never creates.
  static Carrier* current() { return tls_current_; }

  // How a new carrier arranges for thread_exiting() to run when its OS
  // thread exits. Process-wide; set once at start-up (the default uses a
  // thread_local destructor, which allocates with malloc). The registrar
  // must not allocate with malloc if carriers can be made inside it.
  static void set_exit_registrar(void (*registrar)());
  // At OS-thread exit: runs the carrier's other green threads to their end,
  // then destroys it. Not for the main thread (exit() ends the process).
  static void thread_exiting();

  GreenThread* running() const { return running_; }
  // The root green thread: the code the OS thread ran when it became a
  // carrier.
  GreenThread* root() { return &root_; }
  // The kernel's id of the carrier's OS thread.
  pid_t os_tid() const { return os_tid_; }
  Backend* backend() const { return backend_; }
  TimerHeap& timers() { return timers_; }
  StackPool& stacks() { return stacks_; }
  const CarrierStats& stats() const { return stats_; }
  // Green threads alive on this carrier (not exited), root included.
  uint32_t live() const { return live_; }
  // Bumped each time a blocking wait was interrupted by a signal handler.
  uint64_t interrupts() const { return interrupts_; }

  // Async-signal-safe; called from a signal handler that ran on this OS
  // thread. At its next scheduling point the carrier interrupts the wait of
  // `target` (nullptr: the root green thread, where the kernel sends a
  // process-directed signal natively) if that wait is interruptible and not
  // restarted by SA_RESTART (sa_restart), as a native blocked call would be.
  void signal_arrived(bool sa_restart);
  // The running green thread's signal mask changed to `mask`, which is
  // already the OS thread's mask. Each green thread keeps its own: a switch
  // to a thread with another mask sets it (one system call, only then).
  void set_running_sigmask(uint64_t mask) {
    count_mask(running_->sigmask, -1);
    count_mask(mask, +1);
    running_->sigmask = mask;
    applied_sigmask_ = mask;
  }
  // The signals that every green thread of this carrier blocks: the mask the
  // carrier waits with, so that a signal some green thread would take
  // interrupts the wait as it would interrupt that thread natively.
  uint64_t wait_sigmask();
  // Async-signal-safe, on this carrier's OS thread, in a handler for a
  // process-directed signal `sig`: the green thread that takes it as the
  // kernel would pick a thread that does not block it — the root if it does
  // not, else the running thread if it does not (the signal may have come
  // while the carrier waited with wait_sigmask()), else one in an
  // interruptible wait that does not — or nullptr.
  GreenThread* process_signal_target(int sig);

  // Starts (h) or ends (nullptr) an interruptible wait of the running green
  // thread g: a signal handler may end it through h->fire.
  void set_interrupt(GreenThread* g, InterruptHook* h);
  // The green thread a pending pthread_kill targets, if any (not consumed).
  GreenThread* signal_target() const { return signal_target_.load(std::memory_order_acquire); }
  // Any thread, before sending a signal meant for green thread g.
  void set_signal_target(GreenThread* g) { signal_target_.store(g, std::memory_order_release); }

  // Creates a green thread that will run entry(arg) on this carrier and
  // queues it. Returns 0 or -errno (-EAGAIN when no stack can be had).
  // With user_stack, runs on that memory (no guard page; never pooled).
  int spawn(GreenEntry entry, void* arg, size_t stack_size, GreenThread** out,
            const Stack* user_stack = nullptr);

  // Makes g runnable. Any thread; g must be parked, or about to park, and
  // exactly one ready() must answer each park().
  static void ready(GreenThread* g);

  // Parks the running green thread until someone calls ready() on it.
  void park();
  // Moves the running green thread to the back of the ready queue.
  void yield();

  // Runs the scheduler until the root is the only green thread alive. Called
  // by the root; used at OS-thread exit.
  void drain();

  // Sets a hook run on a green thread's own stack just before it exits
  // (pthread key destructors). Process-wide; set once at start-up.
  static void set_exit_hook(void (*hook)(GreenThread*));
  // Ends the running green thread with `result`. Must not be the root.
  [[noreturn]] void exit_current(void* result);

  // In a fork child: forgets the parent's carrier of this thread (its ring is
  // not mapped in the child and its other green threads do not exist). The
  // next get() makes a fresh carrier whose root is the running context.
  static void forget_after_fork();
  // The process is exiting (exit() was called): carriers are not drained or
  // destroyed at thread exit, as native threads simply vanish.
  static void set_process_exiting();

  ~Carrier();

 private:
  Carrier();
  void push_ready(GreenThread* g);
  void push_remote(GreenThread* g);
  bool drain_remote();
  GreenThread* pick_next();
  void switch_to(GreenThread* next);
  void schedule();
  void after_switch();
  static void entry_trampoline(void* g);

  static thread_local Carrier* tls_current_ GH_TLS;

  GreenThread root_;
  Stack root_bounds_;               // the OS thread's stack (sanitizer use)
  GreenThread* running_ = nullptr;  // [carrier]
  using ThreadFifo = IntrusiveFifo<GreenThread, &GreenThread::next>;
  ThreadFifo ready_;         // [carrier]
  uint32_t live_ = 1;        // [carrier]
  uint64_t interrupts_ = 0;  // [carrier]
  CarrierStats stats_;       // [carrier]
  uint32_t since_poll_ = 0;  // [carrier] switches since backend poll

  void deliver_interrupt();
  // Adds (+1) or removes (-1) a green thread's mask to blocked_counts_.
  void count_mask(uint64_t mask, int delta);
  uint32_t blocked_counts_[64] = {};      // [carrier] live green threads blocking each signal
  GreenThread* interruptible_ = nullptr;  // [carrier] threads with `interrupt` set
  std::atomic<int> pending_signal_{0};    // any thread: 1 plain, 2 SA_RESTART
  std::atomic<GreenThread*> signal_target_{nullptr};
  pid_t os_tid_ = 0;              // [const]
  void* applied_tp_ = nullptr;    // [carrier] the OS thread's thread pointer now
  uint64_t applied_sigmask_ = 0;  // [carrier] the OS thread's mask

  SpinLock remote_lock_;  // guards remote_*
  ThreadFifo remote_ GH_GUARDED_BY(remote_lock_);
  std::atomic<bool> remote_pending_{false};  // any thread: remote queue non-empty
  std::atomic<bool> idle_{false};            // carrier is (about to be) in wait()
  std::atomic<uint32_t> remote_wakers_{0};   // any thread: pushers still inside backend_->wake()

  // Left behind by a green thread that exited; cleaned up by the next one.
  Stack dead_stack_;                    // [carrier]
  GreenThread* dead_thread_ = nullptr;  // [carrier] freed if detached
  void* dead_sp_ = nullptr;             // [carrier] sink for an exiting sp
  void* dead_tp_ = nullptr;             // [carrier] thread pointer of the exited thread
  bool leaving_dead_ = false;           // [carrier] current switch leaves a dead thread
  Waiter* drain_waiter_ = nullptr;      // [carrier] root waiting in drain()

  TimerHeap timers_;
  StackPool stacks_;
  Backend* backend_ = nullptr;
};

}  // namespace gh
