// SPDX-License-Identifier: MIT
// Signals: the program's handlers run through a trampoline that lets the
// carrier know a handler ran, so that a green thread parked in an
// interruptible call gets EINTR as a native blocked call would (signal(7):
// sleeps and waits for readiness always, socket calls unless SA_RESTART and
// no SO_*TIMEO). Inside a handler every hook passes through.
#include <setjmp.h>
#include <signal.h>
#include <sys/syscall.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/arch_x86_64.h"
#include "core/carrier.h"
#include "core/context.h"
#include "core/glibc_abi.h"
#include "core/pool.h"
#include "core/green.h"
#include "core/log.h"
#include "core/spinlock.h"
#include "core/sys.h"
#include "shim/alt_stack.h"
#include "shim/cancel.h"
#include "shim/control.h"
#include "shim/report.h"
#include "shim/signal_calls.h"
#include "shim/signalfd.h"
#include "shim/thread_registry.h"
#include "shim/stack_overflow.h"
#include "shim/state.h"
#include "shim/user_mem.h"

using namespace gh::shim;

namespace {
// Program signal handlers running on this OS thread (each also counts in
// t_bypass: hooks pass through inside a handler).
thread_local int t_handler_depth GH_TLS = 0;
// The program's handler running now asked for the alternate stack, which
// its thread has (call_handler): sigaltstack reports SS_ONSTACK.
thread_local bool t_handler_on_alt GH_TLS = false;

// What each handler running on this thread set aside (HandlerScope), by
// depth, for a siglongjmp out of it (leave_handlers_for): the hooks' state
// before it, and where it ran (the stack pointer at its start, and the
// alternate stack it ran on, if it did).
struct HandlerEntry {
  ShimThread* self;
  int bypass;
  bool on_alt;
  uintptr_t sp;
  uintptr_t alt_lo, alt_hi;
};
constexpr int kHandlerEntries = 8;
thread_local HandlerEntry t_handler_entries[kHandlerEntries] GH_TLS;
}  // namespace

namespace {

// Queues sig with its siginfo to OS thread tid of this process, or to the
// process when tid is 0. The kernel lets a thread queue a kill()- or
// kernel-style siginfo (si_code >= 0, or SI_TKILL) only to itself: to
// another thread, or to the process from other than the main OS thread, it
// goes as SI_QUEUE, with the sender's pid, uid and value kept. Leaves errno
// alone (it is the interrupted thread's). Returns whether it was queued.
bool queue_signal(long tid, int sig, siginfo_t* info) {
  long pid = gh::sys_ret(SYS_getpid);
  auto send = [&](siginfo_t* i) {
    return (tid ? gh::sys_ret(SYS_rt_tgsigqueueinfo, pid, tid, sig, i)
                : gh::sys_ret(SYS_rt_sigqueueinfo, pid, sig, i)) == 0;
  };
  if (send(info)) return true;
  siginfo_t copy = *info;
  copy.si_code = SI_QUEUE;
  return send(&copy);
}

// A signal the runtime sends to a carrier's OS thread for one green thread
// carries this si_code (the original one kept in si_errno, restored before
// the program's handler sees it): the target itself is in the carrier's
// slots (Carrier::set_signal_target), and a delivery that finds none was
// for a target an earlier delivery already took, not for the process.
constexpr int kDirectedCode = -60;

// A real-time signal queues one instance per send, and each comes in a
// delivery of its own: its target goes with it, in bytes of the siginfo
// that no layout of a real-time signal uses (the kernel copies them as
// they are), and is cleared before the program's handler sees them.
constexpr int kFirstRealtime = 32;
constexpr size_t kTargetOffset = 40;
static_assert(kTargetOffset + sizeof(void*) <= 48, "within the kernel's siginfo");

void put_target(siginfo_t* si, gh::GreenThread* g) {
  std::memcpy(reinterpret_cast<char*>(si) + kTargetOffset, &g, sizeof g);
}

gh::GreenThread* take_target(siginfo_t* si) {
  gh::GreenThread* g;
  std::memcpy(&g, reinterpret_cast<char*>(si) + kTargetOffset, sizeof g);
  std::memset(reinterpret_cast<char*>(si) + kTargetOffset, 0, sizeof g);
  return g;
}

}  // namespace

namespace gh::shim {
gh::GreenThread* send_directed(gh::Carrier* c, gh::GreenThread* target, int sig,
                               const siginfo_t* info, bool* sent) {
  const bool realtime = sig >= kFirstRealtime;
  gh::GreenThread* displaced = realtime ? nullptr : c->set_signal_target(sig, target);
  siginfo_t si = info ? *info : tkill_info(sig);
  si.si_errno = si.si_code;
  si.si_code = kDirectedCode;
  if (realtime) put_target(&si, target);
  long r = gh::sys_ret(SYS_rt_tgsigqueueinfo, gh::sys_ret(SYS_getpid), c->os_tid(), sig, &si);
  if (sent) *sent = r == 0;
  return displaced == target ? nullptr : displaced;
}

}  // namespace gh::shim

namespace {

// A signal aimed at green thread `target` (pthread_kill), or a
// process-directed one that `target` should take, reached `here`, but the
// target runs on carrier `there`: sends it there (send_directed). Returns
// false if it cannot (there is here; the caller then handles it here).
bool forward_signal(gh::Carrier* here, gh::GreenThread* target, int sig, siginfo_t* info,
                    gh::Carrier* there) {
  if (!there || there == here) return false;
  bool sent = false;
  // A target displaced there (all its slots in use) comes back here.
  if (gh::GreenThread* d = send_directed(there, target, sig, info, &sent))
    send_directed(here, d, sig, info, nullptr);
  return sent;
}

// A process-directed signal that every green thread blocks now (a carrier's
// wait lets through what some thread took when it went to sleep) stays
// pending for the process, as natively, until a thread unblocks it: it is
// queued to the process again, and this OS thread blocks it from the
// handler's return (uc_sigmask) until its carrier next applies a mask
// (sigmask_changed_behind()).
void keep_pending(gh::Carrier* carrier, int sig, siginfo_t* info, void* uc) {
  auto* ctx = static_cast<ucontext_t*>(uc);
  sigaddset(&ctx->uc_sigmask, sig);
  // Blocked now too: under SA_NODEFER the copy would come straight back
  // into this handler.
  uint64_t bit = uint64_t{1} << (sig - 1);
  gh::sys_ret(SYS_rt_sigprocmask, SIG_BLOCK, &bit, nullptr, sizeof bit);
  uint64_t left = 0;
  std::memcpy(&left, &ctx->uc_sigmask, sizeof left);
  carrier->sigmask_changed_behind(left);
  if (info)
    queue_signal(0, sig, info);
  else
    gh::sys_ret(SYS_kill, gh::sys_ret(SYS_getpid), sig);
}

// A signal meant for green thread `thread` that cannot be placed now (the
// thread is between carriers): queued again to this OS thread for it, and
// blocked here from the handler's return until the carrier next sets a mask
// (as in keep_pending), so that it comes back after progress.
void keep_for_later(gh::Carrier* carrier, gh::GreenThread* thread, int sig, siginfo_t* info,
                    void* uc) {
  auto* ctx = static_cast<ucontext_t*>(uc);
  sigaddset(&ctx->uc_sigmask, sig);
  uint64_t bit = uint64_t{1} << (sig - 1);
  gh::sys_ret(SYS_rt_sigprocmask, SIG_BLOCK, &bit, nullptr, sizeof bit);
  uint64_t left = 0;
  std::memcpy(&left, &ctx->uc_sigmask, sizeof left);
  carrier->sigmask_changed_behind(left);
  send_directed(carrier, thread, sig, info, nullptr);
}

struct UserHandler {
  // The program's last function handler: never cleared once set, so that a
  // delivery that raced with a change of disposition still calls a function.
  std::atomic<void*> fn{nullptr};
  std::atomic<int> flags{0};
  std::atomic<uint64_t> mask{0};  // sa_mask (the kernel's 64 bits)
  // Whether the disposition is that function now (not SIG_DFL or SIG_IGN):
  // a signal the runtime delivers itself (to a parked thread) needs it.
  std::atomic<bool> installed{false};
};
UserHandler g_handlers[NSIG];

// A signal for a green thread that is not running: its handler runs on the
// thread's own stack, in a frame context below the thread's saved frame
// (gh::Carrier::make_frame), as the kernel runs a handler on the stack of
// the thread it interrupts (docs/design.md, "Handlers on the thread's own
// stack"). The record lies beside the frame context, on that stack.
struct Delivery {
  void* fn;
  int sig;
  int flags;
  bool has_info;
  siginfo_t info;
  ucontext_t uc;      // the interrupted thread's: its mask, the one restored after
  uintptr_t alt_top;  // the frame is on the thread's alternate stack, from here down
};

// One-shot (SA_RESETHAND): reset when it runs (the kernel's trampoline
// stays installed until then, so that a signal sent on to another carrier
// or kept pending still finds it). As the kernel does it: the handler only;
// flags and mask stay.
void reset_one_shot(int sig, int flags) {
  struct sigaction dfl {};
  if (real::sigaction(sig, nullptr, &dfl) == 0) {
    dfl.sa_handler = SIG_DFL;
    dfl.sa_flags = flags;
    sigaction_impl(sig, &dfl, nullptr);
  }
}

// The record of the program thread context g runs as, where its pending
// signals are kept (a root's is made on first use).
ShimThread* record_of(gh::GreenThread* g) {
  gh::GreenThread* t = g->thread();
  if (t->is_root()) return t->internal ? nullptr : root_record(t);
  auto* st = static_cast<ShimThread*>(t->user);
  return st && !st->root ? st : nullptr;
}

// The same, without making main's record (signal context: nothing is
// allocated); nullptr while it has none.
ShimThread* existing_record_of(gh::GreenThread* g) {
  gh::GreenThread* t = g->thread();
  if (t->internal) return nullptr;
  return static_cast<ShimThread*>(__atomic_load_n(&t->user, __ATOMIC_ACQUIRE));
}

// In the frame context, on the thread's stack and thread pointer: the
// handler, as a thread's code (hooks park this context, not the carrier),
// then the thread's mask from the handler's ucontext, and the interruption
// of the thread's wait (EINTR, or a restart under SA_RESTART).
void* run_in_frame(void* arg) {
  auto* d = static_cast<Delivery*>(arg);
  int saved_bypass = t_bypass;
  t_bypass = 0;
  uint64_t back = 0;
  bool restart = true;
  stack_t* alt = alt_stack_record_if_any(existing_record_of(gh::Carrier::current()->running()));
  stack_t alt_saved = alt ? alt_handler_enter(alt) : stack_t{};
  for (;;) {
    if (d->flags & SA_SIGINFO)
      reinterpret_cast<void (*)(int, siginfo_t*, void*)>(d->fn)(
          d->sig, d->has_info ? &d->info : nullptr, &d->uc);
    else
      reinterpret_cast<void (*)(int)>(d->fn)(d->sig);
    restart = restart && (d->flags & SA_RESTART);
    std::memcpy(&back, &d->uc.uc_sigmask, sizeof back);
    back &= ~gh::glibc::kInternalSignals;
    // A signal sent to the thread while this handler blocked it is
    // delivered as the handler returns, as the kernel does at sigreturn: it
    // runs here, where the kernel would have built its frame.
    ShimThread* st = record_of(gh::Carrier::current()->running());
    uint64_t ready = st ? st->pending_signals.load(std::memory_order_acquire) & ~back : 0;
    int sig = 0;
    for (; ready && !sig; ready &= ready - 1) {
      int s = __builtin_ctzll(ready) + 1;
      uint64_t bit = uint64_t{1} << (s - 1);
      if (!(st->pending_signals.fetch_and(~bit, std::memory_order_acq_rel) & bit)) continue;
      siginfo_t came = kept_info(st, s);
      if (g_handlers[s].installed.load(std::memory_order_acquire) &&
          g_handlers[s].fn.load(std::memory_order_acquire)) {
        sig = s;
        d->info = came;
      } else {  // no handler of its own now: the default action, or ignored
        real::pthread_kill(os_thread_handle(), s);
      }
    }
    if (!sig) break;
    const UserHandler& h = g_handlers[sig];
    d->fn = h.fn.load(std::memory_order_acquire);
    d->flags = h.flags.load(std::memory_order_relaxed);
    d->sig = sig;
    d->has_info = true;
    if (d->flags & SA_RESETHAND) reset_one_shot(sig, d->flags);
    uint64_t mask = back | h.mask.load(std::memory_order_relaxed) |
                    ((d->flags & SA_NODEFER) ? 0 : uint64_t{1} << (sig - 1));
    mask &= ~gh::glibc::kInternalSignals;
    gh::sys(SYS_rt_sigprocmask, SIG_SETMASK, &mask, nullptr, sizeof mask);
    gh::Carrier::current()->set_running_sigmask(mask);
    std::memset(&d->uc.uc_sigmask, 0, sizeof d->uc.uc_sigmask);
    std::memcpy(&d->uc.uc_sigmask, &back, sizeof back);
  }
  t_bypass = saved_bypass;
  if (alt) alt_handler_leave(alt, alt_saved, d->alt_top != 0);
  gh::Carrier* c = gh::Carrier::current();
  gh::GreenThread* x = c->running()->frame_of;
  if (!x) {
    // A child forked in the handler, returning from it: its runtime holds
    // only the forking context, and the thread the handler interrupted,
    // with the wait it was in, belongs to the parent.
    gh::log_error(
        "a child forked in a signal handler returned from it: the call the handler "
        "interrupted cannot resume in the child; exiting");
    gh::sys(SYS_exit_group, 127);
  }
  x->sigmask = back;
  c->signal_arrived(x, restart);
  return nullptr;
}

// Whether the program thread context g runs as has begun its start routine
// (a root has). Before, a signal for it stays pending.
bool thread_started(gh::GreenThread* g) {
  gh::GreenThread* t = g->thread();
  auto* st = static_cast<ShimThread*>(t->user);
  return t->is_root() || !st || st->root || st->started.load(std::memory_order_acquire);
}

// `x` is held (its on_cpu claimed by the caller) and not running. Returns
// whether the handler will run in a frame on x's stack.
// The registers of x where it stopped, for its handler's ucontext: at the
// return from its switch away, as natively a blocked thread stops in its
// system call. A kernel-made ucontext describes the carrier's OS thread,
// which ran something else; runtimes read the stack pointer (the extent of
// the stack a collector scans) and the instruction pointer (Mono retries a
// suspend that finds a thread at address 0, forever). The registers a call
// does not preserve are dead there: 0.
void set_stopped_registers(ucontext_t* uc, const gh::GreenThread* x) {
  const auto* sf = static_cast<const gh::SwitchFrame*>(x->sp);
  greg_t* r = uc->uc_mcontext.gregs;
  for (int k : {REG_RAX, REG_RCX, REG_RDX, REG_RSI, REG_RDI, REG_R8, REG_R9, REG_R10, REG_R11})
    r[k] = 0;
  r[REG_R15] = static_cast<greg_t>(sf->r15);
  r[REG_R14] = static_cast<greg_t>(sf->r14);
  r[REG_R13] = static_cast<greg_t>(sf->r13);
  r[REG_R12] = static_cast<greg_t>(sf->r12);
  r[REG_RBX] = static_cast<greg_t>(sf->rbx);
  r[REG_RBP] = static_cast<greg_t>(sf->rbp);
  r[REG_RIP] = static_cast<greg_t>(sf->rip);
  r[REG_RSP] = static_cast<greg_t>(reinterpret_cast<uintptr_t>(sf + 1));
  uc->__fpregs_mem.mxcsr = sf->mxcsr;
  uc->__fpregs_mem.cwd = sf->fpucw;
}

bool deliver_in_frame(gh::Carrier* carrier, gh::GreenThread* x, int sig, siginfo_t* info, void* uc,
                      void* fn, int flags, bool in_handler) {
  uint64_t bit = uint64_t{1} << (sig - 1);
  uint64_t mask = x->sigmask | g_handlers[sig].mask.load(std::memory_order_relaxed) |
                  ((flags & SA_NODEFER) ? 0 : bit);
  mask &= ~gh::glibc::kInternalSignals;
  void* rec = nullptr;
  // On the thread's alternate stack if the handler asked for it and there
  // is room there (else on its stack, as below), as the kernel would.
  stack_t* alt = alt_stack_record_if_any(existing_record_of(x));
  uintptr_t top = alt ? alt_frame_top(*alt, flags, reinterpret_cast<uintptr_t>(x->sp)) : 0;
  gh::GreenThread* f = top ? gh::Carrier::make_frame(x, mask, sizeof(Delivery), &rec,
                                                     reinterpret_cast<uintptr_t>(alt->ss_sp), top)
                           : nullptr;
  if (!f) {
    top = 0;
    f = gh::Carrier::make_frame(x, mask, sizeof(Delivery), &rec);
  }
  if (!f) return false;
  auto* d = static_cast<Delivery*>(rec);
  std::memset(d, 0, sizeof *d);
  d->alt_top = top;
  d->fn = fn;
  d->sig = sig;
  d->flags = flags;
  if (info) {
    d->info = *info;
    d->has_info = true;
  }
  if (uc) {
    const auto* src = static_cast<const ucontext_t*>(uc);
    std::memcpy(&d->uc, src, sizeof d->uc);
    if (src->uc_mcontext.fpregs)
      std::memcpy(&d->uc.__fpregs_mem, src->uc_mcontext.fpregs, sizeof d->uc.__fpregs_mem);
  }
  d->uc.uc_mcontext.fpregs = &d->uc.__fpregs_mem;
  set_stopped_registers(&d->uc, x);
  std::memset(&d->uc.uc_sigmask, 0, sizeof d->uc.uc_sigmask);
  std::memcpy(&d->uc.uc_sigmask, &x->sigmask, sizeof x->sigmask);
  f->entry = &run_in_frame;
  f->arg = d;
  if (in_handler)
    carrier->post_frame(f);
  else
    carrier->start_frame(f);
  return true;
}

// Where a signal for one target goes (trampoline): `done` when it was
// placed elsewhere (a frame on the target's stack, pending for it, sent on
// to the carrier it runs on, or kept for later); otherwise the handler runs
// here, as `target` (nullptr: as no thread in particular), which the
// trampoline holds if `claimed` (`borrowed`: held by the switch the handler
// interrupted, not to be let go).
struct Placement {
  gh::GreenThread* target = nullptr;
  bool claimed = false;
  bool borrowed = false;
  bool done = false;
};

void let_go(const Placement& p) {
  if (p.claimed && !p.borrowed) p.target->on_cpu.store(false, std::memory_order_release);
}

// Whether the code a handler interrupted ran on g's stack (as far as known:
// a root's bounds are known only in sanitizer builds).
bool on_own_stack(const gh::GreenThread* g, void* uc) {
  const gh::Stack& s = g->is_root() ? g->os_stack : g->stack;
  auto lo = reinterpret_cast<uintptr_t>(s.lo);
  auto sp = static_cast<uintptr_t>(static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RSP]);
  if (!lo || (sp >= lo && sp < lo + s.size)) return true;
  // Or in a handler of the program's that the kernel ran on the carrier's
  // alternate stack for it (a signal nested in a SA_ONSTACK handler).
  gh::Carrier* c = gh::Carrier::current();
  if (t_handler_depth == 0 || (c && c->switching())) return false;
  stack_t k{};
  if (gh::sys_ret(SYS_sigaltstack, nullptr, &k) != 0 || !k.ss_size) return false;
  auto alt = reinterpret_cast<uintptr_t>(k.ss_sp);
  return sp > alt && sp - alt <= k.ss_size;
}

// held: the caller holds target already (its on_cpu).
Placement place(gh::Carrier* carrier, int sig, siginfo_t* info, void* uc, void* fn, int flags,
                gh::GreenThread* target, bool directed, bool held = false) {
  Placement p;
  p.target = target;
  gh::GreenThread* run = carrier->signal_safe_running();
  uint64_t bit = sig <= 64 ? uint64_t{1} << (sig - 1) : 0;
  if (target && target == run && uc && (carrier->switching() || !on_own_stack(run, uc))) {
    // The carrier is switching to it but still on the stack it leaves.
    if (directed)
      keep_for_later(carrier, target->thread(), sig, info, uc);
    else
      keep_pending(carrier, sig, info, uc);
    p.done = true;
    return p;
  }
  if (!target || target == run) return p;
  // Run as a thread that is not running here: hold it (on_cpu) so that no
  // carrier resumes it meanwhile.
  bool idle = false;
  p.claimed = held || target->on_cpu.compare_exchange_strong(idle, true, std::memory_order_acq_rel);
  // Or this carrier has just switched away from it and not yet let go: it
  // is as held, by the switch this handler interrupted.
  if (!p.claimed && uc &&
      carrier->just_left(target, static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RSP]))
    p.claimed = p.borrowed = true;
  // Held by a signal frame, the thread runs no code of its own: the frame
  // on top of its stack takes the signal, as natively a handler is
  // interrupted by the next. Hand over hand: a frame ends only once the
  // context below it is free (Carrier::finish_frame).
  while (p.claimed && p.target->frame_top) {
    gh::GreenThread* f = p.target->frame_top;
    if (f == run) {
      let_go(p);
      p = Placement{};
      p.target = f;
      if (uc && !on_own_stack(f, uc)) {  // being switched to: later
        keep_for_later(carrier, f->thread(), sig, info, uc);
        p.done = true;
      }
      return p;  // a frame running here: as itself
    }
    bool f_idle = false;
    if (!f->on_cpu.compare_exchange_strong(f_idle, true, std::memory_order_acq_rel)) {
      // It runs on another carrier: the signal goes there, for the thread
      // (that carrier finds the frame again).
      gh::Carrier* there = f->current_carrier();
      gh::GreenThread* thread = p.target->thread();
      let_go(p);
      p = Placement{};
      p.target = thread;
      if (there != carrier && forward_signal(carrier, thread, sig, info, there)) p.done = true;
      break;
    }
    let_go(p);
    p.target = f;
    p.borrowed = false;
  }
  if (!p.claimed && !p.done) {
    // It runs on another carrier: the handler runs there, as it would
    // natively interrupt that thread.
    if (forward_signal(carrier, p.target, sig, info, p.target->current_carrier())) {
      p.done = true;
    } else if (directed && uc) {
      // Between carriers, or in a switch this handler interrupted: it comes
      // back here once this carrier sets a mask again (its next switch or
      // wait), when the thread has settled somewhere.
      keep_for_later(carrier, p.target->thread(), sig, info, uc);
      p.done = true;
    } else if (run && uc && (carrier->switching() || !on_own_stack(run, uc))) {
      // Process-directed, in a switch to `run` this handler interrupted: it
      // is not yet on its stack (nor its thread pointer, perhaps), so the
      // signal comes back at the next mask change, as above.
      keep_pending(carrier, sig, info, uc);
      p.done = true;
    } else {
      // Process-directed: the running thread takes it if it may.
      p.target = run && !run->internal && !(run->sigmask & bit) ? run : nullptr;
    }
    return p;
  }
  if (p.done) return p;
  if (bit && (!thread_started(p.target) || (p.target->sigmask & bit))) {
    // Not yet started (hook_thread.cc green_start raises it), or it (or
    // the handler on top of it) blocks the signal: pending for it alone,
    // until it unblocks it or that handler returns. (A root without a
    // record yet cannot get one here: it runs below, as before.)
    gh::GreenThread* t = p.target->thread();
    auto* st = static_cast<ShimThread*>(t->user);
    if (st && st->root == t->is_root()) {
      keep_signal(st, sig, info);
      let_go(p);
      p.done = true;
      return p;
    }
  }
  if (deliver_in_frame(carrier, p.target, sig, info, uc, fn, flags, true)) {
    // Counted (signal_arrived) when the handler has run.
    let_go(p);
    p.done = true;
  }
  return p;
}

// The program's handler fn for sig, run as `as`, where the kernel ran the
// trampoline: on the carrier's alternate stack (the runtime's) for a
// handler that asked for one (SA_ONSTACK), which stands for the thread's
// own (shim/alt_stack.h): sigaltstack reports it SS_ONSTACK there when the
// thread has one. What the kernel does to the thread's alternate stack
// around a delivery (SS_AUTODISARM; sigreturn's restore) is done to its
// record.
void call_handler(void* fn, int flags, int sig, siginfo_t* info, void* uc, ShimThread* as) {
  stack_t* rec =
      as && as != &g_root_self && gh::Carrier::current() ? alt_stack_record_if_any(as) : nullptr;
  stack_t saved{};
  bool on_alt = false;
  if (rec) {
    on_alt = (flags & SA_ONSTACK) && rec->ss_size;
    saved = alt_handler_enter(rec);
  }
  bool was_on_alt = t_handler_on_alt;
  t_handler_on_alt = on_alt && !(saved.ss_flags & static_cast<int>(kSsAutoDisarm));
  if (flags & SA_SIGINFO)
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(fn)(sig, info, uc);
  else
    reinterpret_cast<void (*)(int)>(fn)(sig);
  t_handler_on_alt = was_on_alt;
  if (rec) alt_handler_leave(rec, saved, on_alt);
}

void trampoline(int sig, siginfo_t* info, void* uc) {
  const UserHandler& h = g_handlers[sig];
  void* fn = h.fn.load(std::memory_order_acquire);
  int flags = h.flags.load(std::memory_order_relaxed);
  // A signal sent to a green thread with pthread_kill runs its handler as
  // that thread: pthread_self() there names the target.
  // A process-directed signal runs its handler as the green thread the
  // kernel would have picked, which is also the one whose wait it ends.
  // With exact TLS the handler also runs on that thread's thread pointer,
  // so it sees that thread's thread-locals (and errno). A thread that is
  // not running gets it on its own stack (a frame: deliver_in_frame).
  gh::Carrier* carrier = gh::Carrier::current();
  Placement run_as;
  bool tagged = info && info->si_code == kDirectedCode;
  gh::GreenThread* rt_target = nullptr;
  if (tagged) {  // send_directed's: the program sees the siginfo it sent
    info->si_code = info->si_errno;
    info->si_errno = 0;
    if (sig >= kFirstRealtime) rt_target = take_target(info);
  }
  // A synchronous signal belongs to the thread that caused it: the running
  // one. Faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS raised by
  // the kernel for an instruction): runtimes rely on it (a JVM's null checks
  // and safepoints).
  bool synchronous = info && info->si_code > 0 &&
                     (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
                      sig == SIGTRAP || sig == SIGSYS);
  // So does the SIGPIPE (SIGXFSZ) the kernel raises for a write to a closed
  // pipe or socket (past the file size limit): it is directed at the
  // writing thread, and its siginfo is a kill() from our own pid.
  if (!synchronous && (sig == SIGPIPE || sig == SIGXFSZ) && info && info->si_code == SI_USER &&
      info->si_pid == static_cast<pid_t>(gh::sys(SYS_getpid)))
    synchronous = true;
  if (carrier && synchronous && is_fault_signal(sig)) report_overflow(sig, info, uc);
  if (carrier && synchronous) {
    run_as.target = carrier->signal_safe_running();
  } else if (carrier) {
    // Every green thread this signal was sent to here (the kernel merges
    // one signal sent to this OS thread for several into one delivery).
    gh::GreenThread* targets[gh::Carrier::kSignalSlots + 1];
    int n = 0;
    if (rt_target)  // one instance of a real-time signal: for its own target
      targets[n++] = rt_target;
    else if (!tagged || sig < kFirstRealtime)
      n = carrier->take_signal_targets(sig, targets);
    // Its target went with an earlier delivery (the kernel merged that
    // one's signal into this): nothing left to do.
    if (n == 0 && tagged) return;
    bool directed = n > 0;  // pthread_kill, or sent on from another carrier
    bool held_already = false, taker_runs = false;
    if (!directed) {
      targets[0] = carrier->process_signal_target(sig);
      // None here (main, the running thread, this carrier's interruptible
      // waits): one waiting elsewhere, as the kernel would pick any thread
      // that does not block it; one that runs elsewhere gets it from the
      // kernel once this OS thread blocks it (below).
      if (!targets[0]) {
        targets[0] = registry_thread_taking(sig, &taker_runs);
        held_already = targets[0] != nullptr;
      }
      n = 1;
    }
    for (int k = 0; k < n; k++)
      if (targets[k]) targets[k] = targets[k]->thread();  // place() finds its frames
    bool have = false;
    bool placed_any = false;
    for (int k = 0; k < n; k++) {
      Placement p =
          place(carrier, sig, info, uc, fn, flags, targets[k], directed, k == 0 && held_already);
      if (p.done) {
        placed_any = true;
        continue;
      }
      if (!have) {
        run_as = p;
        have = true;
      } else if (uc && p.target) {
        // One handler runs here per delivery: the next one comes back.
        let_go(p);
        keep_for_later(carrier, p.target->thread(), sig, info, uc);
      } else {
        let_go(p);
      }
    }
    if (!have) {
      if (placed_any && (flags & SA_RESETHAND)) reset_one_shot(sig, flags);
      return;
    }
    if (!run_as.target && uc && sig <= 64 &&
        (taker_runs || (carrier->pool()->blocked_by_all() & (uint64_t{1} << (sig - 1))))) {
      // Every thread blocks it now. (When some thread takes it but none
      // that can run the handler here, it runs here: as a thread that is
      // not the target, but it runs.)
      keep_pending(carrier, sig, info, uc);
      return;
    }
  }
  if (flags & SA_RESETHAND) reset_one_shot(sig, flags);
  gh::GreenThread* target = run_as.target;
  ShimThread* as = nullptr;
  if (target) {
    auto* st = static_cast<ShimThread*>(target->thread()->user);
    as = st ? st : &g_root_self;
  }
  void* own_tp = gh::arch::thread_pointer();
  void* run_tp = target && target->tp ? target->tp : own_tp;
  if (run_tp != own_tp) gh::arch::set_thread_pointer(run_tp);
  {
    // Undone also if the handler never returns because its thread is
    // cancelled in it (it unwinds through here; shim/cancel.h).
    // Restored, not decremented: a handler that forks leaves its child
    // with no handler running (forget_handlers_after_fork).
    struct HandlerScope {
      ShimThread* saved = t_signal_self;
      int saved_bypass = t_bypass;
      int saved_depth = t_handler_depth;
      HandlerScope(ShimThread* as) {
        if (saved_depth < kHandlerEntries) {
          HandlerEntry& e = t_handler_entries[saved_depth];
          e = HandlerEntry{saved,
                           saved_bypass,
                           t_handler_on_alt,
                           reinterpret_cast<uintptr_t>(__builtin_frame_address(0)),
                           0,
                           0};
          stack_t k{};
          if (gh::sys_ret(SYS_sigaltstack, nullptr, &k) == 0 && (k.ss_flags & SS_ONSTACK)) {
            e.alt_lo = reinterpret_cast<uintptr_t>(k.ss_sp);
            e.alt_hi = e.alt_lo + k.ss_size;
          }
        }
        if (as) t_signal_self = as;
        t_bypass++;
        t_handler_depth++;
      }
      ~HandlerScope() {
        t_bypass = saved_bypass;
        t_handler_depth = saved_depth;
        t_signal_self = saved;
      }
    } scope(as);
    call_handler(fn, flags, sig, info, uc, as);
  }
  if (run_tp != own_tp) gh::arch::set_thread_pointer(own_tp);
  // A synchronous signal interrupts no wait: its thread was running. Counted
  // while the target is still held: its next wait begins after the count.
  if (carrier && !synchronous) carrier->signal_arrived(target, flags & SA_RESTART);
  let_go(run_as);
}

}  // namespace

namespace gh::shim {
bool handler_on_alt_stack() { return t_handler_on_alt; }

bool program_has_async_handlers() {
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP ||
        sig == SIGSYS)
      continue;
    if (sig == kOffloadInterruptSignal || sig == dump_signal()) continue;
    struct sigaction cur;
    if (real::sigaction(sig, nullptr, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == &trampoline)
      return true;
  }
  return false;
}
}  // namespace gh::shim

namespace {

// The kernel decides by the handler's value alone: SA_SIGINFO with SIG_DFL
// or SIG_IGN is the default action or ignored (made a function, its null
// was called).
bool is_function(const struct sigaction& sa) {
  return sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
}

void* handler_of(const struct sigaction& sa) {
  return (sa.sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(sa.sa_sigaction)
                                    : reinterpret_cast<void*>(sa.sa_handler);
}

}  // namespace

int gh::shim::sigaction_impl(int sig, const struct sigaction* act, struct sigaction* oact) {
  ensure_real();
  if (!threads_green() || sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
    return real::sigaction(sig, act, oact);
  if (sig == kOffloadInterruptSignal) return ret_errno(-EINVAL);  // the runtime's (below)
  struct sigaction want;
  if (act && copy_from_user(&want, act, sizeof want) != 0) {
    errno = EFAULT;
    return -1;
  }
  if (sig == dump_signal()) {
    // GREENHOUSE_DUMP_SIGNAL: the runtime's. What the program sets is kept,
    // to be reported back, but not installed (docs/usage.md).
    static struct sigaction program;  // SIG_DFL until set
    static gh::SpinLock lock;
    gh::SpinGuard guard(lock);
    if (oact && copy_to_user(oact, &program, sizeof program) != 0) return ret_errno(-EFAULT);
    if (act) program = want;
    return 0;
  }
  UserHandler& h = g_handlers[sig];
  void* prev_fn = h.fn.load(std::memory_order_acquire);
  int prev_flags = h.flags.load(std::memory_order_relaxed);
  int prev_dfl_flags = fault_flags(sig);
  struct sigaction install;
  const struct sigaction* to_kernel = nullptr;
  if (act) {
    install = want;
    if (is_function(want)) {
      uint64_t sa_mask = 0;
      std::memcpy(&sa_mask, &want.sa_mask, sizeof sa_mask);
      h.mask.store(sa_mask, std::memory_order_relaxed);
      h.flags.store(want.sa_flags, std::memory_order_relaxed);
      h.fn.store(handler_of(want), std::memory_order_release);
      install.sa_sigaction = &trampoline;
      install.sa_flags |= SA_SIGINFO;
      // The trampoline resets a one-shot handler when it runs it, not the
      // kernel when it delivers to the trampoline (see there).
      install.sa_flags &= ~SA_RESETHAND;
      // A stack overflow leaves no stack to run the handler on
      // (shim/stack_overflow.h).
      if (is_fault_signal(sig)) install.sa_flags |= SA_ONSTACK;
    } else if (is_fault_signal(sig) && want.sa_handler == SIG_DFL) {
      // The runtime's handler stands in to report stack overflows, then
      // takes the default action.
      set_fault_flags(sig, want.sa_flags);
      install.sa_sigaction = &default_fault_handler;
      install.sa_flags = SA_SIGINFO | SA_ONSTACK;
    }
    to_kernel = &install;
  }
  struct sigaction old;
  int r = real::sigaction(sig, to_kernel, &old);
  if (r != 0) {
    if (act && is_function(want)) {  // put the table back as it was
      h.flags.store(prev_flags, std::memory_order_relaxed);
      h.fn.store(prev_fn, std::memory_order_release);
    }
    if (act) set_fault_flags(sig, prev_dfl_flags);
    return r;
  }
  // SIG_DFL or SIG_IGN now: a handler of the table's must no longer run (a
  // signal for a parked thread is delivered from the table, not the kernel).
  if (act) h.installed.store(is_function(want), std::memory_order_release);
  if (oact) {
    if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == &default_fault_handler) {
      // Report what the program set (or had): SIG_DFL, with its flags.
      old.sa_flags = prev_dfl_flags;
      old.sa_handler = SIG_DFL;
    }
    if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == &trampoline) {
      // Report the program's own handler, not the trampoline.
      old.sa_flags = prev_flags;
      if (prev_flags & SA_SIGINFO)
        old.sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(prev_fn);
      else
        old.sa_handler = reinterpret_cast<void (*)(int)>(prev_fn);
    }
    if (copy_to_user(oact, &old, sizeof old) != 0) {
      errno = EFAULT;
      return -1;
    }
  }
  return 0;
}

namespace gh::shim {
int signal_parked_thread(gh::GreenThread* t, int sig, bool may_yield, const siginfo_t* came) {
  if (sig < 1 || sig > 64) return 0;
  const UserHandler& h = g_handlers[sig];
  void* fn = h.fn.load(std::memory_order_acquire);
  int flags = h.flags.load(std::memory_order_relaxed);
  gh::Carrier* c = gh::Carrier::current();
  // The default action or ignored: the kernel's.
  if (!fn || !h.installed.load(std::memory_order_acquire) || !c) return 0;
  // Hold it; held by a signal frame, the frame on top takes it (hand over
  // hand, as in the trampoline).
  uint64_t bit = uint64_t{1} << (sig - 1);
  bool idle = false;
  if (!t->on_cpu.compare_exchange_strong(idle, true, std::memory_order_acq_rel)) return 0;
  while (gh::GreenThread* f = t->frame_top) {
    bool f_idle = false;
    if (!f->on_cpu.compare_exchange_strong(f_idle, true, std::memory_order_acq_rel)) {
      // A handler runs for it. If that handler blocks the signal, the
      // signal waits until it returns (run_in_frame raises it then);
      // otherwise it goes the kernel's way, to the handler's carrier.
      int done = 0;
      if (f->sigmask & bit) {
        if (ShimThread* st = record_of(t)) {
          keep_signal(st, sig, came);
          done = 1;
        }
      }
      t->on_cpu.store(false, std::memory_order_release);
      return done;
    }
    t->on_cpu.store(false, std::memory_order_release);
    t = f;
  }
  int done = 0;
  bool yield_after = false;
  if (!thread_started(t) || (t->sigmask & bit)) {
    // Blocked (or not yet started): pending for the thread alone.
    if (ShimThread* st = record_of(t)) {
      keep_signal(st, sig, came);
      done = 1;
    }
  } else {
    siginfo_t info = came ? *came : tkill_info(sig);
    if (deliver_in_frame(c, t, sig, &info, nullptr, fn, flags, false)) {
      yield_after = may_yield;
      if (flags & SA_RESETHAND) reset_one_shot(sig, flags);
      done = 1;
    }
  }
  t->on_cpu.store(false, std::memory_order_release);
  // Natively the handler runs at once (the woken thread preempts the sender
  // on a busy CPU): the sender lets it go first.
  if (yield_after && !c->running()->internal) c->yield();
  return done;
}
}  // namespace gh::shim

namespace gh::shim {
// Carrier::set_frame_end_hook: signals sent to x while the frame on top of
// it blocked them, and that x itself does not block, go to x now (a frame
// that ended before it saw them did not run them).
void after_frame(gh::GreenThread* x) {
  ShimThread* st = record_of(x);
  if (!st) return;
  uint64_t ready = st->pending_signals.load(std::memory_order_acquire) & ~x->sigmask;
  for (; ready; ready &= ready - 1) {
    int sig = __builtin_ctzll(ready) + 1;
    uint64_t bit = uint64_t{1} << (sig - 1);
    if (!(st->pending_signals.fetch_and(~bit, std::memory_order_acq_rel) & bit)) continue;
    siginfo_t came = kept_info(st, sig);
    if (signal_parked_thread(x, sig, false, &came)) continue;
    // It runs already (or has no room for a frame): the kernel's way.
    if (gh::GreenThread* d = send_directed(x->current_carrier(), x->thread(), sig, &came, nullptr))
      send_directed(d->current_carrier(), d, sig, &came, nullptr);
  }
}
}  // namespace gh::shim

// Each green thread has its own signal mask (core applies it on switches).
namespace gh::shim {
bool bypass_is_handlers_only() { return t_bypass != 0 && t_bypass == t_handler_depth; }

void raise_unblocked_pending(ShimThread* st, uint64_t mask) {
  uint64_t ready = st->pending_signals.load(std::memory_order_acquire) & ~mask;
  for (int sig = 1; ready && sig <= 64; sig++) {
    uint64_t bit = uint64_t{1} << (sig - 1);
    if (!(ready & bit)) continue;
    ready &= ~bit;
    // Every instance (kept_info sets the bit again while a real-time signal
    // has more), in order: the kernel queues them on this OS thread.
    while (st->pending_signals.fetch_and(~bit, std::memory_order_acq_rel) & bit) {
      siginfo_t came = kept_info(st, sig);
      // Delivered once this OS thread's mask lets it through: now, or when
      // the caller's mask change (or call) does.
      gh::Carrier* c = gh::Carrier::current();
      if (st->g && c) {
        if (gh::GreenThread* d = send_directed(c, st->g->thread(), sig, &came, nullptr))
          send_directed(d->current_carrier(), d, sig, &came, nullptr);
      } else {
        gh::sys(SYS_rt_tgsigqueueinfo, gh::sys(SYS_getpid), gh::sys(SYS_gettid), sig, &came);
      }
    }
  }
}
}  // namespace gh::shim

namespace gh::shim {
CallMask::CallMask(const sigset_t* set) {
  gh::Carrier* c = gh::Carrier::current();
  if (!set || !c || !threads_green() || t_bypass) return;
  uint64_t want = 0;
  if (copy_from_user(&want, set, sizeof want) != 0) return;  // the call fails with EFAULT
  old_ = c->running()->sigmask;
  // The thread takes what either mask lets through: what the call's mask
  // unblocks ends the call with its handler, and what only the call blocks
  // arrives as the call returns, once the kernel has put the thread's own
  // mask back, with the handler still running inside this scope. (With the
  // call's mask alone, such a signal was put back as pending and blocked,
  // again at each call, and a loop of these calls never ran its handler.)
  c->set_running_sigmask(want & old_);
  on_ = true;
  // Signals kept pending for the thread that this mask lets through come
  // now; the OS thread's mask holds them until the call sets this one.
  if (ShimThread* st = shim_self()) raise_unblocked_pending(st, want);
}

CallMask::~CallMask() {
  if (!on_) return;
  int saved = errno;
  if (gh::Carrier* c = gh::Carrier::current()) {
    bool kept = c->behind_since() != 0;
    c->set_running_sigmask(old_);
    // A signal kept for later during the call changed the OS thread's mask
    // behind the carrier's back (keep_pending): the next switch sets it
    // again. (Only then: marked after every call, the carrier would be
    // kicked for nothing, and a blocking call got EINTR.)
    if (kept) {
      uint64_t now = 0;
      gh::sys_ret(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &now, sizeof now);
      c->sigmask_changed_behind(now);
    }
  }
  errno = saved;
}
}  // namespace gh::shim

namespace {
void note_mask() {
  gh::Carrier* c = gh::Carrier::current();
  // Inside a signal handler the change lasts until the handler returns (the
  // kernel restores the mask): it is not the green thread's.
  if (!c || !threads_green() || t_bypass) return;
  uint64_t cur = 0;
  gh::sys(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &cur, sizeof cur);
  c->set_running_sigmask(cur);
  if (ShimThread* st = shim_self()) raise_unblocked_pending(st, cur);
}

// Before a mask change that unblocks signals: a signal pending on the OS
// thread (or the process) is delivered the moment the kernel mask lets it,
// before the call returns, and the trampoline must already see the thread
// taking it. The record holds the bits both masks block until note_mask()
// sets the new mask.
void note_mask_before(int how, const sigset_t* set) {
  gh::Carrier* c = gh::Carrier::current();
  if (!c || !threads_green() || t_bypass) return;
  // Read as glibc's pthread_sigmask reads it (a bad pointer faults there).
  uint64_t want = 0;
  std::memcpy(&want, set, sizeof want);
  uint64_t old = c->running()->sigmask;
  if (how == SIG_BLOCK)
    want |= old;
  else if (how == SIG_UNBLOCK)
    want = old & ~want;
  else if (how != SIG_SETMASK)
    return;  // EINVAL follows
  if (!(old & ~want)) return;
  c->set_running_sigmask(old & want);
  // Signals kept pending for the thread that the change unblocks go to
  // this OS thread now, while its mask still holds them: the change then
  // delivers them all before it returns, as natively, nested the kernel's
  // way (the highest-numbered handler first, unless the handlers block the
  // others) and every instance of a real-time signal in turn.
  if (ShimThread* st = shim_self()) raise_unblocked_pending(st, ~(old & ~want));
}
}  // namespace

GH_EXPORT int sigpending(sigset_t* set) {
  ensure_real();
  int r = real::sigpending(set);
  if (r == 0 && threads_green() && gh::Carrier::current()) {
    if (ShimThread* st = shim_self()) {
      uint64_t p = st->pending_signals.load(std::memory_order_acquire);
      for (int sig = 1; p && sig <= 64; sig++)
        if (p & (uint64_t{1} << (sig - 1))) sigaddset(set, sig);
    }
  }
  return r;
}

GH_EXPORT int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  ensure_real();
  if (set) note_mask_before(how, set);
  int r = real::pthread_sigmask(how, set, old);
  if (r == 0 && set) note_mask();
  return r;
}

int gh::shim::sigprocmask_impl(int how, const sigset_t* set, sigset_t* old) {
  ensure_real();
  if (set) note_mask_before(how, set);
  int r = real::sigprocmask(how, set, old);
  if (r == 0 && set) note_mask();
  return r;
}

GH_EXPORT int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  return sigprocmask_impl(how, set, old);
}

GH_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* oact) {
  return sigaction_impl(sig, act, oact);
}

GH_EXPORT int __sigaction(int sig, const struct sigaction* act, struct sigaction* oact) {
  return sigaction_impl(sig, act, oact);
}

// ---- sigwait, sigwaitinfo, sigtimedwait ----
//
// The wait happens on a signalfd for the set, polled in the ring, so only the
// waiting green thread parks. As natively, the signals must be blocked to be
// waited for (a signal that is not blocked runs its disposition instead).

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>

#include "core/clock.h"
#include "ioring/ops.h"

namespace {

// Returns the signal number (>0) with *info filled, or -errno.
int green_sigwait(const sigset_t* set, siginfo_t* info, int64_t deadline) {
  sigset_t s;
  if (copy_from_user(&s, set, sizeof s) != 0) return -EFAULT;
  long fd = gh::sys_ret(SYS_signalfd4, -1, &s, _NSIG / 8, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return static_cast<int>(fd);
  int result;
  gh::io::RestartScope never_restarted(false);
  ShimThread* me = shim_self();
  // Handlers run for this thread so far: one that runs later ends the call
  // with EINTR, also between two slices of the wait below (its interrupt
  // may reach the thread late, from a carrier serving a stuck one, when
  // the slice it was for is over).
  gh::GreenThread* g = gh::self();
  const uint32_t since = g ? g->handlers_ran.load(std::memory_order_acquire) : 0;
  for (;;) {
    // A signal pending for this green thread alone (see pthread_kill).
    uint64_t mine = me ? me->pending_signals.load(std::memory_order_acquire) : 0;
    int hit = 0;
    for (int sig = 1; mine && sig <= 64 && !hit; sig++) {
      uint64_t bit = uint64_t{1} << (sig - 1);
      if ((mine & bit) && sigismember(&s, sig) == 1 &&
          (me->pending_signals.fetch_and(~bit, std::memory_order_acq_rel) & bit))
        hit = sig;
    }
    if (hit) {
      siginfo_t out = kept_info(me, hit);
      // glibc's sigtimedwait reports a tkill's SI_TKILL as SI_USER.
      if (out.si_code == SI_TKILL) out.si_code = SI_USER;
      if (info) {
        if (copy_to_user(info, &out, sizeof out) != 0) {
          result = -EFAULT;
          break;
        }
      }
      result = hit;
      break;
    }
    signalfd_siginfo si;
    long n = gh::sys_ret(SYS_read, fd, &si, sizeof si);
    if (n == static_cast<long>(sizeof si)) {
      if (info) {
        siginfo_t out = siginfo_from_signalfd(si);
        if (out.si_code == SI_TKILL) out.si_code = SI_USER;
        if (copy_to_user(info, &out, sizeof out) != 0) {
          result = -EFAULT;
          break;
        }
      }
      result = static_cast<int>(si.ssi_signo);
      break;
    }
    if (n < 0 && n != -EAGAIN) {
      result = static_cast<int>(n);
      break;
    }
    if (g && g->handlers_ran.load(std::memory_order_acquire) != since) {
      result = -EINTR;
      break;
    }
    // Wait on the signalfd; look at this thread's own pending set again
    // every 10 ms (pthread_kill of a blocked signal does not touch the fd).
    int64_t slice = gh::deadline_after(10'000'000);
    bool last = deadline >= 0 && deadline <= slice;
    int ev = gh::io::poll(static_cast<int>(fd), POLLIN, last ? deadline : slice);
    if (ev == -ETIME) {
      if (!last) continue;
      result = -EAGAIN;  // sigtimedwait's timeout
      break;
    }
    if (ev < 0) {
      result = ev;
      break;
    }
  }
  gh::sys(SYS_close, fd);
  return result;
}

}  // namespace

GH_EXPORT int sigtimedwait(const sigset_t* set, siginfo_t* info, const timespec* tmo) {
  CancelPoint cp;
  ensure_real();
  if (!may_park()) return cp.done(real::sigtimedwait(set, info, tmo));
  int64_t deadline = gh::kNoDeadline;
  if (tmo) {
    timespec ts;
    if (copy_from_user(&ts, tmo, sizeof ts) != 0) return cp.done(ret_errno(-EFAULT));
    if (!gh::valid_interval(ts)) return cp.done(ret_errno(-EINVAL));
    deadline = gh::deadline_after(gh::timespec_ns(ts));
  }
  return cp.done(ret_errno(green_sigwait(set, info, deadline)));
}

GH_EXPORT int sigwaitinfo(const sigset_t* set, siginfo_t* info) {
  CancelPoint cp;
  return cp.done(sigtimedwait(set, info, nullptr));
}

GH_EXPORT int sigwait(const sigset_t* set, int* sig) {
  // sigwait reports errors as its return value, never EINTR.
  for (;;) {
    int r = sigtimedwait(set, nullptr, nullptr);
    if (r > 0) {
      *sig = r;
      return 0;
    }
    if (errno != EINTR) return errno;
  }
}

// pause and sigsuspend wait only for a signal handler to run: the green
// thread parks in an interruptible wait that only a handler ends (run for
// this thread: thread-directed, or a process-directed signal the kernel would
// have given it), and returns -1 with EINTR as natively.
namespace {
// handlers_since: the thread's GreenThread::handlers_ran from before a mask
// change that may already have run a handler; nullptr: from now.
int wait_for_handler(const uint32_t* handlers_since) {
  while (gh::sleep_until_interruptible(gh::kNoDeadline, handlers_since) != -EINTR) {
  }
  errno = EINTR;
  return -1;
}
}  // namespace

GH_EXPORT int pause(void) {
  CancelPoint cp;
  if (!may_park()) return cp.done(real::pause());
  return cp.done(wait_for_handler(nullptr));
}

int gh::shim::sigsuspend_impl(const sigset_t* mask) {
  CancelPoint cp;
  if (!may_park()) {
    CallMask m(mask);
    return cp.done(real::sigsuspend(mask));
  }
  sigset_t want, old;
  if (copy_from_user(&want, mask, sizeof want) != 0) return cp.done(ret_errno(-EFAULT));
  // The mask is the thread's own while it waits; a signal it unblocks that is
  // already pending runs its handler here, which ends the wait at once.
  uint32_t since = gh::self()->handlers_ran.load(std::memory_order_acquire);
  pthread_sigmask(SIG_SETMASK, &want, &old);
  int r = wait_for_handler(&since);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = EINTR;
  return cp.done(r);
}

GH_EXPORT int sigsuspend(const sigset_t* mask) { return sigsuspend_impl(mask); }

// ---- The offload pool's interrupt signal ----
// The runtime takes the highest real-time signal for itself, as glibc takes
// the lowest two: SIGRTMAX, which programs read through
// __libc_current_sigrtmax(), is one lower under the shim, and the program
// cannot install a handler for the reserved signal (EINVAL, as for glibc's).

namespace {
// On an offload thread: nothing (its call returns EINTR, which is the point).
// On a carrier running a green thread with an asynchronous cancellation
// pending: that cancellation (shim/cancel.h). On a carrier the hog report
// asked (shim/report.h): its backtrace.
void interrupt_handler(int, siginfo_t*, void* uc) {
  cancel_async_here(uc);
  hog_capture_here(uc);
  // The monitor's kick (gh::Carrier::set_remask_signal): not into a
  // program's handler, whose mask the kernel restores itself.
  if (gh::Carrier* c = gh::Carrier::current(); c && t_handler_depth == 0) c->remask_here(uc);
}
}  // namespace

namespace gh::shim {
namespace {
std::atomic<bool> g_interrupt_installed{false};
}  // namespace

bool offload_interrupt_installed() { return g_interrupt_installed.load(std::memory_order_acquire); }

int install_offload_interrupt() {
  struct sigaction sa {};
  sa.sa_sigaction = &interrupt_handler;
  // No SA_RESTART: the offload thread's call returns EINTR. On the runtime's
  // alternate stack: the hog report interrupts a thread that may be deep in
  // its own.
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigfillset(&sa.sa_mask);
  if (real::sigaction(kOffloadInterruptSignal, &sa, nullptr) != 0) return 0;
  gh::Carrier::set_remask_signal(kOffloadInterruptSignal);
  note_runtime_text();
  g_interrupt_installed.store(true, std::memory_order_release);
  return kOffloadInterruptSignal;
}
}  // namespace gh::shim

namespace gh::shim {
void forget_handlers_after_fork() {
  t_bypass -= t_handler_depth;
  t_handler_depth = 0;
}
}  // namespace gh::shim

// ---- glibc's SIGSETXID handler ----
//
// setuid() and the other set*id calls change the credentials of every OS
// thread: glibc marks each thread it knows (the runtime's carriers and
// helpers, main), sends it SIGSETXID, and waits until every handler has made
// the system call and cleared the mark in its thread's descriptor, which it
// finds through the thread pointer. On a carrier that is running a green
// thread, that is the green thread's descriptor: the carrier's own mark
// would stay set and glibc would signal it again and again. The wrapper runs
// glibc's handler on the carrier's own thread pointer.

namespace {
using SigInfoHandler = void (*)(int, siginfo_t*, void*);
std::atomic<SigInfoHandler> g_glibc_setxid{nullptr};

// The kernel's struct sigaction (glibc refuses sigaction() on its signals).
struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

void setxid_on_own_descriptor(int sig, siginfo_t* info, void* uc) {
  SigInfoHandler fn = g_glibc_setxid.load(std::memory_order_acquire);
  if (!fn) return;
  void* cur = gh::arch::thread_pointer();
  void* own = os_descriptor();
  if (own != cur) gh::arch::set_thread_pointer(own);
  fn(sig, info, uc);
  if (own != cur) gh::arch::set_thread_pointer(cur);
}
}  // namespace

namespace gh::shim {
void wrap_setxid_handler() {
  KernelSigaction cur{};
  int sig = gh::glibc::kSigSetxid;
  if (gh::sys_ret(SYS_rt_sigaction, sig, nullptr, &cur, sizeof(uint64_t)) != 0) return;
  auto* ours = reinterpret_cast<void*>(&setxid_on_own_descriptor);
  // Not installed yet (glibc does it at its first pthread_create), or ours.
  if (cur.handler == ours || !(cur.flags & SA_SIGINFO) ||
      reinterpret_cast<uintptr_t>(cur.handler) <= 1)
    return;
  g_glibc_setxid.store(reinterpret_cast<SigInfoHandler>(cur.handler), std::memory_order_release);
  cur.handler = ours;
  gh::sys_ret(SYS_rt_sigaction, sig, &cur, nullptr, sizeof(uint64_t));
}
}  // namespace gh::shim

GH_EXPORT int __libc_current_sigrtmax(void) {
  ensure_real();
  int max = real::__libc_current_sigrtmax();
  return threads_green() && max == kOffloadInterruptSignal ? max - 1 : max;
}

// ---- siglongjmp out of a handler ----
//
// A handler that siglongjmps back into its thread's code (a JIT's or a
// garbage collector's SIGSEGV handler, a recovery from a stack overflow)
// never returns through the trampoline, which would put the hooks' state
// back: the thread would go on with every hook passing through, as in a
// handler. So the jumps are hooked: one that leaves handlers (its stack
// pointer is off the alternate stack a handler ran on, or above where it
// began) restores what each of them set aside.

namespace {

// The stack pointer a glibc jmp_buf holds (mangled with the pointer guard:
// rotated left by 17 after an xor, x86-64's PTR_MANGLE).
uintptr_t jmp_buf_sp(const void* env) {
  constexpr int kJbRsp = 6;
  uintptr_t mangled = static_cast<const uintptr_t*>(env)[kJbRsp];
  uintptr_t guard = *reinterpret_cast<const uintptr_t*>(
      static_cast<const char*>(gh::arch::thread_pointer()) + gh::glibc::kTcbPointerGuard);
  return ((mangled >> 17) | (mangled << 47)) ^ guard;
}

// Returns whether the jump leaves a handler.
bool leave_handlers_for(const void* env) {
  if (t_handler_depth == 0) return false;
  int depth = t_handler_depth;
  uintptr_t sp = jmp_buf_sp(env);
  while (t_handler_depth > 0 && t_handler_depth <= kHandlerEntries) {
    const HandlerEntry& e = t_handler_entries[t_handler_depth - 1];
    bool leaves = e.alt_hi ? (sp < e.alt_lo || sp >= e.alt_hi) : sp > e.sp;
    if (!leaves) break;
    t_signal_self = e.self;
    t_bypass = e.bypass;
    t_handler_on_alt = e.on_alt;
    t_handler_depth--;
  }
  return t_handler_depth != depth;
}

// Before a jump (env, a struct __jmp_buf_tag): the mask the thread goes on
// with is its own from then on, as the pthread_sigmask hook records it. A
// jump that restores a saved mask (sigsetjmp(env, 1)) sets it through the
// hook (glibc's own setting of it, next, reaches no hook); one out of a
// handler that does not keeps the handler's mask, natively too.
void before_jump(struct __jmp_buf_tag* env) {
  bool left = leave_handlers_for(env);
  if (t_bypass) return;
  if (env->__mask_was_saved)
    sigprocmask_impl(SIG_SETMASK, &env->__saved_mask, nullptr);
  else if (left)
    note_mask();
}

}  // namespace

GH_EXPORT void siglongjmp(sigjmp_buf env, int val) {
  ensure_real();
  before_jump(env);
  real::siglongjmp(env, val);
  __builtin_unreachable();
}

GH_EXPORT void longjmp(jmp_buf env, int val) {
  ensure_real();
  before_jump(env);
  real::longjmp(env, val);
  __builtin_unreachable();
}

GH_EXPORT void _longjmp(jmp_buf env, int val) {
  ensure_real();
  before_jump(env);
  real::_longjmp(env, val);
  __builtin_unreachable();
}

GH_EXPORT void __longjmp_chk(jmp_buf env, int val) {
  ensure_real();
  before_jump(env);
  real::__longjmp_chk(env, val);
  __builtin_unreachable();
}
