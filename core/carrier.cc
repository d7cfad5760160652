// SPDX-License-Identifier: MIT
#include "core/carrier.h"
#include "core/sys.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sched.h>

#include <cerrno>
#include <new>

#include "core/arch_x86_64.h"
#include "core/check.h"
#include "core/context.h"
#include "core/green.h"
#include "core/log.h"
#include "core/sanitizer.h"
#include "core/thread_pointer.h"

namespace gh {

thread_local Carrier* Carrier::tls_current_ GH_TLS = nullptr;

namespace {

std::atomic<uint64_t> g_next_id{1};
void (*g_exit_hook)(GreenThread*) = nullptr;

// Switches between non-poll runs of the backend while work is runnable, so a
// busy carrier still reaps completions (with DEFER_TASKRUN nothing completes
// until the carrier enters the kernel).
constexpr uint32_t kPollInterval = 64;

std::atomic<bool> g_process_exiting{false};

// The TLS backend; nullptr: green threads share their carrier's thread
// pointer (and the switch saves errno).
const ThreadPointerOps* g_tp_ops = nullptr;
std::atomic<uint64_t> g_tls_generation{0};

// The default way to hear of the OS thread's exit: a thread_local object's
// destructor. Registering one calls calloc (__cxa_thread_atexit_impl), so an
// embedder whose carriers may be created inside the program's malloc sets
// its own registrar (set_exit_registrar).
struct CarrierReaper {
  bool armed = false;
  ~CarrierReaper() {
    if (armed) Carrier::thread_exiting();
  }
};
thread_local CarrierReaper t_reaper GH_TLS;
void register_with_thread_local() { t_reaper.armed = true; }
void (*g_exit_registrar)() = &register_with_thread_local;

// Stack bounds of the OS thread, for the sanitizer's view of the root.
void os_stack_bounds(Stack* s) {
#ifdef GH_ASAN
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &s->lo, &s->size);
    pthread_attr_destroy(&attr);
  }
#else
  (void)s;
#endif
}

}  // namespace

Carrier* Carrier::get() {
  if (tls_current_) return tls_current_;
  auto* c = new (std::nothrow) Carrier();
  if (!c) {
    errno = ENOMEM;
    return nullptr;
  }
  c->backend_ = backend_create(c);
  if (!c->backend_) {
    int e = errno;
    delete c;
    errno = e;
    return nullptr;
  }
  tls_current_ = c;
  g_exit_registrar();
  return c;
}

void Carrier::set_exit_registrar(void (*registrar)()) { g_exit_registrar = registrar; }

void set_thread_pointer_ops(const ThreadPointerOps* ops) { g_tp_ops = ops; }
bool exact_tls() { return g_tp_ops != nullptr; }
uint64_t tls_generation() { return g_tls_generation.load(std::memory_order_acquire); }
void bump_tls_generation() { g_tls_generation.fetch_add(1, std::memory_order_acq_rel); }

void Carrier::thread_exiting() {
  Carrier* c = tls_current_;
  // The main thread's thread-exit work runs inside exit(): the process is
  // ending and its other green threads end with it, as native threads
  // would. Only other OS threads wait for their green threads.
  if (!c || g_process_exiting.load(std::memory_order_relaxed) ||
      gh::sys(SYS_gettid) == gh::sys(SYS_getpid))
    return;
  c->drain();
  delete c;
}

Carrier::Carrier() {
  root_.carrier = this;
  root_.id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  root_.state.store(GreenState::kRunning, std::memory_order_relaxed);
  running_ = &root_;
  os_stack_bounds(&root_bounds_);
  gh::sys(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &applied_sigmask_, sizeof applied_sigmask_);
  root_.sigmask = applied_sigmask_;
  os_tid_ = static_cast<pid_t>(gh::sys(SYS_gettid));
  applied_tp_ = arch::thread_pointer();
  root_.tp = applied_tp_;
  count_mask(root_.sigmask, +1);
}

Carrier::~Carrier() {
  // A remote waker may still be inside push_remote(); wait for it.
  remote_lock_.lock();
  remote_lock_.unlock();
  while (remote_wakers_.load(std::memory_order_acquire) != 0) sched_yield();
  delete backend_;
  if (tls_current_ == this) tls_current_ = nullptr;
}

void Carrier::forget_after_fork() { tls_current_ = nullptr; }

void Carrier::set_process_exiting() { g_process_exiting.store(true, std::memory_order_relaxed); }

void Carrier::set_exit_hook(void (*hook)(GreenThread*)) { g_exit_hook = hook; }

int Carrier::spawn(GreenEntry entry, void* arg, size_t stack_size, GreenThread** out,
                   const Stack* user_stack) {
  Stack s;
  if (user_stack) {
    s = *user_stack;
  } else if (stacks_.acquire(stack_size, &s) < 0) {
    return -EAGAIN;
  }
  auto* g = new (std::nothrow) GreenThread;
  if (!g) {
    if (!user_stack) stacks_.release(s);
    return -EAGAIN;
  }
  g->carrier = this;
  g->pooled_stack = !user_stack;
  g->sigmask = running_->sigmask;  // POSIX: a new thread inherits its creator's mask
  count_mask(g->sigmask, +1);
  g->id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  g->stack = s;
  g->entry = entry;
  g->arg = arg;
  void* hi = s.hi();
  if (g_tp_ops) {
    // Its own TLS block and thread control block, at the top of its stack.
    g->tls_gen = g_tls_generation.load(std::memory_order_acquire);
    g->tp = g_tp_ops->create(applied_tp_, s.lo, &hi);
    if (!g->tp) {
      if (!user_stack) stacks_.release(s);
      delete g;
      return -EAGAIN;
    }
  }
  g->sp = context_init(hi, &Carrier::entry_trampoline, g);
  // POSIX: a new thread inherits its creator's floating-point environment
  // (rounding mode, exception masks), not its exception flags.
  auto* frame = static_cast<SwitchFrame*>(g->sp);
  frame->mxcsr = arch::read_mxcsr() & ~arch::kMxcsrFlags;
  frame->fpucw = arch::read_fpu_control();
  live_++;
  push_ready(g);
  *out = g;
  return 0;
}

void Carrier::push_ready(GreenThread* g) { ready_.push(g); }

void Carrier::push_remote(GreenThread* g) {
  bool wake;
  {
    SpinGuard guard(remote_lock_);
    remote_.push(g);
    remote_pending_.store(true, std::memory_order_seq_cst);
    wake = idle_.load(std::memory_order_seq_cst);
    // Counted under the lock: ~Carrier waits for the count after taking the
    // lock, so the carrier cannot be destroyed before our wake() returns.
    if (wake) remote_wakers_.fetch_add(1, std::memory_order_relaxed);
  }
  // Not under the lock: the write wakes the carrier's OS thread, which may
  // preempt us on this CPU and would then spin on remote_lock_ in
  // drain_remote() for the rest of its time slice.
  if (wake) {
    backend_->wake();
    remote_wakers_.fetch_sub(1, std::memory_order_release);
  }
}

bool Carrier::drain_remote() {
  if (!remote_pending_.load(std::memory_order_acquire)) return false;
  ThreadFifo arrived;
  {
    SpinGuard guard(remote_lock_);
    arrived.append(remote_);
    remote_pending_.store(false, std::memory_order_relaxed);
  }
  if (arrived.empty()) return false;
  ready_.append(arrived);
  return true;
}

void Carrier::ready(GreenThread* g) {
#if defined(GH_DCHECKS)
  GreenState was = g->state.exchange(GreenState::kRunnable, std::memory_order_relaxed);
  GH_DCHECK(was != GreenState::kRunnable,
            "ready() on a thread that is already runnable: a park() answered twice");
  GH_DCHECK(was != GreenState::kExited, "ready() on a thread that has exited");
#else
  g->state.store(GreenState::kRunnable, std::memory_order_relaxed);
#endif
  Carrier* c = g->carrier;
  if (c == tls_current_) {
    c->push_ready(g);
  } else {
    c->push_remote(g);
  }
}

void Carrier::signal_arrived(bool sa_restart) {
  int v = sa_restart ? 2 : 1;
  // A plain handler wins over a restarting one that arrived at the same time.
  int cur = pending_signal_.load(std::memory_order_relaxed);
  if (cur == 0 || v < cur) pending_signal_.store(v, std::memory_order_release);
}

void Carrier::count_mask(uint64_t mask, int delta) {
  while (mask) {
    int bit = __builtin_ctzll(mask);
    mask &= mask - 1;
    blocked_counts_[bit] += static_cast<uint32_t>(delta);
  }
}

uint64_t Carrier::wait_sigmask() {
  uint64_t m = 0;
  for (int bit = 0; bit < 64; bit++)
    if (blocked_counts_[bit] == live_) m |= uint64_t{1} << bit;
  return m;
}

GreenThread* Carrier::process_signal_target(int sig) {
  if (sig < 1 || sig > 64) return nullptr;
  uint64_t bit = uint64_t{1} << (sig - 1);
  if (!(root_.sigmask & bit)) return &root_;
  if (!(running_->sigmask & bit)) return running_;
  for (GreenThread* g = interruptible_; g; g = g->intr_next)
    if (!(g->sigmask & bit)) return g;
  return nullptr;
}

void Carrier::set_interrupt(GreenThread* g, InterruptHook* h) {
  if (h && !g->interrupt) {
    g->intr_prev = nullptr;
    g->intr_next = interruptible_;
    if (interruptible_) interruptible_->intr_prev = g;
    interruptible_ = g;
  } else if (!h && g->interrupt) {
    if (g->intr_prev)
      g->intr_prev->intr_next = g->intr_next;
    else
      interruptible_ = g->intr_next;
    if (g->intr_next) g->intr_next->intr_prev = g->intr_prev;
    g->intr_prev = g->intr_next = nullptr;
  }
  g->interrupt = h;
}

void Carrier::deliver_interrupt() {
  int sig = pending_signal_.exchange(0, std::memory_order_acq_rel);
  if (!sig) return;
  GreenThread* target = signal_target_.exchange(nullptr, std::memory_order_acq_rel);
  if (!target || target->carrier != this) target = &root_;
  InterruptHook* h = target->interrupt;
  if (!h) return;  // not in an interruptible wait (or running)
  if (sig == 2 && h->restartable) return;
  set_interrupt(target, nullptr);
  h->fire(h);
}

GreenThread* Carrier::pick_next() {
  for (;;) {
    if (__builtin_expect(pending_signal_.load(std::memory_order_relaxed) != 0, 0))
      deliver_interrupt();
    if (!ready_.empty() && ++since_poll_ < kPollInterval) break;
    // Out of work, or time to look at the world: remote wake-ups, timers,
    // completions.
    since_poll_ = 0;
    drain_remote();
    if (!timers_.empty()) timers_.fire_due(mono_ns());
    if (backend_->inflight() > 0) {
      stats_.polls++;
      backend_->poll();
    }
    if (!ready_.empty()) break;

    idle_.store(true, std::memory_order_seq_cst);
    if (remote_pending_.load(std::memory_order_seq_cst)) {
      idle_.store(false, std::memory_order_relaxed);
      continue;
    }
    stats_.waits++;
    // Wait with the signals that some green thread would take let through,
    // not only those of the thread that ran last.
    uint64_t mask = wait_sigmask();
    int rc = backend_->wait(timers_.next_deadline(), mask == applied_sigmask_ ? nullptr : &mask);
    idle_.store(false, std::memory_order_relaxed);
    if (rc == -EINTR) interrupts_++;
  }
  return ready_.pop();
}

void Carrier::switch_to(GreenThread* next) {
  GreenThread* prev = running_;
  running_ = next;
  next->state.store(GreenState::kRunning, std::memory_order_relaxed);
  stats_.switches++;
  void** save;
  void** fake;
  if (leaving_dead_) {
    // prev may already be freed by its joiner on another carrier: touch
    // nothing of it.
    save = &dead_sp_;
    fake = nullptr;
  } else {
    if (!g_tp_ops) prev->saved_errno = errno;  // else errno is in its own TLS
    save = &prev->sp;
    fake = &prev->asan_fake_stack;
  }
  if (__builtin_expect(next->sigmask != applied_sigmask_, 0)) {
    gh::sys(SYS_rt_sigprocmask, SIG_SETMASK, &next->sigmask, nullptr, sizeof next->sigmask);
    applied_sigmask_ = next->sigmask;
  }
  void* tp = next->tp ? next->tp : root_.tp;
  if (next->tp && next != &root_) {
    // A root's block is the C library's own thread's: it keeps it current.
    uint64_t gen = g_tls_generation.load(std::memory_order_acquire);
    if (__builtin_expect(next->tls_gen != gen, 0)) {
      g_tp_ops->refresh(tp, next->tls_gen);
      next->tls_gen = gen;
    }
  }
  if (tp != applied_tp_) {
    arch::set_thread_pointer(tp);
    applied_tp_ = tp;
    tls_current_ = this;  // the carrier, as seen from next's TLS
  }
  const Stack& to = next == &root_ ? root_bounds_ : next->stack;
  san_start_switch(fake, to.lo, to.size);
  gh_context_switch(save, next->sp);
  // Resumed: we are prev again, on prev's stack.
  after_switch();
}

void Carrier::after_switch() {
  GreenThread* me = running_;
  san_finish_switch(me->asan_fake_stack);
  if (leaving_dead_) {
    leaving_dead_ = false;
    // The TLS block lies in the stack: free it before the stack goes back.
    if (dead_tp_) g_tp_ops->destroy(dead_tp_);
    dead_tp_ = nullptr;
    if (dead_stack_.lo) stacks_.release(dead_stack_);
    dead_stack_ = Stack{};
    delete dead_thread_;
    dead_thread_ = nullptr;
  }
  if (!g_tp_ops) errno = me->saved_errno;
}

void Carrier::schedule() {
  GreenThread* next = pick_next();
  if (next == running_) {
    next->state.store(GreenState::kRunning, std::memory_order_relaxed);
    return;
  }
  switch_to(next);
}

void Carrier::park() {
  GH_DCHECK(tls_current_ == this, "park() on a carrier of another OS thread");
  GreenState expected = GreenState::kRunning;
  running_->state.compare_exchange_strong(expected, GreenState::kParked, std::memory_order_relaxed);
  schedule();
}

void Carrier::yield() {
  GH_DCHECK(tls_current_ == this, "yield() on a carrier of another OS thread");
  push_ready(running_);
  running_->state.store(GreenState::kRunnable, std::memory_order_relaxed);
  schedule();
}

void Carrier::entry_trampoline(void* arg) {
  auto* g = static_cast<GreenThread*>(arg);
  Carrier* c = g->carrier;
  c->after_switch();
  errno = 0;
  void* result = g->entry(g->arg);
  c->exit_current(result);
}

void Carrier::exit_current(void* result) {
  GreenThread* g = running_;
  GH_DCHECK(!g->is_root(), "the root green thread ending through exit_current()");
  GH_DCHECK(live_ > 1, "a green thread exiting while the carrier counts only its root");
  if (g_exit_hook) g_exit_hook(g);
  live_--;
  count_mask(g->sigmask, -1);
  // A stack the program provided (pthread_attr_setstack) stays the program's.
  dead_stack_ = g->pooled_stack ? g->stack : Stack{};
  dead_tp_ = g->tp;
  leaving_dead_ = true;
  g->lock.lock();
  g->exited = true;
  g->result = result;
  g->state.store(GreenState::kExited, std::memory_order_relaxed);
  Waiter* joiner = g->joiner;
  g->joiner = nullptr;
  dead_thread_ = g->detached ? g : nullptr;
  // Wake under the lock: a joiner whose timeout fires now must not return
  // (and drop the Waiter on its stack) before wake() is done with it.
  if (joiner) wake(joiner);
  g->lock.unlock();
  // From here on g belongs to its joiner (or to after_switch if detached).
  if (drain_waiter_ && live_ <= 1) {
    Waiter* w = drain_waiter_;
    drain_waiter_ = nullptr;
    wake(w);
  }
  schedule();
  __builtin_unreachable();
}

void Carrier::drain() {
  while (live_ > 1) {
    Waiter w;
    w.g = running_;
    drain_waiter_ = &w;
    park_waiter(w, kNoDeadline, "drain");
  }
}

}  // namespace gh
