// SPDX-License-Identifier: MIT
#include "core/carrier.h"
#include "core/sys.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "core/arch_x86_64.h"
#include "core/check.h"
#include "core/context.h"
#include "core/cpu_time.h"
#include "core/glibc_abi.h"
#include "core/green.h"
#include "core/log.h"
#include "core/sanitizer.h"
#include "core/thread_pointer.h"

namespace gh {

thread_local Carrier* Carrier::tls_current_ GH_TLS = nullptr;

namespace {

std::atomic<uint64_t> g_next_id{1};
void (*g_exit_hook)(GreenThread*) = nullptr;
void (*g_frame_end_hook)(GreenThread*) = nullptr;

// Picks from the run queue between looks at the world (remote wake-ups,
// timers, completions, other carriers), so a busy carrier still reaps
// completions (with DEFER_TASKRUN nothing completes until the carrier
// enters the kernel) and serves stuck carriers.
constexpr uint32_t kPollInterval = 64;
// Every this many looks, the pool's global queue goes first (fairness for
// threads readied from outside the pool), as Go's schedule() does.
constexpr uint32_t kGlobalTurn = 61;
// How often an idle carrier looks at a stuck carrier's timers and ring.
constexpr int64_t kServeIntervalNs = 1'000'000;
// Stack of a carrier's idle context: scheduler code, and signal handlers
// that arrive while the carrier sleeps.
constexpr size_t kIdleStackSize = 256 * 1024;
// A spare carrier idle this long retires (sleeps until needed again).
constexpr int64_t kSpareRetireNs = 1'000'000'000;

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

// Stack bounds of the OS thread, for the sanitizer's view of a root.
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

void Carrier::kick_unless_current() {
  if (this != tls_current_) kick();
}

Carrier* Carrier::get() {
  if (tls_current_) return tls_current_;
  Pool* proc = Pool::process();
  if (proc && proc->slots() == 0 && proc->first_tid() == gh::sys(SYS_gettid))
    return attach_to(proc, false);
  auto* pool = new (std::nothrow) Pool(PoolOptions{});
  if (!pool) {
    errno = ENOMEM;
    return nullptr;
  }
  Carrier* c = attach_to(pool, false);
  if (!c) {
    int e = errno;
    delete pool;
    errno = e;
    return nullptr;
  }
  c->owns_pool_ = true;
  return c;
}

Carrier* Carrier::attach_to(Pool* pool, bool internal_root) {
  if (tls_current_) {
    errno = EBUSY;
    return nullptr;
  }
  auto* c = new (std::nothrow) Carrier(pool, internal_root);
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
  c->slot_ = pool->attach(c);
  if (c->slot_ < 0) {
    delete c;
    errno = EAGAIN;
    return nullptr;
  }
  tls_current_ = c;
  g_exit_registrar();
  return c;
}

void Carrier::set_exit_registrar(void (*registrar)()) { g_exit_registrar = registrar; }

namespace {
int g_remask_signal = 0;
uint64_t g_wait_unblocked = 0;
}  // namespace

void Carrier::set_remask_signal(int sig) { g_remask_signal = sig; }
void Carrier::set_wait_unblocked(uint64_t mask) { g_wait_unblocked = mask; }
int Carrier::remask_signal() { return g_remask_signal; }

void Carrier::remask_here(void* uc) {
  if (!behind_since_.load(std::memory_order_relaxed) || switching_ ||
      os_tid_ != static_cast<pid_t>(gh::sys(SYS_gettid)))
    return;
  GreenThread* run = signal_safe_running();
  if (!run || run->internal) return;
  auto* ctx = static_cast<ucontext_t*>(uc);
  uint64_t interrupted = 0;
  std::memcpy(&interrupted, &ctx->uc_sigmask, sizeof interrupted);
  // Changed since (the thread set its own mask, not yet recorded): its.
  if (interrupted != behind_mask_.load(std::memory_order_relaxed)) return;
  uint64_t want = run->sigmask;
  std::memcpy(&ctx->uc_sigmask, &want, sizeof want);
  applied_sigmask_ = want;
  behind_since_.store(0, std::memory_order_relaxed);
  kick_sent_.store(false, std::memory_order_relaxed);
}

void set_thread_pointer_ops(const ThreadPointerOps* ops) { g_tp_ops = ops; }
bool exact_tls() { return g_tp_ops != nullptr; }
uint64_t tls_generation() { return g_tls_generation.load(std::memory_order_acquire); }
void bump_tls_generation() { g_tls_generation.fetch_add(1, std::memory_order_acq_rel); }

void Carrier::thread_exiting() {
  Carrier* c = tls_current_;
  // The main thread's thread-exit work runs inside exit(): the process is
  // ending and its other green threads end with it, as native threads
  // would. Only other OS threads wait for their green threads.
  if (!c || g_process_exiting.load(std::memory_order_relaxed)) return;
  // The OS thread that exits is the root's own: bring it home first.
  if (!c->running_->internal) c = c->go_home();
  if (gh::sys(SYS_gettid) == gh::sys(SYS_getpid)) return;
  if (c->owns_pool_) {
    c->drain();
    delete c->pool_;  // and its carrier, c
    return;
  }
  // A carrier of a shared pool: its slot stays (other carriers may still
  // look at it); only its OS thread goes. Pool::stop() ends such threads
  // only when no green thread is left.
  c->left_.store(true, std::memory_order_release);
  c->pool_->detach(c);
  tls_current_ = nullptr;
}

Carrier::Carrier(Pool* pool, bool internal_root) : pool_(pool) {
  cpu_time::init();  // before the first switch reads the tick counter
  root_.carrier.store(this, std::memory_order_relaxed);
  root_.home = this;
  root_.pool = pool;
  root_.internal = internal_root;
  // A program root may move to other carriers when green threads have
  // thread pointers of their own; in shared mode its TLS is this OS
  // thread's and it stays.
  root_.pinned.store(internal_root || !g_tp_ops, std::memory_order_relaxed);
  root_.id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  root_.state.store(GreenState::kRunning, std::memory_order_relaxed);
  root_.on_cpu.store(true, std::memory_order_relaxed);
  running_ = &root_;
  os_stack_bounds(&root_.os_stack);
  root_.tsan_fiber = tsan_current_fiber();
  gh::sys(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &applied_sigmask_, sizeof applied_sigmask_);
  root_.sigmask = applied_sigmask_;
  os_tid_ = static_cast<pid_t>(gh::sys(SYS_gettid));
  applied_tp_ = arch::thread_pointer();
  os_tp_ = applied_tp_;
  root_.tp = applied_tp_;
  if (!internal_root) {
    pool_->add_live(1);
    pool_->count_mask(root_.sigmask, +1);
    running_takes_.store(~root_.sigmask, std::memory_order_relaxed);
    // A program root's CPU time so far is its OS thread's; from now on it
    // counts its own runs (core/cpu_time.h).
    timespec ts{};
    if (gh::sys_ret(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
      root_.cpu_base_ns = int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
    root_.cpu_since.store(cpu_time::now(), std::memory_order_release);
  }
}

Carrier::~Carrier() {
  // A remote waker may still be inside push_remote(); wait for it.
  remote_lock_.lock();
  remote_lock_.unlock();
  while (remote_wakers_.load(std::memory_order_acquire) != 0) sched_yield();
  if (!root_.internal && root_.pool == pool_) {
    pool_->add_live(-1);
    pool_->count_mask(root_.sigmask, -1);
  }
  if (idle_ctx_ && idle_ctx_ != &root_) {
    tsan_destroy_fiber(idle_ctx_->tsan_fiber);
    if (idle_ctx_->tp && g_tp_ops) g_tp_ops->destroy(idle_ctx_->tp);
    stacks_.release(idle_ctx_->stack);
    delete idle_ctx_;
  }
  delete backend_;
  if (tls_current_ == this) tls_current_ = nullptr;
}

void Carrier::forget_after_fork() { tls_current_ = nullptr; }

void Carrier::set_process_exiting() { g_process_exiting.store(true, std::memory_order_relaxed); }

void Carrier::set_exit_hook(void (*hook)(GreenThread*)) { g_exit_hook = hook; }
void Carrier::set_frame_end_hook(void (*hook)(GreenThread*)) { g_frame_end_hook = hook; }

int Carrier::spawn(GreenEntry entry, void* arg, size_t stack_size, GreenThread** out,
                   const Stack* user_stack) {
  // A carrier whose root is a program thread needs an idle context once a
  // second thread exists. Made here, where the creator may call the
  // program's allocator (the TLS block's DTV comes from calloc, as for a
  // native thread's), not when first needed: that is inside a park, where
  // an allocator lock another thread holds would park the parking thread
  // again (docs/design.md, "The idle context").
  if (!root_.internal && !idle_ctx_) idle_context();
  Stack s;
  if (user_stack) {
    s = *user_stack;
  } else if (stacks_.acquire(stack_size, &s) < 0) {
    return -EAGAIN;
  }
  san_fresh_stack(s.lo, s.size);
  auto* g = new (std::nothrow) GreenThread;
  if (!g) {
    if (!user_stack) stacks_.release(s);
    return -EAGAIN;
  }
  g->carrier.store(this, std::memory_order_relaxed);
  g->pool = pool_;
  g->pooled_stack = !user_stack;
  g->sigmask = running_->sigmask;  // POSIX: a new thread inherits its creator's mask
  g->id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  g->stack = s;
  g->entry = entry;
  g->arg = arg;
  void* hi = s.hi();
  if (g_tp_ops) {
    // Its own TLS block and thread control block, at the top of its stack.
    g->tp = g_tp_ops->create(applied_tp_, s.lo, &hi, g->id, &g->tls_gen);
    if (!g->tp) {
      if (!user_stack) stacks_.release(s);
      delete g;
      return -EAGAIN;
    }
  }
  g->sp = context_init(hi, &Carrier::entry_trampoline, g);
  g->tsan_fiber = tsan_create_fiber();
  // POSIX: a new thread inherits its creator's floating-point environment
  // (rounding mode, exception masks), not its exception flags.
  auto* frame = static_cast<SwitchFrame*>(g->sp);
  frame->mxcsr = arch::read_mxcsr() & ~arch::kMxcsrFlags;
  frame->fpucw = arch::read_fpu_control();
  pool_->add_live(1);
  pool_->count_mask(g->sigmask, +1);
  *out = g;
  g->state.store(GreenState::kParked, std::memory_order_relaxed);
  return 0;
}

void Carrier::enqueue(GreenThread* g) {
  Carrier* to = drain_to_.load(std::memory_order_relaxed);
  if (__builtin_expect(to != nullptr, 0) && !g->pinned.load(std::memory_order_relaxed)) {
    // A spare on its way out: the thread runs on, and its next I/O goes
    // to, a carrier that stays.
    to->push_remote(g);
    return;
  }
  push_local(g);
}

void Carrier::start(GreenThread* g) {
  g->state.store(GreenState::kRunnable, std::memory_order_relaxed);
  enqueue(g);
  // A new thread may well run alongside its creator (which goes on running):
  // an idle carrier takes it now, not only once a second one queues up.
  if (!pool_->packed()) pool_->wake_idle(this);
}

bool Carrier::push_local(GreenThread* g) {
  if (g->pinned.load(std::memory_order_relaxed)) {
    // Its turn comes after what is queued now (FIFO across the queues).
    g->ready_seq = runq_.tail() + overflow_n_.load(std::memory_order_relaxed);
    pinned_ready_.push(g);
    return true;
  }
  // Its handler has just ended its wait: it goes first.
  if (__builtin_expect(g->run_next.load(std::memory_order_relaxed), 0) &&
      g->run_next.exchange(false, std::memory_order_relaxed) &&
      overflow_n_.load(std::memory_order_relaxed) == 0 && runq_.push_front(g))
    return true;
  if (overflow_n_.load(std::memory_order_relaxed) > 0 || !runq_.push(g)) {
    // Full: in order behind it.
    SpinGuard guard(overflow_lock_);
    overflow_.push(g);
    overflow_n_.store(overflow_n_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (!pool_->packed()) pool_->wake_idle(this);
    return false;
  }
  // More queued than this carrier is about to run: let an idle one help.
  if (runq_.size() > 1 && !pool_->packed()) pool_->wake_idle(this);
  return true;
}

void Carrier::kick() {
  bool wake;
  {
    SpinGuard guard(remote_lock_);
    wake = idle_.load(std::memory_order_seq_cst);
    if (wake) remote_wakers_.fetch_add(1, std::memory_order_relaxed);
  }
  if (wake) {
    backend_->wake();
    remote_wakers_.fetch_sub(1, std::memory_order_release);
  }
}

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
  while (GreenThread* g = arrived.pop()) push_local(g);
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
  Carrier* me = tls_current_;
  if (g->pinned.load(std::memory_order_relaxed)) {
    Carrier* home = g->home;
    if (home == me)
      me->push_local(g);
    else
      home->push_remote(g);
    return;
  }
  if (me && me->pool_ == g->pool) {
    if (__builtin_expect(g->pool->packed(), 0)) {
      // Packed: to the primary, so that the thread's next I/O goes to its
      // ring and this carrier, with nothing left, sleeps undisturbed.
      Carrier* p = g->pool->primary();
      if (p && p != me) {
        p->push_remote(g);
        return;
      }
    }
    me->enqueue(g);
    return;
  }
  if (g->pool->slots() > 1 || g->pool->started()) {
    g->pool->push_global(g);
    g->pool->wake_idle(nullptr);
    return;
  }
  // A pool of one carrier: straight to it.
  g->current_carrier()->push_remote(g);
}

namespace {
// Carrier::pending_: the GreenThread (8-byte aligned, below 2^47) | kind (1
// plain, 2 SA_RESTART) | the low 16 bits of its handlers_ran after that
// handler, in bits 48-63.
constexpr uintptr_t kKindMask = 3;
constexpr uintptr_t kThreadMask = (uintptr_t{1} << 48) - 1 - kKindMask;
constexpr int kStampShift = 48;
static_assert(alignof(GreenThread) > kKindMask, "the kind bits of pending_ need the alignment");
}  // namespace

void Carrier::signal_arrived(GreenThread* target, bool sa_restart) {
  if (!target) target = &root_;
  uint32_t stamp = target->handlers_ran.fetch_add(1, std::memory_order_acq_rel) + 1;
  const uintptr_t kind = sa_restart ? 2 : 1;
  const uintptr_t want = reinterpret_cast<uintptr_t>(target) | kind |
                         (static_cast<uintptr_t>(stamp & 0xFFFF) << kStampShift);
  uintptr_t cur = pending_.load(std::memory_order_relaxed);
  // The latest handler replaces the pending one, except that a plain
  // handler's interrupt for a thread is not weakened by a restarting one
  // (one interrupt per carrier between two scheduling points).
  do {
    if (sa_restart && (cur & kThreadMask) == (want & kThreadMask) && (cur & kKindMask) == 1) return;
  } while (!pending_.compare_exchange_weak(cur, want, std::memory_order_acq_rel,
                                           std::memory_order_relaxed));
}

uint64_t Carrier::wait_sigmask() {
  // A signal may reach this carrier while it sleeps only if a program
  // thread that does not block it could take it here: one that is not
  // running on another carrier (a thread running elsewhere takes it there;
  // were it let through here, the thread's blocking call would not see it).
  uint32_t live = pool_->live();
  uint32_t elsewhere[64] = {};
  int n = pool_->slots();
  for (int i = 0; i < n; i++) {
    Carrier* x = pool_->slot(i);
    if (!x || x == this) continue;
    for (uint64_t m = x->running_takes(); m; m &= m - 1) elsewhere[__builtin_ctzll(m)]++;
  }
  uint64_t block = 0;
  for (int bit = 0; bit < 64; bit++) {
    uint32_t takers = live - pool_->blocked(bit);
    if (takers <= elsewhere[bit] || takers > live) block |= uint64_t{1} << bit;
  }
  // glibc's own signals are aimed at this OS thread itself (setuid()'s
  // broadcast waits for every thread to take one): never held back.
  return block & ~glibc::kInternalSignals & ~g_wait_unblocked;
}

GreenThread* Carrier::process_signal_target(int sig) {
  if (sig < 1 || sig > 64) return nullptr;
  uint64_t bit = uint64_t{1} << (sig - 1);
  // The kernel prefers the main thread: a pool's first carrier's root,
  // wherever it runs (the caller holds it while it handles, or sends the
  // signal on to the carrier it runs on).
  Carrier* first = pool_->slot(0);
  if (first && !first->root_.internal && !(first->root_.sigmask & bit)) return &first->root_;
  GreenThread* run = signal_safe_running();
  if (run && !run->internal && !(run->sigmask & bit)) return run;
  // In a signal handler: the interrupted code may hold the lock.
  if (!intr_lock_.try_lock()) return nullptr;
  GreenThread* found = nullptr;
  for (GreenThread* g = interruptible_; g && !found; g = g->intr_next)
    if (!(g->sigmask & bit) && g->interrupt && g->interrupt->by_signal) found = g;
  intr_lock_.unlock();
  return found;
}

bool Carrier::set_interrupt(GreenThread* g, InterruptHook* h) {
  if (h) {
    if (!h->since_given) h->since = g->handlers_ran.load(std::memory_order_acquire);
    h->by_cancel = g->cancel_point;
    SpinGuard guard(intr_lock_);
    if (!g->interrupt) {
      g->intr_owner.store(this, std::memory_order_seq_cst);
      g->intr_prev = nullptr;
      g->intr_next = interruptible_;
      if (interruptible_) interruptible_->intr_prev = g;
      interruptible_ = g;
    }
    g->interrupt = h;
    // With intr_owner published first, either cancel_wait() sees the hook
    // or we see its request (both sides sequentially consistent).
    return !(h->by_cancel && g->cancel_requested.load(std::memory_order_seq_cst));
  }
  // Ended, perhaps on another carrier than the one whose list has g. A
  // handler firing g's hook holds that list's lock until the hook returned:
  // taking it keeps the hook's frame alive until then.
  for (;;) {
    Carrier* owner = g->intr_owner.load(std::memory_order_acquire);
    if (!owner) return true;
    SpinGuard guard(owner->intr_lock_);
    if (g->intr_owner.load(std::memory_order_relaxed) != owner) continue;
    if (g->interrupt) owner->unlink_interruptible(g);
    g->interrupt = nullptr;
    g->intr_owner.store(nullptr, std::memory_order_release);
    return true;
  }
}

bool Carrier::cancel_wait(GreenThread* g) {
  for (;;) {
    Carrier* owner = g->intr_owner.load(std::memory_order_seq_cst);
    if (!owner) return false;  // not in a hooked wait: it sees the request itself
    SpinGuard guard(owner->intr_lock_);
    if (g->intr_owner.load(std::memory_order_relaxed) != owner) continue;
    InterruptHook* h = g->interrupt;
    if (!h || !h->by_cancel) return false;
    owner->unlink_interruptible(g);
    g->interrupt = nullptr;
    // Under the lock, as in deliver_interrupt().
    h->fire(h);
    g->intr_owner.store(nullptr, std::memory_order_release);
    return true;
  }
}

void Carrier::unlink_interruptible(GreenThread* g) {
  if (g->intr_prev)
    g->intr_prev->intr_next = g->intr_next;
  else
    interruptible_ = g->intr_next;
  if (g->intr_next) g->intr_next->intr_prev = g->intr_prev;
  g->intr_prev = g->intr_next = nullptr;
}

void Carrier::deliver_interrupt() {
  uintptr_t v = pending_.exchange(0, std::memory_order_acq_rel);
  if (!v) return;
  auto* target = reinterpret_cast<GreenThread*>(v & kThreadMask);
  const int sig = static_cast<int>(v & kKindMask);
  // The count after the handler, as it was then: a restarting handler that
  // ran for the thread since must not make this one end a later wait.
  const auto stamp = static_cast<uint16_t>(v >> kStampShift);
  // The wait may have started on another carrier (the thread moved there
  // before it parked): its hook is on that carrier's list.
  Carrier* owner = target->intr_owner.load(std::memory_order_acquire);
  if (!owner) return;  // not in an interruptible wait
  SpinGuard guard(owner->intr_lock_);
  if (target->intr_owner.load(std::memory_order_relaxed) != owner) return;
  InterruptHook* h = target->interrupt;
  if (!h || !h->by_signal || (sig == 2 && h->restartable)) return;
  // The handler ran before this wait began: it is not the wait's to end.
  if (static_cast<int16_t>(static_cast<uint16_t>(stamp - static_cast<uint16_t>(h->since))) <= 0)
    return;
  owner->unlink_interruptible(target);
  target->interrupt = nullptr;
  target->run_next.store(true, std::memory_order_relaxed);
  // Under the lock: the thread, woken meanwhile by something else, cannot
  // leave its wait (set_interrupt) and drop the hook before fire returns.
  h->fire(h);
  target->intr_owner.store(nullptr, std::memory_order_release);
}

void Carrier::arm_timer(Timer* t) {
  SpinGuard guard(service_lock_);
  t->owner = this;
  timers_.arm(t);
  timers_count_.store(static_cast<uint32_t>(timers_.size()), std::memory_order_relaxed);
}

bool Carrier::cancel_timer(Timer* t) {
  auto* owner = static_cast<Carrier*>(t->owner);
  if (!owner) return false;
  // Taking the lock also waits for a fire of t that is under way (fires run
  // under it), after which t may go out of scope.
  SpinGuard guard(owner->service_lock_);
  bool was = owner->timers_.cancel(t);
  owner->timers_count_.store(static_cast<uint32_t>(owner->timers_.size()),
                             std::memory_order_relaxed);
  return was;
}

size_t Carrier::timers_armed() {
  SpinGuard guard(service_lock_);
  return timers_.size();
}

bool Carrier::has_pending_work() const {
  return !runq_.empty() || overflow_n_.load(std::memory_order_relaxed) > 0 ||
         timers_count_.load(std::memory_order_relaxed) > 0 || backend_->inflight() > 0 ||
         remote_pending_.load(std::memory_order_relaxed) ||
         pending_.load(std::memory_order_relaxed) != 0 ||
         frames_.load(std::memory_order_relaxed) != nullptr;
}

bool Carrier::mark_stuck() {
  bool expected = false;
  return stuck_.compare_exchange_strong(expected, true, std::memory_order_acq_rel);
}

void Carrier::clear_stuck() {
  // Under the service lock: a carrier serving us finishes its pass first.
  SpinGuard guard(service_lock_);
  if (stuck_.exchange(false, std::memory_order_acq_rel)) pool_->note_stuck(-1);
}

bool Carrier::serve_timers_and_ring(bool) {
  bool any = false;
  if (!timers_.empty()) any |= timers_.fire_due(mono_ns()) > 0;
  timers_count_.store(static_cast<uint32_t>(timers_.size()), std::memory_order_relaxed);
  if (backend_->inflight() > 0) {
    stats_.polls++;
    any |= backend_->poll() > 0;
  }
  return any;
}

void Carrier::serve_stuck() {
  int n = pool_->slots();
  for (int i = 0; i < n; i++) {
    Carrier* x = pool_->slot(i);
    if (!x || x == this || !x->is_stuck() || x->idle()) continue;
    // A handler that ran on x (for a thread parked in an interruptible
    // wait) while its thread computes: end that wait now, not when the
    // computation ends. Not under x's service lock: ending a ring wait
    // queues a cancel on the ring it waits in, which takes that lock.
    if (x->pending_.load(std::memory_order_acquire) != 0) x->deliver_interrupt();
    // Signal frames posted there run here.
    if (x->frames_.load(std::memory_order_acquire) != nullptr && takes_work()) take_frames(x);
    if (!x->service_lock_.try_lock()) continue;
    // Under x's lock: x is not in its ring wait (it sets idle_ under this
    // lock), so its ring and timers are ours until we unlock.
    if (x->is_stuck() && !x->idle()) {
      x->serve_timers_and_ring(false);
      stats_.served++;
    }
    x->service_lock_.unlock();
    // And half its queued threads: a busy carrier steals nothing of its
    // own accord, and none may wait behind the stuck thread (docs/design.md,
    // "Hand-off").
    if (takes_work() && x->is_stuck()) {
      uint32_t got = take_from(x, batch_);
      for (uint32_t k = 0; k < got; k++) push_local(batch_[k]);
    }
  }
}

GreenThread* Carrier::look_around() {
  if (__builtin_expect(stuck_.load(std::memory_order_relaxed), 0)) clear_stuck();
  drain_remote();
  {
    SpinGuard guard(service_lock_);
    serve_timers_and_ring(false);
  }
  if (pool_->stuck() > 0) serve_stuck();
  bool takes = takes_work();
  if ((++picks_ % kGlobalTurn == 0 || runq_.empty()) && takes) {
    if (GreenThread* g = pool_->pop_global()) return g;
  }
  if (GreenThread* g = pop_ready()) return g;
  if (pool_->slots() > 1 && takes) return steal();
  return nullptr;
}

GreenThread* Carrier::pop_ready() {
  if (__builtin_expect(overflow_n_.load(std::memory_order_relaxed) > 0, 0)) refill();
  if (!pinned_ready_.empty()) {
    // A pinned thread goes when the entries queued ahead of it have.
    if (static_cast<int32_t>(runq_.head() - pinned_ready_.front()->ready_seq) >= 0)
      return pinned_ready_.pop();
    if (GreenThread* g = runq_.pop()) return g;
    return pinned_ready_.pop();
  }
  return runq_.pop();
}

void Carrier::refill() {
  SpinGuard guard(overflow_lock_);
  uint32_t n = overflow_n_.load(std::memory_order_relaxed);
  while (n > 0 && runq_.size() < RunQueue::kSize) {
    runq_.push(overflow_.pop());
    n--;
  }
  overflow_n_.store(n, std::memory_order_relaxed);
}

uint32_t Carrier::steal_overflow(GreenThread** out, uint32_t max) {
  if (overflow_n_.load(std::memory_order_relaxed) == 0) return 0;
  SpinGuard guard(overflow_lock_);
  uint32_t n = overflow_n_.load(std::memory_order_relaxed);
  uint32_t take = n - n / 2;
  if (take > max) take = max;
  for (uint32_t i = 0; i < take; i++) out[i] = overflow_.pop();
  overflow_n_.store(n - take, std::memory_order_relaxed);
  return take;
}

uint32_t Carrier::steal_remote(GreenThread** out, uint32_t max) {
  if (!remote_pending_.load(std::memory_order_acquire)) return 0;
  SpinGuard guard(remote_lock_);
  // Pinned threads stay, in their order.
  ThreadFifo keep;
  uint32_t n = 0;
  while (GreenThread* g = remote_.pop()) {
    if (n < max && !g->pinned.load(std::memory_order_relaxed))
      out[n++] = g;
    else
      keep.push(g);
  }
  remote_.append(keep);
  if (remote_.empty()) remote_pending_.store(false, std::memory_order_relaxed);
  return n;
}

uint32_t Carrier::take_from(Carrier* x, GreenThread** batch) {
  uint32_t got = x->runq_.steal(batch, RunQueue::kSize / 2);
  if (got == 0) got = x->steal_overflow(batch, RunQueue::kSize / 2);
  // Threads readied into a carrier's remote queue (packed: to the primary)
  // just before it got stuck.
  if (got == 0 && x->is_stuck()) got = x->steal_remote(batch, RunQueue::kSize / 2);
  if (got == 0) return 0;
  stats_.steals += got;
  pool_->stats().steals.fetch_add(got, std::memory_order_relaxed);
  return got;
}

GreenThread* Carrier::steal() {
  // Half of the first non-empty queue after ours, in slot order, as Go's
  // findrunnable does (it starts at a random carrier; a rotating start
  // spreads thieves just as well).
  GreenThread** batch = batch_;
  int n = pool_->slots();
  for (int k = 1; k < n; k++) {
    Carrier* x = pool_->slot((slot_ + k) % n);
    if (!x || x == this) continue;
    // Packed, only a stuck carrier's queue is taken.
    if (pool_->packed() && !x->is_stuck()) continue;
    uint32_t got = take_from(x, batch);
    if (got == 0) continue;
    for (uint32_t i = 1; i < got; i++) push_local(batch[i]);
    return batch[0];
  }
  return nullptr;
}

void Carrier::stop_root() {
  GreenThread* r = &root_;
  // Only a root that is parked in serve() (not already readied) is readied.
  GreenState parked = GreenState::kParked;
  if (r->state.compare_exchange_strong(parked, GreenState::kRunnable, std::memory_order_acq_rel))
    push_remote(r);
}

void Carrier::leave() {
  Carrier* c = tls_current_;
  if (!c) return;
  c->left_.store(true, std::memory_order_release);
  c->pool_->detach(c);
  tls_current_ = nullptr;
}

void Carrier::wait_for_work() {
  // Stop looking before the last check, so that whoever makes work visible
  // after it sees no carrier looking and wakes one.
  if (spinning_.exchange(false, std::memory_order_seq_cst)) pool_->done_spinning();
  service_lock_.lock();
  idle_.store(true, std::memory_order_seq_cst);
  pool_->set_idle(this, true);
  // Re-check after announcing: whoever made work visible before seeing us
  // idle did not wake us.
  if (remote_pending_.load(std::memory_order_seq_cst) ||
      frames_.load(std::memory_order_seq_cst) != nullptr ||
      (takes_work() && (!pool_->global_empty() || pool_->work_elsewhere(this)))) {
    idle_.store(false, std::memory_order_relaxed);
    pool_->set_idle(this, false);
    service_lock_.unlock();
    return;
  }
  int64_t deadline = timers_.next_deadline();
  if (spare_.load(std::memory_order_relaxed) && !retired_.load(std::memory_order_relaxed)) {
    // A spare with nothing of its own retires after a while without work,
    // at once when the monitor has found it surplus.
    bool surplus = drain_to_.load(std::memory_order_relaxed) != nullptr;
    if (timers_.empty() && backend_->inflight() == 0 && (surplus || pool_->stuck() == 0)) {
      int64_t now = mono_ns();
      if (idle_since_ == 0) idle_since_ = now;
      if (surplus || now - idle_since_ >= kSpareRetireNs) {
        retired_.store(true, std::memory_order_release);
        drain_to_.store(nullptr, std::memory_order_relaxed);
        idle_since_ = 0;
        pool_->spare_retired();
        // A wake-up meant for us while we decided goes to another carrier.
        pool_->wake_idle(this);
      } else if (deadline < 0 || idle_since_ + kSpareRetireNs < deadline) {
        deadline = idle_since_ + kSpareRetireNs;
      }
    } else {
      idle_since_ = 0;
    }
  }
  if (pool_->stuck() > 0 && takes_work()) {
    // Someone is stuck: come back soon to serve its timers and ring.
    int64_t soon = mono_ns() + kServeIntervalNs;
    if (deadline < 0 || soon < deadline) deadline = soon;
  }
  backend_->prepare_wait();
  service_lock_.unlock();
  stats_.waits++;
  // Wait with the signals that some green thread would take let through,
  // not only those of the thread that ran last.
  uint64_t mask = wait_sigmask();
  sleep_mask_.store(mask, std::memory_order_seq_cst);
  // Pairs with Pool::hold_back: a mask change that left a signal blocked by
  // every thread after the computation above is seen here, or it sees
  // sleep_mask_ and wakes this carrier.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (uint64_t all =
          pool_->blocked_by_all() & ~mask & ~glibc::kInternalSignals & ~g_wait_unblocked) {
    mask |= all;
    sleep_mask_.store(mask, std::memory_order_seq_cst);
  }
  int rc = backend_->wait(deadline, mask == applied_sigmask_ ? nullptr : &mask);
  sleep_mask_.store(~uint64_t{0}, std::memory_order_seq_cst);
  sleeps_.fetch_add(1, std::memory_order_release);
  service_lock_.lock();
  idle_.store(false, std::memory_order_relaxed);
  pool_->set_idle(this, false);
  // Dispatch what woke us and whatever else the kernel holds by now, so one
  // wake-up reaps a whole batch.
  backend_->poll();
  if (!timers_.empty()) timers_.fire_due(mono_ns());
  timers_count_.store(static_cast<uint32_t>(timers_.size()), std::memory_order_relaxed);
  service_lock_.unlock();
  if (rc == -EINTR) interrupts_++;
}

uint64_t Carrier::scheduler_sigmask() {
  uint64_t all = ~uint64_t{0};
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT})
    all &= ~(uint64_t{1} << (sig - 1));
  // Never glibc's own (setuid() waits for every OS thread to take one).
  return all & ~glibc::kInternalSignals;
}

GreenThread* Carrier::idle_context() {
  if (root_.internal) return &root_;
  if (idle_ctx_) return idle_ctx_;
  Stack s;
  // Room for its TLS block too, which may be large (a program's own
  // __thread arrays, glibc.rtld.optional_static_tls).
  size_t size = kIdleStackSize + (g_tp_ops ? g_tp_ops->block_bytes() : 0);
  if (stacks_.acquire(size, &s) < 0) return nullptr;
  san_fresh_stack(s.lo, s.size);
  auto* g = new (std::nothrow) GreenThread;
  if (!g) {
    stacks_.release(s);
    return nullptr;
  }
  g->carrier.store(this, std::memory_order_relaxed);
  g->home = this;
  g->pool = pool_;
  g->pinned.store(true, std::memory_order_relaxed);
  g->internal = true;
  g->id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  g->stack = s;
  g->entry = &Carrier::idle_loop;
  g->arg = this;
  // A signal comes while it runs only through wait_sigmask() in the wait.
  g->sigmask = scheduler_sigmask();
  void* hi = s.hi();
  if (g_tp_ops) {
    // Its own thread pointer: the root, whose block is the OS thread's,
    // may be running on another carrier meanwhile.
    g->tp = g_tp_ops->create(os_tp_, s.lo, &hi, g->id, &g->tls_gen);
    if (!g->tp) {
      stacks_.release(s);
      delete g;
      return nullptr;
    }
  }
  g->sp = context_init(hi, &Carrier::entry_trampoline, g);
  g->tsan_fiber = tsan_create_fiber();
  idle_ctx_ = g;
  return g;
}

void* Carrier::idle_loop(void* arg) {
  auto* c = static_cast<Carrier*>(arg);
  for (;;) c->park();
}

GreenThread* Carrier::pick_next() {
  GreenThread* g = find_next();
  if (__builtin_expect(spinning_.load(std::memory_order_relaxed), 0)) {
    // Woken to look for work and found some: stop looking, and if there is
    // more, let another idle carrier help.
    spinning_.store(false, std::memory_order_relaxed);
    pool_->done_spinning();
    if (!pool_->packed() && (pool_->work_elsewhere(this) || !runq_.empty())) pool_->wake_idle(this);
  }
  return g;
}

GreenThread* Carrier::find_next() {
  for (;;) {
    if (__builtin_expect(frames_.load(std::memory_order_relaxed) != nullptr, 0)) take_frames(this);
    if (__builtin_expect(pending_.load(std::memory_order_relaxed) != 0, 0)) deliver_interrupt();
    if (++since_poll_ < kPollInterval) {
      if (GreenThread* g = pop_ready()) return g;
    }
    since_poll_ = 0;
    GreenThread* g = look_around();
    if (g) {
      idle_since_ = 0;
      return g;
    }
    // Nothing runnable anywhere. Sleep only on a stack no other carrier
    // can resume meanwhile: the running thread's if it is pinned here, else
    // the idle context's (always when the running thread has exited: it
    // may be freed).
    if (leaving_dead_ ||
        !(running_->pinned.load(std::memory_order_relaxed) && running_->home == this)) {
      if (GreenThread* idle = idle_context()) return idle;
    }
    wait_for_work();
  }
}

namespace {
// switch_to's wait for a thread another carrier still holds: this many
// pause instructions (a few microseconds), then sched_yield between tries,
// this many times, then short sleeps.
constexpr uint32_t kSpinsBeforeYield = 1000;
constexpr uint32_t kYieldsBeforeSleep = 64;
}  // namespace

void Carrier::switch_to(GreenThread* next) {
  GreenThread* prev = running_;
  // It may still be leaving the carrier it parked on (ready() can come
  // before its park() has switched away), or a signal handler may be
  // running as it on another carrier: wait until no one holds it. But not
  // while standing on a stack that can be stolen: the carrier holding
  // `next` may itself be waiting for prev (each parked, each readied into
  // the other's queue). Then requeue `next` and wait on the idle context.
  bool free_now = false;
  if (!next->on_cpu.compare_exchange_strong(free_now, true, std::memory_order_acquire)) {
    bool safe_here =
        leaving_dead_ || (prev->pinned.load(std::memory_order_relaxed) && prev->home == this);
    GreenThread* idle = safe_here ? nullptr : idle_context();
    if (idle && idle != next) {
      push_local(next);
      next = idle;
    }
    // Whoever holds it lets go within a few instructions of its own, unless
    // its OS thread has lost its CPU (a machine busier than it has cores):
    // then give the CPU away rather than spin through the time slice that
    // OS thread may be waiting for (a Ruby Mutex/ConditionVariable hand-over
    // between two carriers took 1-2 ms a round on a loaded 2-core machine).
    // A real-time carrier's sched_yield never lets a holder of lower
    // priority run on its CPU: after a while it sleeps instead (50 us).
    for (uint32_t spins = 0;; spins++) {
      bool f = false;
      if (next->on_cpu.compare_exchange_weak(f, true, std::memory_order_acquire)) break;
      if (spins < kSpinsBeforeYield) {
        arch::cpu_relax();
      } else if (spins < kSpinsBeforeYield + kYieldsBeforeSleep) {
        gh::sys(SYS_sched_yield);
      } else {
        timespec ts{0, 50'000};
        gh::sys(SYS_nanosleep, &ts, nullptr);
      }
    }
  }
  if (__builtin_expect(next->held != 0, 0)) {
    // A signal frame runs on its stack (make_frame): it runs when the
    // frame has ended, which queues it again.
    next->held = 2;
    next->on_cpu.store(false, std::memory_order_release);
    // Held by the very frame that is ending here: the idle context finishes
    // that frame (after_switch), which puts `next` first, and then runs it.
    // Picking another thread instead would run that one before `next` goes
    // on from its handler, and a thread signalled again and again by the one
    // running (a stop-the-world collector) would never get back to its code.
    GreenThread* idle = nullptr;
    if (leaving_dead_ && dead_frame_ && dead_frame_->frame_of == next) idle = idle_context();
    GreenThread* other = idle && idle != prev ? idle : pick_next();
    if (other == prev) {  // not while leaving a dead thread: it is in no queue
      prev->state.store(GreenState::kRunning, std::memory_order_relaxed);
      if (!prev->internal) count_run();
      return;
    }
    switch_to(other);
    return;
  }
  next->carrier.store(this, std::memory_order_relaxed);
  // A signal handler that interrupts this carrier from here until the new
  // stack is in place finds running_ == next but is on prev's stack.
  switching_ = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  running_ = next;
  running_takes_.store(next->internal ? 0 : ~next->sigmask, std::memory_order_relaxed);
  next->state.store(GreenState::kRunning, std::memory_order_relaxed);
  if (__builtin_expect(next->run_next.load(std::memory_order_relaxed), 0))
    next->run_next.store(false, std::memory_order_relaxed);
  stats_.switches++;
  ticks_.store(stats_.switches, std::memory_order_relaxed);
  if (!next->internal) count_run();
  // CPU time: prev's run ends, next's begins (core/cpu_time.h). cpu_since
  // is cleared before the total grows, so that a reader on another thread
  // that sees the new total does not add the ended run twice.
  uint64_t tick = cpu_time::now();
  if (!leaving_dead_ && !prev->internal) {
    uint64_t since = prev->cpu_since.load(std::memory_order_relaxed);
    prev->cpu_since.store(0, std::memory_order_relaxed);
    uint64_t ran = since != 0 && tick > since ? tick - since : 0;
    prev->cpu_ticks.store(prev->cpu_ticks.load(std::memory_order_relaxed) + ran,
                          std::memory_order_release);
  }
  if (!next->internal) next->cpu_since.store(tick, std::memory_order_release);
  void* tp = next->tp ? next->tp : os_tp_;
  void** save;
  void** fake;
  GreenThread* left;
  if (leaving_dead_) {
    // prev may already be freed by its joiner on another carrier: touch
    // nothing of it.
    save = &dead_sp_;
    fake = nullptr;
    left = nullptr;
  } else {
    void* prev_tp = prev->tp ? prev->tp : os_tp_;
    if (prev_tp == tp) {
      // Both use one TLS block: keep prev's errno aside.
      prev->saved_errno = errno;
      prev->errno_saved = true;
    }
    save = &prev->sp;
    fake = &prev->asan_fake_stack;
    left = prev;
  }
  if (next->tp && next->tp != os_tp_) {
    // A root's block is the C library's own thread's: it keeps it current.
    uint64_t gen = g_tls_generation.load(std::memory_order_acquire);
    if (__builtin_expect(next->tls_gen != gen, 0))
      next->tls_gen = g_tp_ops->refresh(tp, next->tls_gen);
  }
  if (tp != applied_tp_) {
    arch::set_thread_pointer(tp);
    applied_tp_ = tp;
  }
  tls_current_ = this;  // the carrier, as seen from next's TLS
  switched_from_ = left;
  const Stack& to = next->is_root() ? next->os_stack : next->stack;
  san_start_switch(fake, to.lo, to.size);
  tsan_switch_to(next->tsan_fiber);
  gh_context_switch(save, next->sp);
  // Resumed: we are prev again, on prev's stack, on whichever carrier
  // switched to us (it wrote itself into prev->carrier).
  prev->current_carrier()->after_switch();
}

void Carrier::after_switch() {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  switching_ = false;
  GreenThread* cur = running_;
  san_finish_switch(cur->asan_fake_stack);
  GreenThread* left = switched_from_;
  switched_from_ = nullptr;
  if (left) left->on_cpu.store(false, std::memory_order_release);
  if (leaving_dead_) {
    leaving_dead_ = false;
    // The TLS block lies in the stack: free it before the stack goes back.
    if (dead_tp_) g_tp_ops->destroy(dead_tp_);
    dead_tp_ = nullptr;
    tsan_destroy_fiber(dead_fiber_);
    dead_fiber_ = nullptr;
    if (dead_stack_.lo) stacks_.release(dead_stack_);
    dead_stack_ = Stack{};
    delete dead_thread_;
    dead_thread_ = nullptr;
    if (GreenThread* f = dead_frame_) {
      dead_frame_ = nullptr;
      finish_frame(f);
    }
  }
  if (cur->errno_saved) {
    errno = cur->saved_errno;
    cur->errno_saved = false;
  }
  // next's mask, once it is current and on its own stack: a signal it lets
  // through that is pending on this OS thread (one kept for later) comes at
  // the system call's return and goes to it. Set in the middle of the
  // switch, such a signal found the carrier switching and was kept again,
  // at every switch (two threads yielding on one carrier never got it).
  // Recorded before the call: keeping a signal from within it marks the
  // carrier behind again.
  GreenThread* now = running_;
  if (__builtin_expect(now->sigmask != applied_sigmask_, 0)) {
    uint64_t want = now->sigmask;
    applied_sigmask_ = want;
    behind_since_.store(0, std::memory_order_relaxed);
    kick_sent_.store(false, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    gh::sys(SYS_rt_sigprocmask, SIG_SETMASK, &want, nullptr, sizeof want);
  }
}

void Carrier::schedule() {
  GreenThread* next = pick_next();
  if (next == running_) {
    next->state.store(GreenState::kRunning, std::memory_order_relaxed);
    if (!next->internal) count_run();
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
  GreenThread* me = running_;
  me->state.store(GreenState::kRunnable, std::memory_order_relaxed);
  enqueue(me);
  schedule();
}

Carrier* Carrier::go_home() {
  GreenThread* me = running_;
  me->pinned.store(true, std::memory_order_relaxed);
  if (me->home == this) return this;
  // Queue ourselves on the home carrier and leave this one; the home
  // carrier waits for the switch away to finish (on_cpu) before it resumes
  // us there.
  me->state.store(GreenState::kRunnable, std::memory_order_relaxed);
  me->home->push_remote(me);
  GreenThread* next = pick_next();
  if (next != me) switch_to(next);
  return me->current_carrier();
}

void Carrier::entry_trampoline(void* arg) {
  auto* g = static_cast<GreenThread*>(arg);
  g->current_carrier()->after_switch();
  errno = 0;
  void* result = g->entry(g->arg);
  g->current_carrier()->exit_current(result);
}

void Carrier::exit_current(void* result) {
  GreenThread* g = running_;
  GH_DCHECK(!g->is_root(), "the root green thread ending through exit_current()");
  if (g_exit_hook) g_exit_hook(g);
  // The exit hook may have parked: the thread may be on another carrier.
  Carrier* c = g->current_carrier();
  c->exit_here(g, result);
}

void Carrier::exit_here(GreenThread* g, void* result) {
  uint64_t all_before = pool_->blocked_by_all();
  pool_->add_live(-1);
  pool_->count_mask(g->sigmask, -1);
  // The last thread that let a signal through has gone.
  pool_->hold_back(pool_->blocked_by_all() & ~all_before, this);
  // A stack the program provided (pthread_attr_setstack) stays the program's.
  dead_stack_ = g->pooled_stack ? g->stack : Stack{};
  dead_tp_ = g->tp;
  dead_fiber_ = g->tsan_fiber;
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
  if (pool_->live() <= 1) {
    if (Waiter* w = pool_->drain_waiter.exchange(nullptr, std::memory_order_seq_cst)) wake(w);
  }
  // Not schedule(): g may be freed by now, and a thread made meanwhile may
  // have g's address, which must not read as "g itself, keep running".
  switch_to(pick_next());
  __builtin_unreachable();
}

void Carrier::drain() {
  Pool* pool = pool_;
  GreenThread* me = running_;
  while (pool->live() > 1) {
    Waiter w;
    w.g = me;
    pool->drain_waiter.store(&w, std::memory_order_seq_cst);
    if (pool->live() <= 1) {
      // The last one left before it could see us: take the waiter back,
      // unless it already took it (then its wake is on the way).
      Waiter* expected = &w;
      if (pool->drain_waiter.compare_exchange_strong(expected, nullptr, std::memory_order_seq_cst))
        break;
    }
    park_waiter(w, kNoDeadline, "drain");
  }
}

void Carrier::serve() {
  // The root of a worker or spare: an idle context. Readied only to stop.
  while (!pool_->stopping()) park();
}

// Signal frames (docs/design.md, "Handlers on the thread's own stack").

namespace {
// Left free below the held context's saved frame (more than the x86-64 red
// zone), and the least stack a frame context gets: room for the handler and,
// if it parks, the scheduler, about what the kernel's own signal frame and
// a small handler need on a thread made with a small stack (16 KiB is
// PTHREAD_STACK_MIN). Sanitizer builds use several times more stack.
constexpr uintptr_t kFrameGap = 256;
#if defined(GH_ASAN) || defined(GH_TSAN)
constexpr uintptr_t kFrameMinStack = 32 * 1024;
#else
constexpr uintptr_t kFrameMinStack = 8 * 1024;
#endif
// A root's stack bounds are known only in sanitizer builds: its frame
// context gets this much below its saved frame (a main thread's stack grows
// on demand).
constexpr uintptr_t kRootFrameStack = 256 * 1024;
// A thread parked on a stack of its program's own making (makecontext, a
// coroutine library, a JIT's stack: its saved frame is outside the stack
// the runtime gave it): how big that stack is, and whether the handler
// would natively run on the thread's sigaltstack instead, is unknown. Its
// frame goes to the bottom of the thread's own stack, this much of it, which
// the thread's own frames (above, where it left that stack) do not reach
// unless they nearly overflow it; only on a stack of at least
// kForeignMinOwnStack.
constexpr uintptr_t kForeignFrameStack = 64 * 1024;
constexpr uintptr_t kForeignMinOwnStack = 512 * 1024;
}  // namespace

GreenThread* Carrier::make_frame(GreenThread* g, uint64_t mask, size_t extra, void** extra_out,
                                 uintptr_t alt_lo, uintptr_t alt_top) {
  auto sp = reinterpret_cast<uintptr_t>(g->sp);
  if (!sp || g->internal || g->frame_top) return nullptr;
  const Stack& s = g->is_root() ? g->os_stack : g->stack;
  uintptr_t lo = reinterpret_cast<uintptr_t>(s.lo);
  if (alt_top) {
    if (alt_top <= alt_lo) return nullptr;
    lo = alt_lo;
    sp = alt_top;
  } else if (!lo) {
    if (!g->is_root() || sp < kRootFrameStack + kFrameGap) return nullptr;
    lo = sp - kRootFrameStack;
  } else if (sp <= lo || sp > lo + s.size) {
    if (g->is_root() || s.size < kForeignMinOwnStack) return nullptr;
    sp = lo + kForeignFrameStack;
  }
  if (sp - lo < kFrameGap + extra + sizeof(GreenThread) + kFrameMinStack + 128) return nullptr;
  uintptr_t rec = (sp - kFrameGap - extra) & ~uintptr_t{63};
  uintptr_t at = (rec - sizeof(GreenThread)) & ~uintptr_t{63};
  auto* f = ::new (reinterpret_cast<void*>(at)) GreenThread();
  f->pool = g->pool;
  f->id = g->id;
  // A root whose thread pointer is its home OS thread's keeps it.
  f->tp = g->tp ? g->tp : (g->home ? g->home->os_tp() : nullptr);
  f->tls_gen = g->tls_gen;
  f->user = g->user;
  f->home = g->home;
  f->pinned.store(g->pinned.load(std::memory_order_relaxed), std::memory_order_relaxed);
  f->frame_of = g;
  f->sigmask = mask;
  f->carrier.store(g->current_carrier(), std::memory_order_relaxed);
  f->stack = Stack{reinterpret_cast<void*>(lo), at - lo};
  f->pooled_stack = false;
  memcpy(f->name, g->name, sizeof f->name);
  f->sp = context_init(reinterpret_cast<void*>(at), &Carrier::frame_trampoline, f);
  // The thread's mask is the frame's while it runs (what Pool counts).
  g->pool->count_mask(g->sigmask, -1);
  g->pool->count_mask(mask, +1);
  g->frame_top = f;
  g->held = 1;
  *extra_out = reinterpret_cast<void*>(rec);
  return f;
}

void Carrier::post_frame(GreenThread* f) {
  GreenThread* head = frames_.load(std::memory_order_relaxed);
  do {
    f->next = head;
  } while (!frames_.compare_exchange_weak(head, f, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
  // About to sleep (or asleep, the signal having come before its wait):
  // the wait must end. The ring's wake-up is a write(2), signal-safe.
  if (idle_.load(std::memory_order_seq_cst)) backend_->wake();
}

void Carrier::start_frame(GreenThread* f) {
  f->tsan_fiber = tsan_create_fiber();
  requeue(f);
  // Natively the handler runs at once, alongside whatever the sender does
  // next: an idle carrier takes it now.
  if (!f->pinned.load(std::memory_order_relaxed) && !pool_->packed()) pool_->wake_idle(this);
}

void Carrier::take_frames(Carrier* from) {
  GreenThread* f = from->frames_.exchange(nullptr, std::memory_order_acquire);
  GreenThread* oldest = nullptr;
  while (f) {  // posted newest first
    GreenThread* n = f->next;
    f->next = oldest;
    oldest = f;
    f = n;
  }
  while (GreenThread* g = oldest) {
    oldest = g->next;
    g->next = nullptr;
    g->tsan_fiber = tsan_create_fiber();
    requeue(g);
  }
}

void Carrier::requeue(GreenThread* g) {
  if (g->pinned.load(std::memory_order_relaxed)) {
    if (g->home == this)
      push_local(g);
    else
      g->home->push_remote(g);
    return;
  }
  if (g->pool == pool_) {
    enqueue(g);
    return;
  }
  g->pool->push_global(g);
  g->pool->wake_idle(nullptr);
}

void Carrier::frame_trampoline(void* arg) {
  auto* f = static_cast<GreenThread*>(arg);
  f->current_carrier()->after_switch();
  f->entry(f->arg);
  f->current_carrier()->end_frame();
}

void Carrier::end_frame() {
  GreenThread* f = running_;
  GreenThread* x = f->frame_of;
  // Its CPU time is its thread's (x does not run meanwhile).
  uint64_t tick = cpu_time::now();
  uint64_t since = f->cpu_since.load(std::memory_order_relaxed);
  uint64_t ran = since != 0 && tick > since ? tick - since : 0;
  f->cpu_since.store(0, std::memory_order_relaxed);
  x->cpu_ticks.store(x->cpu_ticks.load(std::memory_order_relaxed) +
                         f->cpu_ticks.load(std::memory_order_relaxed) + ran,
                     std::memory_order_release);
  // Leave it as a dead thread's stack is left: nothing of it is touched
  // after the switch but in after_switch (finish_frame).
  dead_stack_ = Stack{};
  dead_tp_ = nullptr;
  dead_fiber_ = f->tsan_fiber;
  dead_thread_ = nullptr;
  dead_frame_ = f;
  leaving_dead_ = true;
  // x was picked while the frame held it (held 2): the idle context finishes
  // the frame (after_switch), which puts x first, and then runs it. Picking
  // another thread here would run that one before x goes on from its
  // handler, and a thread that the running one signals again and again (a
  // stop-the-world collector) would never get back to its own code. held is
  // read under x's on_cpu. Whoever holds that now may be picking x: here,
  // switch_to finds x held by this ending frame and does the same; on
  // another carrier x only comes first in the queue.
  GreenThread* next = nullptr;
  bool free_now = false;
  if (x->on_cpu.compare_exchange_strong(free_now, true, std::memory_order_acquire)) {
    bool picked = x->held == 2;
    x->on_cpu.store(false, std::memory_order_release);
    if (picked) next = idle_context();
  }
  switch_to(next ? next : pick_next());
  __builtin_unreachable();
}

void Carrier::finish_frame(GreenThread* f) {
  GreenThread* x = f->frame_of;
  // Frames that never returned (the frame entry's) keep their shadow.
  san_fresh_stack(f->stack.lo, f->stack.size);
  for (bool fr = false; !x->on_cpu.compare_exchange_weak(fr, true, std::memory_order_acquire);
       fr = false)
    arch::cpu_relax();
  // x's mask is what the frame left there (a handler's return mask).
  x->pool->count_mask(f->sigmask, -1);
  x->pool->count_mask(x->sigmask, +1);
  if (static_cast<int64_t>(f->tls_gen - x->tls_gen) > 0) x->tls_gen = f->tls_gen;
  x->frame_top = nullptr;
  uint8_t was = x->held;
  x->held = 0;
  x->on_cpu.store(false, std::memory_order_release);
  if (was == 2) {
    // Picked while held: it runs next, as a thread goes on at once when its
    // handler returns (behind the queue, a thread that is sent a signal
    // again and again would never run).
    if (x->pinned.load(std::memory_order_relaxed) || x->pool != pool_ ||
        overflow_n_.load(std::memory_order_relaxed) > 0 || !runq_.push_front(x))
      requeue(x);
  }
  if (g_frame_end_hook) g_frame_end_hook(x);
}

}  // namespace gh
