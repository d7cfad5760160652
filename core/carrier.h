// SPDX-License-Identifier: MIT
// A carrier: the scheduler of one OS thread. It runs green threads one at a
// time from its run queue, FIFO, and blocks only in its backend's wait()
// when none is runnable and none can be stolen from the other carriers of
// its pool (core/pool.h). Created for the OS thread that first needs one
// (Carrier::get(), a pool of its own; or attach_to(pool)); the code the OS
// thread was running becomes its root green thread.
//
// Everything here runs on the carrier's own OS thread except where a comment
// says "any thread". What other threads may touch is guarded by one of three
// locks: remote_lock_ (the remote queue and calls), service_lock_ (the ring
// and the timers: held by whoever serves them, the owner or, while the owner
// is stuck in a green thread, an idle carrier), intr_lock_ (the list of
// threads in interruptible waits).
#pragma once

#include <atomic>
#include <cstdint>

#include "core/arena.h"
#include "core/backend.h"
#include "core/clock.h"
#include "core/compiler.h"
#include "core/fifo.h"
#include "core/green_thread.h"
#include "core/pool.h"
#include "core/ptr_fifo.h"
#include "core/run_queue.h"
#include "core/spinlock.h"
#include "core/stack.h"
#include "core/timer.h"

namespace gh {

struct CarrierStats {
  uint64_t switches = 0;  // context switches performed
  uint64_t waits = 0;     // times the carrier blocked in Backend::wait
  uint64_t polls = 0;     // non-blocking backend polls
  uint64_t remote_wakeups = 0;
  uint64_t steals = 0;  // green threads taken from other carriers' queues
  uint64_t served = 0;  // passes serving a stuck carrier's timers and ring
};

class Carrier : public ArenaObject {
  using ThreadFifo = IntrusiveFifo<GreenThread, &GreenThread::next>;

 public:
  // The calling OS thread's carrier, created on first use (in a pool of its
  // own). Returns nullptr (errno set) if the backend cannot be created.
  static Carrier* get();
  // Makes the calling OS thread a carrier of `pool`. Returns nullptr (errno
  // set) if it already is a carrier, the pool is full or the backend cannot
  // be created. `internal_root`: the OS thread's own code is a scheduler
  // loop (serve()), not a program thread.
  static Carrier* attach_to(Pool* pool, bool internal_root);
  // Runs the pool's green threads until the pool stops (or, for a spare,
  // until it retires). For carriers made with internal_root.
  void serve();
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
  // For signal handlers on the carrier's own OS thread: a switch is under
  // way (running() is the thread being switched to, whose stack is not yet
  // the one in use, nor perhaps its thread pointer).
  bool switching() const { return switching_; }
  // For signal handlers: the running thread, or nullptr while it is an
  // exited one (its joiner may have freed it already).
  GreenThread* signal_safe_running() const { return leaving_dead_ ? nullptr : running_; }
  Pool* pool() const { return pool_; }
  // The root green thread: the code the OS thread ran when it became a
  // carrier.
  GreenThread* root() { return &root_; }
  // The kernel's id of the carrier's OS thread, and that thread's own
  // thread pointer (its C library thread descriptor).
  pid_t os_tid() const { return os_tid_; }
  void* os_tp() const { return os_tp_; }
  Backend* backend() const { return backend_; }
  // Arms t on this carrier (the running thread's), to fire here or on a
  // carrier serving this one. Owner only.
  void arm_timer(Timer* t);
  // Any thread: disarms t, wherever it was armed, and waits until a fire
  // that is under way has returned. Returns true if it was armed.
  static bool cancel_timer(Timer* t);
  // Timers armed on this carrier (tests).
  size_t timers_armed();
  // Any thread: runs fn with the carrier's ring and timers to itself (the
  // service lock), then wakes the carrier if it sleeps so that it submits
  // what fn queued.
  template <class Fn>
  void with_service(Fn&& fn) {
    service_lock_.lock();
    fn();
    service_lock_.unlock();
    kick_unless_current();
  }
  // kick() unless this is the calling thread's carrier.
  void kick_unless_current();
  void lock_service() GH_ACQUIRE(service_lock_) { service_lock_.lock(); }
  void unlock_service() GH_RELEASE(service_lock_) { service_lock_.unlock(); }
  StackPool& stacks() { return stacks_; }
  const CarrierStats& stats() const { return stats_; }
  // Whether the carrier made an idle context (it holds one pooled stack).
  bool has_idle_context() const { return idle_ctx_ && idle_ctx_ != &root_; }
  // Program threads alive in this carrier's pool, roots included.
  uint32_t live() const { return pool_->live(); }
  // Bumped each time a blocking wait was interrupted by a signal handler.
  uint64_t interrupts() const { return interrupts_; }

  // Async-signal-safe; called from a signal handler that ran on this OS
  // thread as green thread `target` (nullptr: the root green thread, where
  // the kernel sends a process-directed signal natively). At its next
  // scheduling point (or, while it is stuck, a carrier serving it) the
  // carrier interrupts that thread's wait if the wait is interruptible,
  // began before the handler ran (a later one is left alone, as a native
  // call made after a handler returned is), and is not restarted by
  // SA_RESTART (sa_restart), as a native blocked call would be.
  void signal_arrived(GreenThread* target, bool sa_restart);
  // The same for signal_target(), which it clears: the signal aimed at that
  // thread has reached it (what tests call from a plain handler).
  void signal_arrived(bool sa_restart) {
    signal_arrived(signal_target_.exchange(nullptr, std::memory_order_acq_rel), sa_restart);
  }
  // Signal frames (docs/design.md, "Handlers on the thread's own stack").
  // Async-signal-safe. For a green context `g` that is not running and that
  // the caller holds (its on_cpu claimed, no frame_top): builds a frame
  // context on g's own stack below its saved frame, that runs as g (its
  // thread pointer, `user`, pool) with signal mask `mask`, and holds g
  // (it does not run) until the frame's entry returns. `extra` bytes beside
  // it are the caller's (*extra_out, 64-byte aligned). The caller sets
  // entry/arg and then queues it with post_frame(). Returns nullptr when
  // g's stack has no room for it (or g has no known stack). With alt_top,
  // the frame goes on [alt_lo, alt_top) instead: the thread's alternate
  // signal stack, where the handler asked for it.
  static GreenThread* make_frame(GreenThread* g, uint64_t mask, size_t extra, void** extra_out,
                                 uintptr_t alt_lo = 0, uintptr_t alt_top = 0);
  // Async-signal-safe, on this carrier's OS thread (a handler that
  // interrupted it): whether g is the context this carrier's switch has
  // just left, saved (`sp`, the interrupted stack pointer, is off g's
  // stack) but not yet let go (its on_cpu is still set). Such a g may be
  // treated as held by the handler, which must not clear its on_cpu.
  bool just_left(const GreenThread* g, uintptr_t sp) const {
    if (switched_from_ != g) return false;
    const Stack& s = g->is_root() ? g->os_stack : g->stack;
    auto lo = reinterpret_cast<uintptr_t>(s.lo);
    return lo && (sp < lo || sp >= lo + s.size);
  }
  // Async-signal-safe, on this carrier's OS thread: queues frame context f
  // to run here (taken at the next scheduling point).
  void post_frame(GreenThread* f);
  // The same from a thread's own code (not a signal handler), on this
  // carrier: queued at once, and an idle carrier woken for it.
  void start_frame(GreenThread* f);

  // The running green thread's signal mask changed to `mask`, which is
  // already the OS thread's mask. Each green thread keeps its own: a switch
  // to a thread with another mask sets it (one system call, only then).
  void set_running_sigmask(uint64_t mask) {
    if (!running_->internal) {
      uint64_t more = mask & ~running_->sigmask;
      pool_->count_mask(running_->sigmask, -1);
      pool_->count_mask(mask, +1);
      running_takes_.store(~mask, std::memory_order_relaxed);
      // Now blocked by every thread: no sleeping carrier may take it.
      if (more) pool_->hold_back(pool_->blocked_by_all() & more, this);
    }
    running_->sigmask = mask;
    applied_sigmask_ = mask;
    behind_since_.store(0, std::memory_order_relaxed);
    kick_sent_.store(false, std::memory_order_relaxed);
  }
  // The OS thread's mask was changed other than through the carrier, to
  // `now` (a signal handler's return mask, which holds back a signal kept
  // for later): the next switch sets it again, or, for a carrier that keeps
  // running one thread, the monitor's kick (remask_here). Only on the
  // carrier's own OS thread. Async-signal-safe.
  void sigmask_changed_behind(uint64_t now) {
    applied_sigmask_ = kNoSigmask;
    behind_mask_.store(now, std::memory_order_relaxed);
    if (!behind_since_.load(std::memory_order_relaxed))
      behind_since_.store(mono_ns(), std::memory_order_relaxed);
  }
  // Since when the mask has been changed behind the carrier (0: it has
  // not). Any thread reads it.
  int64_t behind_since() const { return behind_since_.load(std::memory_order_relaxed); }
  // For the monitor: claims the one kick a stretch behind gets (until the
  // carrier sets its mask again). Any thread.
  bool claim_kick() { return !kick_sent_.exchange(true, std::memory_order_relaxed); }
  // In the handler of the monitor's kick, on this carrier's OS thread, not
  // inside a program's handler: if the interrupted code's mask (uc, a
  // ucontext_t) is still the one left behind, it becomes the running
  // thread's own, which lets the kept signal through at the handler's
  // return.
  void remask_here(void* uc);
  // The signal the monitor sends a carrier whose mask has been changed
  // behind it while it kept running one thread (the embedder's, whose
  // handler calls remask_here); 0: none. Set once at start-up.
  static void set_remask_signal(int sig);
  static int remask_signal();
  // Signals (bit sig-1) a sleeping carrier never blocks, whatever the
  // program's threads block: the embedder's own (whose handler does nothing
  // unasked), or one a tool running the process keeps for itself (valgrind
  // ends each thread with it at exit). Set once at start-up.
  static void set_wait_unblocked(uint64_t mask);
  // The signals that every program thread of the pool blocks: the mask the
  // carrier waits with, so that a signal some green thread would take
  // interrupts the wait as it would interrupt that thread natively.
  uint64_t wait_sigmask();
  // The signals the running thread takes (a program thread's unblocked
  // set; none for a scheduler context). Any thread reads it.
  uint64_t running_takes() const { return running_takes_.load(std::memory_order_relaxed); }
  // Async-signal-safe, on this carrier's OS thread, in a handler for a
  // process-directed signal `sig`: the green thread that takes it as the
  // kernel would pick a thread that does not block it — the pool's main
  // root if it does not (wherever it runs: the caller holds it while it
  // handles, or sends the signal on to the carrier it runs on), else the
  // running thread if it does not (the signal may have come while the
  // carrier waited with wait_sigmask()), else one in an interruptible wait
  // here that does not — or nullptr.
  GreenThread* process_signal_target(int sig);

  // Starts (h) or ends (nullptr) an interruptible wait of the running green
  // thread g: a signal handler may end it through h->fire. A wait started
  // on one carrier may be ended on another (g moved meanwhile). A wait
  // started inside a cancellation point (g->cancel_point) is also ended by
  // cancel_wait(). Returns false if such a wait must not begin: g's
  // cancellation was requested already (the hook is up all the same).
  bool set_interrupt(GreenThread* g, InterruptHook* h);
  // Any thread, after setting g->cancel_requested: ends g's wait if it is
  // one a cancellation ends (fires its hook). Returns whether it did.
  static bool cancel_wait(GreenThread* g);
  // The green thread a pending pthread_kill targets, if any (not consumed).
  GreenThread* signal_target() const { return signal_target_.load(std::memory_order_acquire); }
  // Any thread, before sending a signal meant for green thread g.
  void set_signal_target(GreenThread* g) { signal_target_.store(g, std::memory_order_release); }
  // Returns signal_target() and clears it: the signal aimed at that thread
  // has reached this OS thread's handler (another sender may aim the next).
  GreenThread* take_signal_target() {
    return signal_target_.exchange(nullptr, std::memory_order_acq_rel);
  }
  // The same per signal number (1-64), for senders of different threads:
  // the kernel merges one signal sent twice to this OS thread into one
  // delivery, so each number keeps up to kSignalSlots targets, all taken
  // by that delivery. Returns a target it displaced when all were in use
  // (its sender's delivery is now the caller's to make), else nullptr.
  static constexpr int kSignalSlots = 4;
  GreenThread* set_signal_target(int sig, GreenThread* g) {
    std::atomic<GreenThread*>* slots = sig_targets_[(sig - 1) & 63];
    for (int i = 0; i < kSignalSlots; i++)
      if (slots[i].load(std::memory_order_acquire) == g) return nullptr;
    for (int i = 0; i < kSignalSlots; i++) {
      GreenThread* none = nullptr;
      if (slots[i].compare_exchange_strong(none, g, std::memory_order_acq_rel)) return nullptr;
    }
    GreenThread* old = slots[0].exchange(g, std::memory_order_acq_rel);
    return old == g ? nullptr : old;
  }
  // Async-signal-safe: takes every target of signal sig (and the slot
  // above) into out[], at most kSignalSlots + 1. Returns how many.
  int take_signal_targets(int sig, GreenThread** out) {
    int n = 0;
    if (sig >= 1 && sig <= 64) {
      std::atomic<GreenThread*>* slots = sig_targets_[sig - 1];
      for (int i = 0; i < kSignalSlots; i++)
        if (GreenThread* g = slots[i].exchange(nullptr, std::memory_order_acq_rel)) out[n++] = g;
    }
    if (GreenThread* g = take_signal_target()) out[n++] = g;
    return n;
  }

  // Creates a green thread that will run entry(arg) in this carrier's pool,
  // not yet runnable: start() queues it here. Returns 0 or -errno (-EAGAIN
  // when no stack can be had). With user_stack, runs on that memory (no
  // guard page; never pooled).
  int spawn(GreenEntry entry, void* arg, size_t stack_size, GreenThread** out,
            const Stack* user_stack = nullptr);
  void start(GreenThread* g);

  // Makes g runnable. Any thread; g must be parked, or about to park, and
  // exactly one ready() must answer each park().
  // A program thread goes to the caller's run queue when the caller is a
  // carrier of its pool, else to the pool's global queue; a pinned thread
  // to its carrier.
  static void ready(GreenThread* g);

  // Parks the running green thread until someone calls ready() on it.
  void park();
  // Moves the running green thread to the back of the ready queue.
  void yield();

  // Runs the scheduler until the root is the only green thread alive. Called
  // by the root; used at OS-thread exit of a carrier with a pool of its own.
  void drain();
  // Moves the running thread (a root) back to its own carrier's OS thread
  // and pins it there: before it exits that OS thread, or calls what must
  // run there. Returns the carrier it is now on.
  Carrier* go_home();

  // Sets a hook run when a signal frame has ended and let its thread (or
  // frame) x go, on the carrier that ran it, in a scheduler context: what
  // was sent to x while the frame blocked it is delivered now.
  // Process-wide; set once at start-up.
  static void set_frame_end_hook(void (*hook)(GreenThread* x));
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

  // Wakes the carrier's OS thread if it sleeps in its ring. Any thread.
  void kick();
  // The monitor's view: switches so far and whether the carrier sleeps.
  uint64_t ticks() const { return ticks_.load(std::memory_order_relaxed); }
  // Times a program thread was given the CPU (switched to, or resumed
  // without a switch after a park or yield): the pool's unit of work.
  uint64_t runs() const { return runs_.load(std::memory_order_relaxed); }
  // Whether it still runs green threads: attached, not left, not retired.
  bool runs_here() const {
    return !left_.load(std::memory_order_acquire) && !retired_.load(std::memory_order_acquire);
  }
  bool idle() const { return idle_.load(std::memory_order_acquire); }
  // The signal mask its OS thread sleeps with in its backend's wait, or all
  // ones when it does not sleep (it then blocks what its running thread or
  // scheduler context blocks); and how many such sleeps have ended. Any
  // thread (Pool::hold_back).
  uint64_t sleep_mask() const { return sleep_mask_.load(std::memory_order_seq_cst); }
  uint64_t sleeps() const { return sleeps_.load(std::memory_order_acquire); }
  // Whether the carrier has work besides its running thread: queued
  // threads, armed timers or ring requests in flight. Any thread.
  bool has_pending_work() const;
  // Set by the monitor when the carrier has run one green thread past the
  // threshold: others then serve its timers and ring. Cleared by the
  // carrier at its next scheduling point.
  bool mark_stuck();
  bool is_stuck() const { return stuck_.load(std::memory_order_acquire); }
  // Run-queue access for thieves (Pool::steal_for).
  RunQueue& run_queue() { return runq_; }
  // True for a spare the monitor started; a spare may retire when idle.
  bool spare() const { return spare_.load(std::memory_order_acquire); }
  int slot() const { return slot_; }
  // The signal mask of scheduler contexts (idle contexts, the roots of
  // workers): every asynchronous signal blocked. Synchronous ones (SIGSEGV,
  // SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) and SIGABRT stay deliverable.
  static uint64_t scheduler_sigmask();
  // Any thread: makes an internal root's serve() look at the pool again
  // (Pool::stop()).
  void stop_root();
  // The calling OS thread stops being a carrier of its (shared) pool.
  static void leave();

 private:
  friend class Pool;
  GreenThread* steal();
  // Takes half of x's queued threads (its run queue, else what overflowed
  // it, else, x being stuck, its remote queue) into batch; returns how many.
  uint32_t take_from(Carrier* x, GreenThread** batch);
  GreenThread* pop_ready();
  void refill();
  uint32_t steal_overflow(GreenThread** out, uint32_t max);
  uint32_t steal_remote(GreenThread** out, uint32_t max);
  Carrier(Pool* pool, bool internal_root);
  bool push_local(GreenThread* g);
  // Queues g (runnable) here, or, on a draining spare, on the carrier it
  // drains into (drain_to_).
  void enqueue(GreenThread* g);
  void push_remote(GreenThread* g);
  bool drain_remote();
  GreenThread* pick_next();
  GreenThread* find_next();
  void unlink_interruptible(GreenThread* g) GH_REQUIRES(intr_lock_);
  GreenThread* look_around();
  void wait_for_work();
  GreenThread* idle_context();
  void switch_to(GreenThread* next);
  void schedule();
  void count_run() {
    runs_.store(runs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void after_switch();
  void take_frames(Carrier* from);
  void finish_frame(GreenThread* f);
  void requeue(GreenThread* g);
  [[noreturn]] void end_frame();
  static void frame_trampoline(void* f);
  [[noreturn]] void exit_here(GreenThread* g, void* result);
  void serve_stuck();
  bool serve_timers_and_ring(bool may_block) GH_REQUIRES(service_lock_);
  void clear_stuck();
  static void entry_trampoline(void* g);
  static void* idle_loop(void* carrier);

  static thread_local Carrier* tls_current_ GH_TLS;

  Pool* pool_;                      // [const]
  bool owns_pool_ = false;          // [const] a pool of its own, deleted with it
  std::atomic<bool> spare_{false};  // set once, before it serves
  int slot_ = -1;                   // [const] index in the pool
  GreenThread root_;
  GreenThread* idle_ctx_ = nullptr;  // [carrier] where the carrier sleeps when no root can
  GreenThread* running_ = nullptr;   // [carrier]
  bool switching_ = false;           // [carrier] see switching()
  RunQueue runq_;                    // owner pushes and pops; thieves steal
  // [carrier] where steal() and serve_stuck() take threads to (not on the
  // running thread's stack, which may be small).
  GreenThread* batch_[RunQueue::kSize / 2 + 1] = {};
  ThreadFifo pinned_ready_;  // [carrier] runnable threads pinned here
  // What the run queue cannot hold, in order behind it: refilled into it as
  // it drains. Thieves take from it too when the run queue is empty.
  SpinLock overflow_lock_;
  PtrFifo<GreenThread, &GreenThread::next> overflow_ GH_GUARDED_BY(overflow_lock_);
  std::atomic<uint32_t> overflow_n_{0};  // its length (written under the lock)
  void* os_tp_ = nullptr;                // [const] the OS thread's own thread pointer
  uint64_t interrupts_ = 0;              // [carrier]
  CarrierStats stats_;                   // [carrier]
  uint32_t since_poll_ = 0;              // [carrier] picks since the last look around
  uint32_t picks_ = 0;                   // [carrier] for the global queue's turn
  std::atomic<uint64_t> ticks_{0};       // [carrier] written, monitor reads
  std::atomic<uint64_t> runs_{0};        // [carrier] written, monitor reads
  std::atomic<bool> left_{false};        // set once by leave()
  std::atomic<bool> stuck_{false};
  std::atomic<uint64_t> running_takes_{0};  // [carrier] written; see running_takes()
  std::atomic<bool> retired_{false};        // a spare that sleeps until the monitor needs it
  // Set by the monitor for a spare the pool can do without (as many other
  // carriers run unstuck as the pool has carriers): it takes no new work,
  // readies its threads onto this carrier and retires once it has nothing.
  std::atomic<Carrier*> drain_to_{nullptr};
  // Whether it takes work from the global queue and other carriers.
  bool takes_work() const {
    return !retired_.load(std::memory_order_relaxed) && !drain_to_.load(std::memory_order_relaxed);
  }
  int64_t idle_since_ = 0;  // [carrier] a spare's: when it last had nothing to do

  // Ends the interruptible wait a pending handler is for. The carrier's own
  // thread at its next scheduling point, or a carrier serving it while it
  // is stuck (the exchange of pending_ picks one).
  void deliver_interrupt();
  SpinLock intr_lock_;  // guards the interruptible list
  GreenThread* interruptible_ GH_GUARDED_BY(intr_lock_) = nullptr;
  // A handler's interrupt not yet delivered, in one word so that a carrier
  // serving this one reads it whole: the GreenThread it ran for, 1 (plain
  // handler) or 2 (SA_RESTART), and the thread's handlers_ran after it (low
  // 16 bits; see signal_arrived). 0: none.
  std::atomic<uintptr_t> pending_{0};
  std::atomic<GreenThread*> signal_target_{nullptr};
  std::atomic<GreenThread*> sig_targets_[64][kSignalSlots] = {};
  // Frame contexts posted by signal handlers on this OS thread, not yet
  // queued (a stack linked through GreenThread::next).
  std::atomic<GreenThread*> frames_{nullptr};
  GreenThread* dead_frame_ = nullptr;     // [carrier] a frame context that ended, for after_switch
  pid_t os_tid_ = 0;                      // [const]
  void* applied_tp_ = nullptr;            // [carrier] the OS thread's thread pointer now
  uint64_t applied_sigmask_ = 0;          // [carrier] the OS thread's mask
  std::atomic<int64_t> behind_since_{0};  // [carrier] written; see behind_since()
  std::atomic<uint64_t> behind_mask_{0};  // [carrier] the mask left behind
  std::atomic<bool> kick_sent_{false};    // [monitor] set, [carrier] cleared
  // No thread's mask: it holds SIGCANCEL (32), which glibc never lets a
  // program block.
  static constexpr uint64_t kNoSigmask = uint64_t{1} << 31;

  SpinLock remote_lock_;  // guards remote_*
  ThreadFifo remote_ GH_GUARDED_BY(remote_lock_);
  std::atomic<bool> remote_pending_{false};         // any thread: remote queue non-empty
  std::atomic<bool> idle_{false};                   // carrier is (about to be) in wait()
  std::atomic<uint64_t> sleep_mask_{~uint64_t{0}};  // [own; read by any] sleep_mask()
  std::atomic<uint64_t> sleeps_{0};                 // [own; read by any] sleeps()
  std::atomic<bool> spinning_{false};               // woken by Pool::wake_idle to look for work
  std::atomic<uint32_t> remote_wakers_{0};  // any thread: pushers still inside backend_->wake()

  // Left behind by a green thread that exited; cleaned up by the next one.
  Stack dead_stack_;                      // [carrier]
  GreenThread* dead_thread_ = nullptr;    // [carrier] freed if detached
  void* dead_sp_ = nullptr;               // [carrier] sink for an exiting sp
  void* dead_tp_ = nullptr;               // [carrier] thread pointer of the exited thread
  void* dead_fiber_ = nullptr;            // [carrier] its TSan fiber
  bool leaving_dead_ = false;             // [carrier] current switch leaves a dead thread
  GreenThread* switched_from_ = nullptr;  // [carrier] whose on_cpu the next context clears

  SpinLock service_lock_;  // guards timers_ and the backend's queues
  TimerHeap timers_ GH_GUARDED_BY(service_lock_);
  std::atomic<uint32_t> timers_count_{0};  // timers_.size() as of the last fire (monitor)
  StackPool stacks_;                       // [carrier]
  Backend* backend_ = nullptr;
};

}  // namespace gh
